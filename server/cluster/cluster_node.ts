/**
 * One server's membership of a cluster: it plugs into the chat server through its hooks
 * (`server/server_hooks.ts`) and gives it the cluster's delivery ({@linkcode ClusterDelivery}),
 * the directory of sessions everywhere ({@linkcode Directory}), stand-ins for sessions on other
 * servers ({@linkcode RemoteSession}), and two plain NATS subjects: one per server for frames
 * addressed to one of its sessions (direct key packages, direct messages, moderation events
 * told outside a room), and one shared by
 * all for sessions describing themselves anew (announcements, agreement keys).
 *
 * @module
 */

import type { Subscription } from "@nats-io/transport-node";
import { randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { encodeFrame } from "../../protocol/framing.ts";
import type { ServerMessage } from "../../protocol/messages.ts";
import { decodeModerationEvent } from "../../protocol/moderation/frames.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import type { Logger } from "../log.ts";
import type { OfflineContext, OfflineDelivery, OfflineOptions } from "../offline.ts";
import type { HookedServer, ServerHooks } from "../server_hooks.ts";
import type { Session } from "../session.ts";
import { ClusterDelivery } from "./cluster_delivery.ts";
import { Directory, type PresenceRecord } from "./directory.ts";
import type { NatsLink } from "./nats_link.ts";
import type { NatsStore } from "./nats_store.ts";
import type { MemberRef } from "./room_events.ts";
import { FORWARDED, RemoteSession } from "./remote_session.ts";

/** Largest frame forwarded between servers (a frame never exceeds the protocol's limit). */
const MAX_FORWARD_BYTES = 128 * 1024;
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const decoder = new TextDecoder();

/** Options of {@linkcode ClusterNode.start}. */
export interface ClusterNodeOptions {
  link: NatsLink;
  store: NatsStore;
  logger: Logger;
  /** Most members of one room (the server's own limit). */
  maxRoomMembers?: number;
}

/** This server, as a member of a cluster. */
export class ClusterNode implements ServerHooks {
  /** A fresh random id per process: a restarted server is a new member. */
  readonly serverId = toBase64Url(randomBytes(9), false);
  readonly directory: Directory;
  readonly #link: NatsLink;
  readonly #store: NatsStore;
  readonly #log: Logger;
  readonly #maxRoomMembers: number;
  readonly #locals = new Map<string, Session>();
  readonly #localByKey = new Map<string, Session>();
  readonly #proxies = new Map<string, RemoteSession>();
  readonly #subscriptions: Subscription[] = [];
  #server: HookedServer | undefined;
  #delivery: ClusterDelivery | undefined;

  private constructor(options: ClusterNodeOptions) {
    this.#link = options.link;
    this.#store = options.store;
    this.#log = options.logger;
    this.#maxRoomMembers = options.maxRoomMembers ?? DEFAULT_LIMITS.maxRoomMembers;
    this.directory = new Directory(
      options.link,
      options.store.names,
      this.serverId,
      options.logger,
      { changed: (key, record) => this.#presenceChanged(key, record) },
    );
  }

  /** Joins the cluster: reads the directory, starts beating, listens on its subjects. */
  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const node = new ClusterNode(options);
    await node.directory.start();
    const nc = options.link.nc;
    const names = options.store.names;
    node.#subscriptions.push(
      nc.subscribe(names.serverSubject(node.serverId), {
        callback: (_error, message) => node.#forwarded(message.data),
      }),
      nc.subscribe(names.updatesSubject, {
        callback: (_error, message) => node.#updated(message.data),
      }),
    );
    options.logger.log("info", "cluster_joined", {
      server: node.serverId,
      nats: options.link.servers.join(","),
    });
    return node;
  }

  /** Leaves the cluster (the store and the connection stay the caller's). */
  async stop(): Promise<void> {
    this.#delivery?.stop();
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    await this.directory.stop();
  }

  /** The delivery, once the server made it. */
  get delivery(): ClusterDelivery | undefined {
    return this.#delivery;
  }

  // ---- hooks ------------------------------------------------------------------------------

  createDelivery(context: OfflineContext, options: OfflineOptions): OfflineDelivery {
    this.#delivery = new ClusterDelivery({
      rooms: context.rooms,
      sessionsOf: (user) => context.sessionsOf(user),
      directory: this.directory,
      serverId: this.serverId,
      log: this.#log,
      limits: { maxRoomMembers: this.#maxRoomMembers },
      localById: (id) => this.#locals.get(id),
      proxy: (ref, described) => this.#proxy(ref, described),
      ended: (session) => this.#ended(session),
    }, { ...options, store: this.#store });
    return this.#delivery;
  }

  attach(server: HookedServer): void {
    this.#server = server;
  }

  registered(session: Session): void {
    this.#locals.set(session.id, session);
    this.#localByKey.set(session.key, session);
    this.directory.put(session).catch((error) => {
      this.#log.log("warn", "presence_failed", { session: session.id, error: String(error) });
    });
  }

  remoteSessionsOf(user: string): Session[] {
    return this.directory.ofUser(user)
      .filter((record) => record.server !== this.serverId && record.announce !== undefined)
      .map((record) => this.#proxy(refOf(record), record));
  }

  remoteSessionById(id: string): Session | undefined {
    const record = this.directory.byId(id);
    if (!record || record.server === this.serverId) return undefined;
    return this.#proxy(refOf(record), record);
  }

  // ---- stand-ins ----------------------------------------------------------------------------

  #proxy(ref: MemberRef, described?: Partial<PresenceRecord>): RemoteSession {
    let proxy = this.#proxies.get(ref.id);
    if (!proxy) {
      proxy = new RemoteSession(
        ref.id,
        ref.user,
        ref.device,
        ref.server,
        (server, session, message) => this.#forward(server, session, message),
      );
      this.#proxies.set(ref.id, proxy);
    }
    proxy.server = ref.server;
    if (described?.announce) proxy.announce = described.announce;
    if (described?.agreement) proxy.agreement = described.agreement;
    if (described?.link) proxy.link = described.link;
    // Without an announcement it cannot be described to anyone: it counts as gone.
    proxy.ending = proxy.announce === undefined;
    return proxy;
  }

  #ended(session: Session): void {
    if (this.#locals.get(session.id) === session) this.#locals.delete(session.id);
    if (this.#localByKey.get(session.key) === session) this.#localByKey.delete(session.key);
  }

  #presenceChanged(key: string, record: PresenceRecord | undefined): void {
    const local = this.#localByKey.get(key);
    if (local && record && record.session !== local.id && !local.ending) {
      // The same device logged in elsewhere: the newer login wins, as on one server.
      this.#server?.closeSession(
        local,
        "replaced",
        "This device logged in again; this session was replaced",
      );
    }
    for (const proxy of this.#proxies.values()) {
      if (proxy.key !== key.replace(".", "/") || proxy.id === record?.session) continue;
      proxy.ending = true;
      if (proxy.rooms.size === 0) this.#proxies.delete(proxy.id);
    }
  }

  // ---- the server's subjects ----------------------------------------------------------------

  #forward(server: string, session: string, message: ServerMessage): void {
    if (this.#link.state !== "up") return; // dropped, as for a session that is gone
    this.#link.nc.publish(
      this.#store.names.serverSubject(server),
      JSON.stringify({ to: session, message }),
    );
  }

  /** A frame for one of our sessions, from another server. */
  #forwarded(data: Uint8Array): void {
    if (data.length > MAX_FORWARD_BYTES) return;
    try {
      const { to, message } = JSON.parse(decoder.decode(data));
      if (typeof to !== "string" || !TOKEN.test(to) || !FORWARDED.has(message?.type)) return;
      const session = this.#locals.get(to);
      if (!session) return;
      if (message.type === "moderation") {
        // Checked as a client checks it: what the session is sent is what passed (a bad one
        // throws, and is logged below).
        session.send({ type: "moderation", ...decodeModerationEvent(message) });
      } else {
        session.send(message as ServerMessage);
      }
    } catch {
      this.#log.log("warn", "cluster_bad_forward", { bytes: data.length });
    }
  }

  /** A session elsewhere re-announced or replaced its agreement key. */
  #updated(data: Uint8Array): void {
    if (data.length > MAX_FORWARD_BYTES) return;
    let frame: { type?: string; session?: string; announce?: string; payload?: string };
    try {
      frame = JSON.parse(decoder.decode(data));
    } catch {
      return;
    }
    if (typeof frame.session !== "string" || this.#locals.has(frame.session)) return;
    const proxy = this.#proxies.get(frame.session);
    if (!proxy) return;
    if (frame.type === "announce" && typeof frame.announce === "string") {
      proxy.announce = frame.announce;
    } else if (frame.type === "agreement" && typeof frame.payload === "string") {
      proxy.agreement = frame.payload;
    } else return;
    // Everyone here who shares a room with it hears it once.
    const encoded = encodeFrame(frame as ServerMessage);
    const told = new Set<Session>();
    for (const room of proxy.rooms) {
      for (const member of room.members.values()) {
        if (member instanceof RemoteSession || told.has(member)) continue;
        told.add(member);
        member.sendFrame(encoded);
      }
    }
  }
}

function refOf(record: PresenceRecord): MemberRef {
  return { id: record.session, user: record.user, device: record.device, server: record.server };
}
