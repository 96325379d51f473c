/**
 * The chat client: one user's connection to one server, with end-to-end encryption in every
 * room. It knows nothing of terminals: user interfaces call its methods and render its events
 * (`events.ts`).
 *
 * Everything that touches session state runs through one serial queue, in arrival order: a key
 * package is always stored before the message that needs it is opened, and a new epoch's keys
 * always leave before the first message sealed with it. Network waits (lookups, acks) never
 * block that queue; they are new entries when their replies arrive.
 *
 * @module
 */

import { CertificateCache } from "../crypto/certificate_cache.ts";
import { ERROR_CODES } from "../protocol/errors.ts";
import { MAX_FRAME_BYTES } from "../protocol/framing.ts";
import { isValidDeviceLabel } from "../protocol/devices.ts";
import type { KeyItem, MemberInfo, ServerMessage, WireLimits } from "../protocol/messages.ts";
import { isValidRoomName, isValidUserName } from "../protocol/names.ts";
import type { CloseCause } from "../protocol/transport.ts";
import { type Endpoint, ServerLink, SetupError } from "./connection.ts";
import {
  ANNOUNCE_REFRESH_MS,
  buildAnnouncement,
  createSessionKeys,
  type SessionKeys,
} from "./e2e/announcement.ts";
import { E2EError } from "./e2e/errors.ts";
import {
  MAX_TEXT_BYTES,
  openDirectMessage,
  openRoomMessage,
  parseRoomMessage,
  type Plaintext,
  sealDirectMessage,
  sealRoomMessage,
  textFits,
  unwrapChainKey,
  verifyRoomMessage,
  wrapChainKey,
} from "./e2e/payloads.ts";
import { PeerDirectory, type PeerSession } from "./e2e/peers.ts";
import { RoomState } from "./e2e/room_state.ts";
import type { ClientEvent } from "./events.ts";
import type { Identity } from "./identity.ts";
import { RENEW_RETRY_MS, renewalDue, renewIdentity } from "./renewal.ts";
import type { TrustState, TrustStore } from "./trust_store.ts";
import { writeFileAtomic } from "../util/files.ts";

/** A typed message waits at most this long for keys or a connection before it is reported undelivered. */
export const OUTBOX_TIMEOUT_MS = 60_000;
/** Most messages waiting to be sent. */
export const MAX_OUTBOX = 500;
/** Longest wait for acknowledgements when quitting. */
export const QUIT_GRACE_MS = 10_000;
/** First reconnection delay; it doubles on each failure up to {@linkcode RECONNECT_MAX_MS}. */
export const RECONNECT_INITIAL_MS = 500;
/** Longest reconnection delay. */
export const RECONNECT_MAX_MS = 15_000;
/** Direct-message tokens remembered per peer session, to drop replays. */
export const MAX_SEEN_DIRECT = 4096;
/** Direct messages held while their sender's keys are being looked up. */
export const MAX_HELD_DIRECT = 50;
/** Most members a (multi-frame) `joined` answer may list; a server sending more is cut off there. */
export const MAX_JOINED_MEMBERS = 100_000;
/** Times a room message is sealed again because membership changed on its way, before giving up. */
export const MAX_RESEALS = 10;
/** Share of the server's rate the client uses for messages, leaving room for key frames. */
const PACE_SHARE = 0.8;
/** Key items per `keys` frame: each is ~220 bytes, so this stays far inside a frame. */
const KEY_ITEMS_PER_FRAME = Math.floor(MAX_FRAME_BYTES / 512);

/** Refusals after which reconnecting cannot help. */
const TERMINAL_CODES = new Set([
  "replaced",
  "revoked",
  "expired",
  "not_yet_valid",
  "wrong_ca",
  "wrong_usage",
  "bad_certificate",
  "bad_signature",
  "bad_name",
  "unsupported_version",
  "server_certificate",
  "server_proof",
  "wrong_server",
  "wrong_user",
]);

/** How to run a client. */
export interface ChatClientOptions {
  endpoint: Endpoint;
  identity: Identity;
  trustStore: TrustStore;
  /** Rooms to join on every connection; the first is the one `ready` names. */
  rooms: string[];
  /** Reconnect after the connection is lost (default true). */
  reconnect?: boolean;
  /** How long a message may wait to be sent (default {@linkcode OUTBOX_TIMEOUT_MS}). */
  outboxTimeoutMs?: number;
  /**
   * The identity file: when set, the client renews its certificate by itself once two thirds
   * of its lifetime have passed, and writes the renewed identity there.
   */
  identityPath?: string;
  /** The clock renewal is decided by (tests move it); defaults to the real one. */
  clock?: () => Date;
}

interface OutgoingBase {
  id: string;
  plain: Plaintext;
  queuedAt: number;
}
/** A direct message goes to every online device of its recipient: one `dm` frame each. */
interface DirectParts {
  /** Ids of the frames not yet answered. */
  readonly pending: Set<string>;
  acked: number;
  stale: boolean;
  reason?: string;
}
type Outgoing =
  | (OutgoingBase & { kind: "room"; room: string; resealed?: number })
  | (OutgoingBase & { kind: "dm"; to: string; retried?: boolean; parts?: DirectParts });

