/**
 * A stand-in for a session that lives on another server of the cluster. Rooms and the router
 * treat it as a member like any other (it has a user, a device, a description), but frames
 * broadcast to a room are not sent to it: its own server relays the room's traffic to it from
 * the room's stream. What is addressed to it alone (a direct key package, a direct message, a
 * moderation event it hears of from outside the room) is forwarded to its server.
 *
 * @module
 */

import type { ServerMessage } from "../../protocol/messages.ts";
import type { FramedConnection } from "../../protocol/transport.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import { Session } from "../session.ts";
import { VerifiedClient } from "../setup.ts";

/** The frames a stand-in forwards to its session's server; any other is not sent from here. */
export const FORWARDED: ReadonlySet<ServerMessage["type"]> = new Set(["keys", "dm", "moderation"]);

/** Sends `message` to session `session` on server `server`. */
export type Forward = (server: string, session: string, message: ServerMessage) => void;

/** A connection that holds nothing: a stand-in is never behind and never closed by us. */
const NO_CONNECTION = {
  closed: false,
  behindSince: undefined,
  lastReceivedAt: Number.POSITIVE_INFINITY,
  remote: "cluster",
  send: () => true,
  sendMessage: () => true,
  sendFinal: () => {},
  caughtUp: () => Promise.resolve(),
  close: () => Promise.resolve(),
} as unknown as FramedConnection;

/** A session on another server. */
export class RemoteSession extends Session {
  constructor(
    id: string,
    user: string,
    device: string,
    /** The server it lives on. */
    public server: string,
    private readonly forward: Forward,
  ) {
    super(id, VerifiedClient.make(user, device, ""), NO_CONNECTION, DEFAULT_LIMITS, () => {});
  }

  /** Room broadcasts reach it through its own server; nothing is sent from here. */
  override sendFrame(_frame: Uint8Array): void {}

  /**
   * Direct key packages, direct messages and moderation events told to it while it is in no
   * room of ours (it was banned, invited, or moderates from outside) are forwarded to its
   * server.
   */
  override send(message: ServerMessage): void {
    if (this.ending) return;
    if (FORWARDED.has(message.type)) {
      this.forward(this.server, this.id, message);
    }
  }
}
