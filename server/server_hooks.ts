/**
 * Where a cluster plugs into one chat server (`server/cluster/`), so that the server itself
 * knows nothing of NATS: the offline delivery it uses (the cluster's orders every room's
 * changes on every server), and the sessions that live on other servers (for direct messages,
 * direct key packages and lookups). Without hooks the server is the embedded single server.
 *
 * @module
 */

import type { ErrorCode } from "../protocol/errors.ts";
import type { OfflineContext, OfflineDelivery, OfflineOptions } from "./offline.ts";
import type { Session } from "./session.ts";

/** What the hooks may ask of the server they are attached to. */
export interface HookedServer {
  /** Closes a local session with a fatal error (e.g. `replaced` by a login elsewhere). */
  closeSession(session: Session, code?: ErrorCode, message?: string): void;
  /** Closes the local sessions of these (revoked) certificate serials at once. */
  closeRevoked(serials: readonly string[]): void;
}

/** The cluster's side of a server. */
export interface ServerHooks {
  /** Makes the server's offline delivery (persistent rooms, logs, inboxes over the store). */
  createDelivery(context: OfflineContext, options: OfflineOptions): OfflineDelivery;
  /** Called once the server runs. */
  attach(server: HookedServer): void;
  /** A local session was registered (after `welcome`). */
  registered(session: Session): void;
  /** Sessions of `user` on other servers (stand-ins that forward what is sent to them). */
  remoteSessionsOf(user: string): Session[];
  /** The session with this id on another server, if any. */
  remoteSessionById(id: string): Session | undefined;
}