/** Everything that belongs to one connection and dies with it. */
interface Connection {
  readonly link: ServerLink;
  readonly session: string;
  readonly keys: SessionKeys;
  readonly peers: PeerDirectory;
  readonly limits: WireLimits;
  readonly lookups: Map<string, string>;
  /** Members of a `joined` answer that comes in several frames, until its last one. */
  readonly joining: Map<string, MemberInfo[]>;
  readonly heldDirect: Extract<ServerMessage, { type: "dm" }>[];
  readonly seenDirect: Map<string, Set<string>>;
  /** Each user's online sessions, as the latest lookup listed them (direct messages go there). */
  readonly directTargets: Map<string, string[]>;
  /** Device requests waiting for their answer: id to device label. */
  readonly deviceRequests: Map<string, string>;
  readyReported: boolean;
  announcedAt: number;
  fatal?: { code: string; message: string };
  tokens: number;
  tokensAt: number;
}

/** One user's chat client. */
export class ChatClient {
  readonly #options: ChatClientOptions;
  readonly #listeners = new Set<(event: ClientEvent) => void>();
  readonly #certificates: CertificateCache;
  /** Rooms wanted, in join order, with their state on the current connection. */
  readonly #rooms = new Map<string, RoomState>();
  readonly #outbox: Outgoing[] = [];
  readonly #inflight = new Map<string, Outgoing>();
  /** The latest key fingerprint and trust state seen for each `user/device`. */
  readonly #trust = new Map<string, { fingerprint: string; state: TrustState }>();
  /** This device's identity; renewal replaces it with a new certificate for the same key. */
  #identity: Identity;
  #renewing = false;
  #nextRenewalAt = 0;
  readonly #pendingWhois = new Set<string>();
  readonly #idleWaiters: (() => void)[] = [];
  /** The latest status event, for listeners that subscribe after it (see `on`). */
  #status: Extract<ClientEvent, { type: "status" }> | undefined;
  #connection: Connection | undefined;
  #tail: Promise<void> = Promise.resolve();
  #nextId = 1;
  #stopped = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #finish!: (code: number) => void;
  /** Resolves with an exit code when the client has stopped for good. */
  readonly finished: Promise<number>;

  constructor(options: ChatClientOptions) {
    this.#options = options;
    this.#identity = options.identity;
    this.#certificates = new CertificateCache(options.identity.caCert, "client");
    for (const room of options.rooms) this.#rooms.set(room, new RoomState(room));
    this.finished = new Promise((resolve) => this.#finish = resolve);
  }

  /** This client's user name. */
  get user(): string {
    return this.#identity.user;
  }

  /** This client's device label. */
  get device(): string {
    return this.#identity.device;
  }

  /** The identity in use (after a renewal, the renewed one). */
  get identity(): Identity {
    return this.#identity;
  }

  /** The current session id, while connected. */
  get sessionId(): string | undefined {
    return this.#connection?.session;
  }

  /** Rooms wanted (joined, or to be joined on the next connection). */
  get rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /** The end-to-end state of `room` on this connection (for `/who` and for tests). */
  roomState(room: string): RoomState | undefined {
    return this.#rooms.get(room);
  }

  /** Members of rooms we are in, for name completion. */
  knownUsers(): string[] {
    const users = new Set<string>();
    for (const state of this.#rooms.values()) {
      for (const member of state.members.values()) users.add(member.user);
    }
    return [...users].sort();
  }

  /**
   * Whether `user`'s messages currently count as verified: null when no device of theirs was
   * seen, false when any device's key changed (until trusted).
   */
  isVerified(user: string): boolean | null {
    let seen = false;
    for (const [key, trust] of this.#trust) {
      if (!key.startsWith(`${user}/`)) continue;
      if (trust.state === "changed") return false;
      seen = true;
    }
    return seen ? true : null;
  }

  /**
   * Subscribes to events; returns the unsubscribe function. A listener first hears the latest
   * `status` event, if there was one: user interfaces subscribe after {@linkcode ChatClient.start}
   * has connected, and must still learn that it did.
   */
  on(listener: (event: ClientEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#status) deliver(listener, this.#status);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Connects for the first time.
   *
   * @throws {SetupError} when the first connection fails; later losses reconnect by themselves.
   */
  async start(): Promise<void> {
    await this.#connect();
    this.#timer = setInterval(() => this.#serial(() => this.#tick()), 1_000);
  }

  /** Queues `text` for `room`; returns the message id `delivered`/`undelivered` will name. */
  send(room: string, text: string, action = false): string {
    this.#checkText(text);
    if (!this.#rooms.has(room)) throw new RangeError(`Not in ${room}; /join ${room} first`);
    return this.#queue({
      kind: "room",
      room,
      id: this.#id(),
      plain: this.#plain(text, action),
      queuedAt: performance.now(),
    });
  }

  /** Queues a direct message to `user`. */
  sendDirect(user: string, text: string, action = false): string {
    this.#checkText(text);
    if (!isValidUserName(user)) throw new RangeError(`${JSON.stringify(user)} is not a user name`);
    if (user === this.user) throw new RangeError("That is you");
    return this.#queue({
      kind: "dm",
      to: user,
      id: this.#id(),
      plain: this.#plain(text, action),
      queuedAt: performance.now(),
    });
  }

  /** Joins `room` (now if connected, and on every later connection). */
  join(room: string): void {
    if (!isValidRoomName(room)) {
      throw new RangeError(`${JSON.stringify(room)} is not a room name ([a-z0-9][a-z0-9_-]{0,31})`);
    }
    if (this.#rooms.has(room)) return this.#emit({ type: "notice", message: `Already in ${room}` });
    this.#rooms.set(room, new RoomState(room));
    this.#connection?.link.send({ type: "join", room });
  }

  /** Leaves `room`. */
  leave(room: string): void {
    if (!this.#rooms.has(room)) throw new RangeError(`Not in ${room}`);
    if (this.#connection) this.#connection.link.send({ type: "leave", room });
    else this.#forgetRoom(room);
  }

  /** Asks the server for its rooms; answered by a `rooms` event. */
  listRooms(): void {
    this.#require().link.send({ type: "rooms" });
  }

  /** Asks who is in `room`; answered by a `who` event. */
  who(room: string): void {
    if (!isValidRoomName(room)) throw new RangeError(`${JSON.stringify(room)} is not a room name`);
    this.#require().link.send({ type: "who", room });
  }

  /** Looks `user` up; answered by a `whois` event with their key fingerprint. */
  whois(user: string): void {
    if (!isValidUserName(user)) throw new RangeError(`${JSON.stringify(user)} is not a user name`);
    if (user === this.user) {
      return this.#emit({
        type: "whois",
        user,
        device: this.device,
        online: true,
        fingerprint: this.#identity.keyFingerprint,
        trusted: this.#identity.keyFingerprint,
        state: "trusted",
      });
    }
    this.#pendingWhois.add(user);
    const connection = this.#require();
    this.#lookup(connection, user);
  }

  /**
   * Trusts the current key of `user/device`, or of every device of `user` (after comparing
   * fingerprints out of band).
   */
  trust(target: string): Promise<void> {
    return this.#serial(async () => {
      const keys = [...this.#trust.keys()].filter((key) =>
        target.includes("/") ? key === target : key.startsWith(`${target}/`)
      );
      if (keys.length === 0) {
        return this.#emit({
          type: "error",
          code: "unknown_user",
          message: `No key seen for ${target} yet; /whois ${target.split("/")[0]} first`,
        });
      }
      for (const key of keys) {
        const known = this.#trust.get(key)!;
        await this.#options.trustStore.trust(key, known.fingerprint);
        known.state = "trusted";
        const [user, device] = key.split("/") as [string, string];
        this.#emit({ type: "trusted", user, device, fingerprint: known.fingerprint });
      }
    });
  }

  /** Asks the server for an invite for another device of this user; answered by `device_invite`. */
  inviteDevice(device: string): void {
    this.#deviceRequest("device_invite", device);
  }

  /** Asks the server for this user's devices; answered by a `devices` event. */
  listDevices(): void {
    const id = `d${this.#nextId++}`;
    const connection = this.#require();
    connection.deviceRequests.set(id, "");
    connection.link.send({ type: "devices", id });
  }

  /** Revokes one of this user's devices; answered by `device_revoked`. */
  revokeDevice(device: string): void {
    this.#deviceRequest("device_revoke", device);
  }

  #deviceRequest(type: "device_invite" | "device_revoke", device: string): void {
    if (!isValidDeviceLabel(device)) {
      throw new RangeError(
        `${JSON.stringify(device)} is not a device label ([a-z0-9][a-z0-9_-]{0,31})`,
      );
    }
    const connection = this.#require();
    const id = `d${this.#nextId++}`;
    connection.deviceRequests.set(id, device);
    connection.link.send({ type, id, device });
  }

  /**
   * Stops: waits (up to `graceMs`) for queued messages to be sent and acknowledged, reports the
   * rest undelivered, and closes the connection.
   */
  async quit(graceMs = QUIT_GRACE_MS): Promise<void> {
    if (this.#stopped) return;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs));
    await Promise.race([this.#idle(), deadline]);
    this.#stopped = true;
    await this.#serial(async () => {
      for (const entry of this.#outbox.splice(0)) {
        this.#undelivered(entry, "not sent before quitting");
      }
      for (const entry of new Set(this.#inflight.values())) {
        this.#undelivered(entry, "not confirmed before quitting");
      }
      await this.#connection?.link.closeGracefully();
    });
    this.#shutdown(0, "Disconnected");
  }

  // ---- connection lifecycle --------------------------------------------------------------

  async #connect(): Promise<void> {
    const { endpoint } = this.#options;
    const identity = this.#identity;
    const keys = await createSessionKeys();
    const { link, welcome } = await ServerLink.open(endpoint, identity);
    const connection: Connection = {
      link,
      session: welcome.session,
      keys,
      peers: new PeerDirectory(keys, (der, now) => this.#certificates.verify(der, now)),
      limits: welcome.limits,
      lookups: new Map(),
      joining: new Map(),
      heldDirect: [],
      seenDirect: new Map(),
      directTargets: new Map(),
      deviceRequests: new Map(),
      readyReported: false,
      announcedAt: performance.now(),
      tokens: welcome.limits.rateBurst * PACE_SHARE,
      tokensAt: performance.now(),
    };
    this.#connection = connection;
    link.send({ type: "announce", payload: await this.#announcement(connection) });
    for (const room of this.#rooms.keys()) {
      this.#rooms.set(room, new RoomState(room));
      link.send({ type: "join", room });
    }
    this.#emit({
      type: "status",
      state: "connected",
      message: `Connected to ${this.#address()} as ${identity.user}/${identity.device}`,
    });
    link.onMessage((message) => {
      this.#serial(() => this.#handle(connection, message));
    });
    void link.ended.then((cause) => this.#serial(() => this.#ended(connection, cause)));
  }

  #announcement(connection: Connection): Promise<string> {
    const identity = this.#identity;
    return buildAnnouncement(
      identity.user,
      connection.session,
      identity.certDer,
      identity.privateKey,
      connection.keys,
    );
  }

  #ended(connection: Connection, cause: CloseCause): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    for (const entry of new Set(this.#inflight.values())) {
      this.#undelivered(entry, "the connection was lost before the server confirmed it");
    }
    for (const room of this.#rooms.keys()) this.#rooms.set(room, new RoomState(room));
    if (this.#stopped) return;
    const fatal = connection.fatal;
    if (fatal && TERMINAL_CODES.has(fatal.code)) {
      this.#emit({ type: "error", code: fatal.code, message: fatal.message });
      return this.#shutdown(1, `Disconnected: ${fatal.message}`);
    }
    if (this.#options.reconnect === false) {
      return this.#shutdown(1, `Disconnected: ${fatal?.message ?? describeCause(cause)}`);
    }
    this.#scheduleReconnect(0, fatal?.message ?? describeCause(cause));
  }

  #scheduleReconnect(attempt: number, why: string): void {
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.#emit({
      type: "status",
      state: attempt === 0 ? "disconnected" : "reconnecting",
      message: `${why}; reconnecting in ${(delay / 1000).toFixed(1)} s`,
      retryInMs: delay,
    });
    this.#reconnectTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        await this.#connect();
      } catch (error) {
        if (this.#stopped) return;
        if (error instanceof SetupError && error.fromServer && TERMINAL_CODES.has(error.code)) {
          this.#emit({ type: "error", code: error.code, message: error.message });
          return this.#shutdown(1, `Cannot reconnect: ${error.message}`);
        }
        this.#scheduleReconnect(attempt + 1, (error as Error).message);
      }
    }, delay);
  }

  #shutdown(code: number, message: string): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#reconnectTimer);
    for (const entry of this.#outbox.splice(0)) this.#undelivered(entry, "the client stopped");
    this.#connection?.link.close();
    this.#connection = undefined;
    this.#emit({ type: "status", state: "closed", message });
    this.#finish(code);
  }

  // ---- serial processing ---------------------------------------------------------------

  #serial(task: () => Promise<void> | void): Promise<void> {
    const run = this.#tail.then(task).catch((error) => this.#report(error));
    this.#tail = run;
    return run;
  }

  #report(error: unknown): void {
    if (error instanceof E2EError) {
      return this.#emit({ type: "error", code: error.code, message: error.message });
    }
    this.#emit({
      type: "error",
      code: "internal",
      message: String((error as Error)?.message ?? error),
    });
  }

  async #handle(connection: Connection, message: ServerMessage): Promise<void> {
    if (this.#connection !== connection) return;
    switch (message.type) {
      case "joined": {
        const members = connection.joining.get(message.room) ?? [];
        members.push(...message.members.slice(0, MAX_JOINED_MEMBERS - members.length));
        if (message.more) {
          connection.joining.set(message.room, members);
          break;
        }
        connection.joining.delete(message.room);
        await this.#joined(connection, message.room, message.version, members);
        break;
      }
      case "left":
        this.#forgetRoom(message.room);
        this.#emit({ type: "leave", room: message.room, user: this.user });
        break;
      case "presence":
        await this.#presence(connection, message);
        break;
      case "announce":
        await connection.peers.learn(
          message.user,
          message.session,
          message.announce,
          message.device,
        );
        break;
      case "keys":
        await this.#keys(connection, message);
        break;
      case "msg":
        await this.#roomMessage(connection, message);
        break;
      case "dm":
        await this.#directMessage(connection, message);
        break;
      case "ack": {
        const entry = this.#inflight.get(message.id);
        if (entry?.kind === "dm" && entry.parts) {
          entry.parts.acked += message.recipients;
          this.#directPartDone(entry, message.id);
        } else if (entry) {
          this.#inflight.delete(message.id);
          this.#emit({ type: "delivered", id: message.id, recipients: message.recipients });
        }
        break;
      }
      case "device_invite": {
        const device = connection.deviceRequests.get(message.id);
        if (device === undefined) break;
        connection.deviceRequests.delete(message.id);
        this.#emit({ type: "device_invite", user: this.user, device, token: message.token });
        break;
      }
      case "devices":
        if (!connection.deviceRequests.delete(message.id)) break;
        this.#emit({ type: "devices", user: this.user, devices: message.devices });
        break;
      case "device_revoked":
        if (!connection.deviceRequests.delete(message.id)) break;
        this.#emit({ type: "device_revoked", user: this.user, device: message.device });
        break;
      case "peer":
        await this.#peer(connection, message);
        break;
      case "error":
        this.#serverError(connection, message);
        break;
      case "rooms":
        this.#emit({ type: "rooms", rooms: message.rooms });
        break;
      case "who":
        this.#emit({
          type: "who",
          room: message.room,
          members: message.members.map((user) => ({
            user,
            verified: user === this.user ? true : this.isVerified(user),
          })),
        });
        break;
      case "ping":
        connection.link.send({ type: "pong" });
        break;
      case "pong":
      case "welcome":
      case "server_hello":
      case "enrolled":
      case "renewed":
        break;
      default: {
        const unreachable: never = message;
        void unreachable;
      }
    }
    await this.#flush(connection);
  }

  #serverError(connection: Connection, message: Extract<ServerMessage, { type: "error" }>): void {
    if (message.fatal) {
      connection.fatal = { code: message.code, message: message.message };
      return;
    }
    if (message.id) {
      const entry = this.#inflight.get(message.id);
      if (entry?.kind === "dm" && entry.parts) {
        if (message.code === "stale_session" || message.code === "no_such_user") {
          entry.parts.stale = true;
          connection.directTargets.delete(entry.to);
        }
        entry.parts.reason = message.message;
        return this.#directPartDone(entry, message.id);
      }
      if (connection.deviceRequests.delete(message.id)) {
        return this.#emit({ type: "error", code: message.code, message: message.message });
      }
      if (entry) {
        this.#inflight.delete(message.id);
        if (
          message.code === "membership_changed" && entry.kind === "room" &&
          (entry.resealed ?? 0) < MAX_RESEALS
        ) {
          // Someone joined or left while it was on its way: seal it again, for the members now.
          this.#outbox.unshift({ ...entry, resealed: (entry.resealed ?? 0) + 1 });
          return;
        }
        return this.#undelivered(entry, message.message);
      }
      const user = connection.lookups.get(message.id);
      if (user !== undefined) {
        connection.lookups.delete(message.id);
        return this.#lookupFailed(connection, user, message.message);
      }
    }
    if (message.room && this.#rooms.get(message.room)?.joined === false) {
      // A join the server refused: the room is not ours after all.
      this.#forgetRoom(message.room);
    }
    this.#emit({
      type: "error",
      code: message.code,
      message: message.message || (ERROR_CODES as Record<string, string>)[message.code] ||
        message.code,
    });
  }

  // ---- rooms and keys ------------------------------------------------------------------

  async #joined(
    connection: Connection,
    room: string,
    version: number,
    members: MemberInfo[],
  ): Promise<void> {
    const state = this.#rooms.get(room);
    if (!state) return; // left again before the server answered
    state.joined = true;
    state.version = version;
    for (const member of members) connection.directTargets.delete(member.user);
    for (const member of members) {
      state.members.set(member.session, {
        user: member.user,
        session: member.session,
        status: "pending",
      });
    }
    await Promise.all(members.map((member) => this.#admit(connection, state, member)));
    await this.#rotate(connection, state);
    this.#reportMembers(connection, state);
  }

  async #presence(
    connection: Connection,
    message: Extract<ServerMessage, { type: "presence" }>,
  ): Promise<void> {
    const state = this.#rooms.get(message.room);
    if (!state?.joined) return;
    state.version = message.version;
    // A device came or went: the next direct message to this user looks their devices up again.
    connection.directTargets.delete(message.user);
    if (message.event === "join") {
      state.members.set(message.session, {
        user: message.user,
        session: message.session,
        status: "pending",
      });
      this.#emit({ type: "join", room: message.room, user: message.user });
      await this.#admit(connection, state, {
        user: message.user,
        device: message.device,
        session: message.session,
        announce: message.announce!,
      });
    } else {
      if (!state.remove(message.session)) return;
      this.#emit({
        type: "leave",
        room: message.room,
        user: message.user,
        ...(message.reason ? { reason: message.reason } : {}),
      });
    }
    // Every membership change starts a new chain, so a member reads exactly what was sent
    // while they were one.
    await this.#rotate(connection, state);
    this.#reportMembers(connection, state);
  }

  /** Verifies a member's announcement and checks their key against the trust store. */
  async #admit(connection: Connection, state: RoomState, info: MemberInfo): Promise<void> {
    const member = state.members.get(info.session);
    if (!member) return;
    try {
      const peer = await connection.peers.learn(
        info.user,
        info.session,
        info.announce,
        info.device,
      );
      await this.#checkTrust(peer);
      member.status = "ready";
    } catch (error) {
      member.status = "failed";
      this.#report(error);
    }
  }

  /**
   * Checks a peer's key against the trust store, per device (`user/device`) for now: a new
   * device is trusted on first use, a device whose key changed is reported.
   */
  async #checkTrust(peer: PeerSession): Promise<void> {
    const { user, device, keyFingerprint } = peer.announcement;
    const key = `${user}/${device}`;
    const known = this.#trust.get(key);
    if (known?.fingerprint === keyFingerprint) return;
    const state = await this.#options.trustStore.check(key, keyFingerprint);
    this.#trust.set(key, { fingerprint: keyFingerprint, state });
    if (state === "changed") {
      this.#emit({
        type: "key_changed",
        user,
        device,
        fingerprint: keyFingerprint,
        previous: this.#options.trustStore.get(key)!.fingerprint,
      });
    }
  }

  /** Starts a new sending epoch in `state` and hands its key to every member with keys. */
  async #rotate(connection: Connection, state: RoomState): Promise<void> {
    const { chain, initialKey } = state.rotate();
    const items: KeyItem[] = await Promise.all(
      state.readyMembers().map(async (member) => {
        const peer = await connection.peers.get(member.session)!;
        return {
          to: member.session,
          payload: await wrapChainKey(peer.wrapKey, state.name, chain.epoch, initialKey),
        };
      }),
    );
    initialKey.fill(0);
    for (let i = 0; i < items.length; i += KEY_ITEMS_PER_FRAME) {
      connection.link.send({
        type: "keys",
        room: state.name,
        items: items.slice(i, i + KEY_ITEMS_PER_FRAME),
      });
    }
  }

  #reportMembers(connection: Connection, state: RoomState): void {
    if (!state.ready) return;
    const members = [this.user, ...state.readyMembers().map((member) => member.user)].sort();
    const list = members.join(",");
    if (!connection.readyReported && state.name === this.#rooms.keys().next().value) {
      connection.readyReported = true;
      this.#emit({ type: "ready", user: this.user, room: state.name });
    }
    if (list === state.lastReported) return;
    state.lastReported = list;
    this.#emit({ type: "members", room: state.name, members });
  }

  async #keys(
    connection: Connection,
    message: Extract<ServerMessage, { type: "keys" }>,
  ): Promise<void> {
    const state = this.#rooms.get(message.room);
    if (!state?.joined) return;
    const peer = await this.#knownPeer(connection, message.session, message.from);
    const { epoch, chainKey } = await unwrapChainKey(
      peer.wrapKey,
      message.payload,
      message.room,
      message.from,
    );
    state.addReceived(message.session, epoch, chainKey);
  }

  async #knownPeer(connection: Connection, session: string, from: string): Promise<PeerSession> {
    const pending = connection.peers.get(session);
    if (!pending) {
      throw new E2EError(
        "unknown_sender",
        `A frame from ${from} came from a session with no verified keys`,
      );
    }
    const peer = await pending;
    if (peer.announcement.user !== from) {
      throw new E2EError(
        "bad_signature",
        `A frame stamped as from ${from} came from ${peer.announcement.user}'s session`,
      );
    }
    return peer;
  }

  async #roomMessage(
    connection: Connection,
    message: Extract<ServerMessage, { type: "msg" }>,
  ): Promise<void> {
    const state = this.#rooms.get(message.room);
    if (!state?.joined) return;
    const envelope = parseRoomMessage(message.payload, message.from);
    const peer = await this.#knownPeer(connection, message.session, message.from);
    await verifyRoomMessage(
      envelope,
      message.room,
      message.session,
      peer.announcement.signingKey,
      message.from,
    );
    const chain = state.received(message.session, envelope.epoch);
    if (!chain) {
      throw new E2EError(
        "no_key",
        `A message from ${message.from} could not be read: it was sealed for members before you (epoch ${envelope.epoch})`,
      );
    }
    const key = await chain.keyFor(envelope.n).catch((error) => {
      if (error instanceof E2EError && error.code === "replay") {
        throw new E2EError(
          "replay",
          `A replayed message from ${message.from} was dropped (${error.message})`,
        );
      }
      throw error;
    });
    const plain = await openRoomMessage(envelope, key, message.from);
    this.#emit({
      type: "message",
      room: message.room,
      from: message.from,
      text: plain.text,
      ts: new Date(plain.ts).toISOString(),
      verified: this.isVerified(message.from) !== false,
      ...(plain.action ? { action: true as const } : {}),
    });
  }

  // ---- direct messages -------------------------------------------------------------------

  async #directMessage(
    connection: Connection,
    message: Extract<ServerMessage, { type: "dm" }>,
  ): Promise<void> {
    if (!connection.peers.get(message.session)) {
      if (connection.heldDirect.length >= MAX_HELD_DIRECT) {
        throw new E2EError(
          "unknown_sender",
          `Too many direct messages from unknown sessions; one from ${message.from} was dropped`,
        );
      }
      connection.heldDirect.push(message);
      this.#lookup(connection, message.from);
      return;
    }
    const peer = await this.#knownPeer(connection, message.session, message.from);
    const { plain, token } = await openDirectMessage({
      payload: message.payload,
      from: message.from,
      fromSession: message.session,
      toSession: connection.session,
      directKey: peer.directKey,
      signingKey: peer.announcement.signingKey,
    });
    const seen = connection.seenDirect.get(message.session) ?? new Set<string>();
    connection.seenDirect.set(message.session, seen);
    if (seen.has(token)) {
      throw new E2EError("replay", `A replayed direct message from ${message.from} was dropped`);
    }
    seen.add(token);
    if (seen.size > MAX_SEEN_DIRECT) seen.delete(seen.values().next().value!);
    this.#emit({
      type: "dm",
      from: message.from,
      to: this.user,
      text: plain.text,
      ts: new Date(plain.ts).toISOString(),
      verified: this.isVerified(message.from) !== false,
      ...(plain.action ? { action: true as const } : {}),
    });
  }

  #lookup(connection: Connection, user: string): void {
    for (const pending of connection.lookups.values()) if (pending === user) return;
    const id = `l${this.#nextId++}`;
    connection.lookups.set(id, user);
    connection.link.send({ type: "lookup", id, user });
  }

  async #peer(
    connection: Connection,
    message: Extract<ServerMessage, { type: "peer" }>,
  ): Promise<void> {
    if (!connection.lookups.delete(message.id)) return;
    const learned: PeerSession[] = [];
    for (const info of message.sessions) {
      try {
        const peer = await connection.peers.learn(
          message.user,
          info.session,
          info.announce,
          info.device,
        );
        await this.#checkTrust(peer);
        learned.push(peer);
      } catch (error) {
        this.#report(error);
      }
    }
    if (learned.length === 0) {
      return this.#lookupFailed(connection, message.user, `${message.user}'s keys did not verify`);
    }
    connection.directTargets.set(message.user, learned.map((peer) => peer.announcement.session));
    if (this.#pendingWhois.delete(message.user)) {
      for (const peer of learned) this.#emitWhois(message.user, peer.announcement.device, true);
    }
    const held = connection.heldDirect.filter((dm) => dm.from === message.user);
    connection.heldDirect.splice(
      0,
      connection.heldDirect.length,
      ...connection.heldDirect.filter((dm) => dm.from !== message.user),
    );
    for (const dm of held) {
      try {
        await this.#directMessage(connection, dm);
      } catch (error) {
        this.#report(error);
      }
    }
  }

  #lookupFailed(connection: Connection, user: string, reason: string): void {
    connection.directTargets.delete(user);
    for (const entry of [...this.#outbox]) {
      if (entry.kind === "dm" && entry.to === user) {
        this.#outbox.splice(this.#outbox.indexOf(entry), 1);
        this.#undelivered(entry, reason);
      }
    }
    const held = connection.heldDirect.filter((dm) => dm.from === user);
    if (held.length) {
      connection.heldDirect.splice(
        0,
        connection.heldDirect.length,
        ...connection.heldDirect.filter((dm) => dm.from !== user),
      );
      this.#emit({
        type: "error",
        code: "unknown_sender",
        message: `${held.length} direct message(s) from ${user} could not be verified`,
      });
    }
    if (this.#pendingWhois.delete(user)) this.#emitWhois(user, undefined, false);
  }

  #emitWhois(user: string, device: string | undefined, online: boolean): void {
    const key = `${user}/${device}`;
    const current = device === undefined ? undefined : this.#trust.get(key);
    const stored = device === undefined ? undefined : this.#options.trustStore.get(key);
    this.#emit({
      type: "whois",
      user,
      ...(device === undefined ? {} : { device }),
      online,
      fingerprint: online ? current?.fingerprint ?? null : null,
      trusted: stored?.fingerprint ?? null,
      state: !current && !stored ? "unknown" : current?.state === "changed" ? "changed" : "trusted",
    });
  }

  // ---- sending ---------------------------------------------------------------------------

  #queue(entry: Outgoing): string {
    if (this.#stopped) throw new RangeError("The client has stopped");
    if (this.#outbox.length >= MAX_OUTBOX) {
      throw new RangeError(`Already ${MAX_OUTBOX} messages waiting; wait a moment`);
    }
    this.#outbox.push(entry);
    this.#emit({
      type: "queued",
      id: entry.id,
      ...(entry.kind === "room" ? { room: entry.room } : { to: entry.to }),
      text: entry.plain.text,
      ...(entry.plain.action ? { action: true as const } : {}),
    });
    void this.#serial(() => this.#connection && this.#flush(this.#connection));
    return entry.id;
  }

  /** Seals and sends every queued message whose keys are in place, within the pace. */
  async #flush(connection: Connection): Promise<void> {
    for (let i = 0; i < this.#outbox.length;) {
      if (this.#connection !== connection) return;
      const entry = this.#outbox[i]!;
      const sent = entry.kind === "room"
        ? await this.#sendRoom(connection, entry)
        : await this.#sendDirect(connection, entry);
      if (sent === "paced") return;
      if (sent) this.#outbox.splice(i, 1);
      else i += 1;
    }
    this.#checkIdle();
  }

  #pace(connection: Connection): boolean {
    const now = performance.now();
    const rate = connection.limits.ratePerSecond * PACE_SHARE;
    const burst = Math.max(1, connection.limits.rateBurst * PACE_SHARE);
    connection.tokens = Math.min(
      burst,
      connection.tokens + ((now - connection.tokensAt) * rate) / 1000,
    );
    connection.tokensAt = now;
    if (connection.tokens < 1) return false;
    connection.tokens -= 1;
    return true;
  }

  async #sendRoom(
    connection: Connection,
    entry: Extract<Outgoing, { kind: "room" }>,
  ): Promise<boolean | "paced"> {
    const state = this.#rooms.get(entry.room);
    if (!state) {
      this.#undelivered(entry, `no longer in ${entry.room}`);
      return true;
    }
    if (!state.ready) return false;
    if (!this.#pace(connection)) return "paced";
    if (state.sending!.due) await this.#rotate(connection, state);
    const chain = state.sending!;
    const { n, messageKey } = await chain.nextKey();
    const payload = await sealRoomMessage({
      room: entry.room,
      session: connection.session,
      epoch: chain.epoch,
      n,
      messageKey,
      signingKey: connection.keys.signing.privateKey,
      plain: entry.plain,
    });
    messageKey.fill(0);
    this.#inflight.set(entry.id, entry);
    connection.link.send({
      type: "msg",
      id: entry.id,
      room: entry.room,
      payload,
      version: state.version,
    });
    return true;
  }

  /**
   * Seals a direct message once for each online device of the recipient (as the latest lookup
   * listed them) and sends one `dm` per device; `delivered` follows once every device's frame
   * is answered.
   */
  async #sendDirect(
    connection: Connection,
    entry: Extract<Outgoing, { kind: "dm" }>,
  ): Promise<boolean | "paced"> {
    const sessions = connection.directTargets.get(entry.to);
    if (!sessions) {
      this.#lookup(connection, entry.to);
      return false;
    }
    if (!this.#pace(connection)) return "paced";
    const parts: DirectParts = { pending: new Set(), acked: 0, stale: false };
    entry.parts = parts;
    for (const [i, session] of sessions.entries()) {
      const peer = await connection.peers.get(session);
      if (!peer) continue;
      const payload = await sealDirectMessage({
        fromSession: connection.session,
        toSession: session,
        directKey: peer.directKey,
        signingKey: connection.keys.signing.privateKey,
        plain: entry.plain,
      });
      const id = `${entry.id}-${i}`;
      parts.pending.add(id);
      this.#inflight.set(id, entry);
      connection.link.send({ type: "dm", id, to: entry.to, session, payload });
    }
    if (parts.pending.size === 0) {
      connection.directTargets.delete(entry.to);
      return false;
    }
    return true;
  }

  /** One device's `dm` frame was answered; once all are, the message is settled. */
  #directPartDone(entry: Extract<Outgoing, { kind: "dm" }>, id: string): void {
    const parts = entry.parts!;
    parts.pending.delete(id);
    this.#inflight.delete(id);
    if (parts.pending.size > 0) return;
    entry.parts = undefined;
    if (parts.acked > 0) {
      return this.#emit({ type: "delivered", id: entry.id, recipients: parts.acked });
    }
    if (parts.stale && !entry.retried) {
      // The recipient's devices changed on the way: look them up again and send once more.
      this.#outbox.unshift({ ...entry, retried: true });
      return;
    }
    this.#undelivered(entry, parts.reason ?? `${entry.to} could not be reached`);
  }

  #undelivered(entry: Outgoing, reason: string): void {
    this.#inflight.delete(entry.id);
    if (entry.kind === "dm" && entry.parts) {
      for (const id of entry.parts.pending) this.#inflight.delete(id);
      entry.parts = undefined;
    }
    this.#emit({ type: "undelivered", id: entry.id, reason });
    this.#checkIdle();
  }

  async #tick(): Promise<void> {
    const now = performance.now();
    for (const entry of [...this.#outbox]) {
      const timeoutMs = this.#options.outboxTimeoutMs ?? OUTBOX_TIMEOUT_MS;
      if (now - entry.queuedAt > timeoutMs) {
        this.#outbox.splice(this.#outbox.indexOf(entry), 1);
        const why = !this.#connection
          ? "not connected"
          : entry.kind === "room"
          ? `keys with every member of ${entry.room} were not in place`
          : `${entry.to} could not be reached`;
        this.#undelivered(entry, `not sent within ${timeoutMs / 1000} s: ${why}`);
      }
    }
    const connection = this.#connection;
    if (!connection) return;
    const quiet = now - connection.link.lastReceivedAt;
    if (quiet > connection.limits.idleTimeoutMs + 10_000) {
      // The server pings quiet sessions well before this; silence this long means it is gone.
      connection.link.close();
      return;
    }
    this.#maybeRenew();
    if (now - connection.announcedAt > ANNOUNCE_REFRESH_MS) {
      connection.announcedAt = now;
      connection.link.send({ type: "announce", payload: await this.#announcement(connection) });
    }
    await this.#flush(connection);
  }

  // ---- renewal ---------------------------------------------------------------------------

  /**
   * Starts a renewal in the background when it is due: a separate short connection (this
   * session stays), then the identity file is rewritten and later announcements carry the new
   * certificate, for the same key.
   */
  #maybeRenew(): void {
    const path = this.#options.identityPath;
    const now = this.#options.clock?.() ?? new Date();
    if (!path || this.#renewing || now.getTime() < this.#nextRenewalAt) return;
    if (!renewalDue(this.#identity, now)) return;
    this.#renewing = true;
    void renewIdentity(this.#options.endpoint, this.#identity).then(
      (renewed) =>
        this.#serial(async () => {
          await writeFileAtomic(path, renewed.identityText);
          this.#identity = renewed.identity;
          this.#emit({
            type: "notice",
            message:
              `Renewed this device's certificate (same key); it is valid until ${renewed.identity.cert.notAfter.toISOString()}`,
          });
          const connection = this.#connection;
          if (connection) {
            connection.announcedAt = performance.now();
            connection.link.send({
              type: "announce",
              payload: await this.#announcement(connection),
            });
          }
        }),
      (error) => {
        this.#nextRenewalAt = now.getTime() + RENEW_RETRY_MS;
        this.#emit({
          type: "error",
          code: error instanceof SetupError ? error.code : "renewal_failed",
          message: `Renewing the certificate failed: ${(error as Error).message}; trying again in ${
            RENEW_RETRY_MS / 60_000
          } minutes`,
        });
      },
    ).finally(() => this.#renewing = false);
  }

  // ---- helpers ---------------------------------------------------------------------------

  #require(): Connection {
    if (!this.#connection) {
      throw new RangeError("Not connected right now; try again once reconnected");
    }
    return this.#connection;
  }

  #forgetRoom(room: string): void {
    this.#rooms.delete(room);
    for (const entry of [...this.#outbox]) {
      if (entry.kind === "room" && entry.room === room) {
        this.#outbox.splice(this.#outbox.indexOf(entry), 1);
        this.#undelivered(entry, `left ${room}`);
      }
    }
  }

  #checkText(text: string): void {
    if (text.length === 0) throw new RangeError("Nothing to send");
    if (!textFits(text)) throw new RangeError(`Message too long (at most ${MAX_TEXT_BYTES} bytes)`);
  }

  #plain(text: string, action: boolean): Plaintext {
    return { text, ts: Date.now(), ...(action ? { action: true } : {}) };
  }

  #id(): string {
    return `m${this.#nextId++}`;
  }

  #address(): string {
    const { host, port } = this.#options.endpoint;
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  }

  #idle(): Promise<void> {
    if (this.#outbox.length === 0 && this.#inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #checkIdle(): void {
    if (this.#outbox.length === 0 && this.#inflight.size === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #emit(event: ClientEvent): void {
    if (event.type === "delivered") this.#checkIdle();
    if (event.type === "status") this.#status = event;
    for (const listener of this.#listeners) deliver(listener, event);
  }
}

function deliver(listener: (event: ClientEvent) => void, event: ClientEvent): void {
  try {
    listener(event);
  } catch {
    // A broken listener must not break the client.
  }
}

function describeCause(cause: CloseCause): string {
  switch (cause.kind) {
    case "eof":
    case "closed":
      return "The server closed the connection";
    case "io":
      return `Connection lost (${cause.error.message})`;
    case "protocol":
    case "internal":
      return `The server sent something invalid (${cause.error.message})`;
  }
}
