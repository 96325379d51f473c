/**
 * The chat client: one device's connection to one server. It wires three parts together and
 * holds none of their logic: the connection (`connection.ts`), the end-to-end engine of the
 * current session (`e2e/engine.ts`, which decides everything about keys and trust and knows no
 * socket), and the outbox (`outbox.ts`). It knows nothing of terminals: user interfaces call its
 * methods and render its events (`events.ts`).
 *
 * Everything that touches session state runs through one serial queue, in arrival order: a key
 * package is always stored before the message that needs it is opened, and a new epoch's keys
 * always leave before the first message sealed with it. Network waits (lookups, acks) never
 * block that queue; they are new entries when their replies arrive.
 *
 * @module
 */

import { CertificateCache } from "../crypto/certificate_cache.ts";
import { sha256 } from "../crypto/kdf.ts";
import { deviceOf, isValidDeviceLabel } from "../protocol/devices.ts";
import { ERROR_CODES } from "../protocol/errors.ts";
import type { ClientMessage, ServerMessage, WireLimits } from "../protocol/messages.ts";
import { isValidRoomName, isValidUserName } from "../protocol/names.ts";
import type { CloseCause } from "../protocol/transport.ts";
import { type Endpoint, ServerLink, SetupError } from "./connection.ts";
import { E2ESession, type Effects, type Outbound } from "./e2e/engine.ts";
import { DevicePrekeys, MemorySecretStore, type SecretStore } from "./e2e/device_prekeys.ts";
import { CatchUp, type Cursors, MemoryCursors } from "./catch_up.ts";
import { storeCursors, storeSecrets } from "./store_adapters.ts";
import { E2EError } from "./e2e/errors.ts";
import { MAX_TEXT_BYTES, type Plaintext, textFits } from "./e2e/payloads.ts";
import type { ClientEvent } from "./events.ts";
import { HistoryRecorder } from "./history_recorder.ts";
import type { Identity } from "./identity.ts";
import type { LocalStore } from "./local_store.ts";
import { Outbox, OUTBOX_TIMEOUT_MS, type Outgoing } from "./outbox.ts";
import { RENEW_RETRY_MS, renewalDue, renewIdentity } from "./renewal.ts";
import type { TrustStore } from "./trust_store.ts";
import type { VouchStore } from "./vouches.ts";
import { answerLinkRequest } from "./vouching.ts";
import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { VOUCH_SECRET_BYTES } from "../protocol/invite_token.ts";
import { writeFileAtomic } from "../util/files.ts";

export { MAX_OUTBOX, MAX_RESEALS, OUTBOX_TIMEOUT_MS } from "./outbox.ts";

/** Longest wait for acknowledgements when quitting. */
export const QUIT_GRACE_MS = 10_000;
/** First reconnection delay; it doubles on each failure up to {@linkcode RECONNECT_MAX_MS}. */
export const RECONNECT_INITIAL_MS = 500;
/** Longest reconnection delay. */
export const RECONNECT_MAX_MS = 15_000;

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
  "unknown_certificate",
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
  /**
   * The end-to-end engine's clock in ms (agreement key replacement and grace, chain ages,
   * lookups); tests move it to play a thief a minute later. Defaults to the real one.
   */
  e2eClock?: () => number;
  /**
   * The vouching secrets of this device (`vouches.ts`): with them it vouches for devices it
   * invites, and recognises the device that invited it. Without, it does neither.
   */
  vouches?: VouchStore;
  /**
   * How far this device has read each room's log and its inbox (its local store); in memory by
   * default, so a new process catches up from the start of what the server keeps for it.
   */
  cursors?: Cursors;
  /** Where this device keeps its pre-keys (its local store, encrypted); memory by default. */
  secrets?: SecretStore;
  /**
   * The local history (`local_store.ts`): every `message` and `dm` event, and each of our own
   * messages once delivered, is kept there. Without, nothing is kept.
   */
  localStore?: LocalStore;
}

/** Everything that belongs to one connection and dies with it. */
interface Connection {
  readonly link: ServerLink;
  readonly engine: E2ESession;
  readonly limits: WireLimits;
  /** Device requests waiting for their answer: id to device label. */
  readonly deviceRequests: Map<string, string>;
  readonly catchUp: CatchUp;
  readyReported: boolean;
  fatal?: { code: string; message: string };
}

/** One device's chat client. */
export class ChatClient {
  readonly #options: ChatClientOptions;
  readonly #listeners = new Set<(event: ClientEvent) => void>();
  readonly #certificates: CertificateCache;
  /** Rooms wanted, in join order. */
  readonly #rooms = new Set<string>();
  readonly #outbox: Outbox;
  /** This device's pre-keys (they outlive connections). */
  #prekeys: DevicePrekeys | undefined;
  readonly #cursors: Cursors;
  /** Writes what we show into the local history, if there is one. */
  readonly #history: HistoryRecorder | undefined;
  /** This device's identity; renewal replaces it with a new certificate for the same key. */
  #identity: Identity;
  #keyDigest: Uint8Array | undefined;
  #renewing = false;
  #nextRenewalAt = 0;
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
    this.#outbox = new Outbox(options.outboxTimeoutMs ?? OUTBOX_TIMEOUT_MS);
    const store = options.localStore;
    this.#cursors = options.cursors ?? (store ? storeCursors(store) : new MemoryCursors());
    for (const room of options.rooms) this.#rooms.add(room);
    this.finished = new Promise((resolve) => this.#finish = resolve);
    this.#history = options.localStore &&
      new HistoryRecorder(
        options.localStore,
        options.identity,
        (message) => this.#emit({ type: "error", code: "history", message }),
      );
  }

  /** The local history, when the client keeps one. */
  get localStore(): LocalStore | undefined {
    return this.#options.localStore;
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
    return this.#connection?.engine.session;
  }

  /** The end-to-end engine of the current session (tests inspect it). */
  get engine(): E2ESession | undefined {
    return this.#connection?.engine;
  }

  /** Rooms wanted (joined, or to be joined on the next connection). */
  get rooms(): string[] {
    return [...this.#rooms];
  }

  /** Members of `room` as the prompt shows them, and whether we can send there now. */
  roomState(
    room: string,
  ): { ready: boolean; members: { user: string; device: string; verified: boolean | null }[] } {
    const engine = this.#connection?.engine;
    return {
      ready: engine?.roomReady(room) ?? false,
      members: engine?.roomMembers(room) ?? [],
    };
  }

  /** Members of rooms we are in, for name completion. */
  knownUsers(): string[] {
    const users = new Set<string>();
    for (const room of this.#rooms) {
      for (const member of this.roomState(room).members) users.add(member.user);
    }
    return [...users].sort();
  }

  /**
   * Whether `user`'s messages currently count as verified: null when no device of theirs was
   * seen, false when some device of theirs we see is not accepted.
   */
  isVerified(user: string): boolean | null {
    if (user === this.user) return true;
    return this.#connection?.engine.isVerified(user) ?? null;
  }

  /**
   * Subscribes to events; returns the unsubscribe function. The first listener also gets what
   * happened before it subscribed, and any later one the latest `status` event: user interfaces
   * subscribe after {@linkcode ChatClient.start}, which already connected (and may have accepted
   * a key), and must still learn that it did.
   */
  on(listener: (event: ClientEvent) => void): () => void {
    this.#listeners.add(listener);
    const early = this.#early;
    this.#early = undefined;
    if (early) { for (const event of early) deliver(listener, event); }
    else if (this.#status) deliver(listener, this.#status);
    return () => this.#listeners.delete(listener);
  }

  /** Events from before the first listener subscribed (bounded), kept for it. */
  #early: ClientEvent[] | undefined = [];

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
      resealed: 0,
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
      retried: false,
    });
  }

  /** Joins `room` (now if connected, and on every later connection). */
  join(room: string): void {
    if (!isValidRoomName(room)) {
      throw new RangeError(`${JSON.stringify(room)} is not a room name ([a-z0-9][a-z0-9_-]{0,31})`);
    }
    if (this.#rooms.has(room)) return this.#emit({ type: "notice", message: `Already in ${room}` });
    this.#rooms.add(room);
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

  /** Looks `user` up; answered by a `whois` event listing each device key and its trust. */
  whois(user: string): void {
    if (!isValidUserName(user)) throw new RangeError(`${JSON.stringify(user)} is not a user name`);
    const connection = this.#require();
    this.#apply(connection, connection.engine.whois(user));
  }

  /**
   * Accepts the key of `user` whose fingerprint starts with `fingerprint` (at least 16 hex
   * digits, compared out of band), so it gets our keys and its messages count as verified.
   */
  trust(user: string, fingerprint: string): Promise<void> {
    return this.#serial(async () => {
      const connection = this.#require();
      this.#apply(connection, await connection.engine.trust(user, fingerprint));
      await this.#flush(connection);
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
      for (const entry of this.#outbox.drain()) {
        this.#undelivered(entry.id, "not sent before quitting");
      }
      for (const { entry } of this.#outbox.dropInflight()) {
        this.#undelivered(entry.id, "not confirmed before quitting");
      }
      await this.#connection?.link.closeGracefully();
    });
    this.#shutdown(0, "Disconnected");
  }

  // ---- connection lifecycle --------------------------------------------------------------

  async #connect(): Promise<void> {
    const { endpoint } = this.#options;
    const identity = this.#identity;
    this.#keyDigest ??= await sha256(new Uint8Array(identity.cert.publicKey.rawData));
    const { link, welcome } = await ServerLink.open(endpoint, identity);
    const store = this.#options.localStore;
    this.#prekeys ??= await DevicePrekeys.open(
      this.#options.secrets ?? (store ? storeSecrets(store) : new MemorySecretStore()),
    );
    const engine = await E2ESession.create({
      local: {
        user: identity.user,
        device: identity.device,
        certDer: identity.certDer,
        privateKey: identity.privateKey,
        keyFingerprint: identity.keyFingerprint,
        keyDigest: this.#keyDigest,
      },
      session: welcome.session,
      verifyCert: (der, now) => this.#certificates.verify(der, now),
      deviceOf,
      trust: this.#options.trustStore,
      prekeys: this.#prekeys,
      ...(this.#options.e2eClock ? { now: this.#options.e2eClock } : {}),
    });
    const connection: Connection = {
      link,
      engine,
      limits: welcome.limits,
      deviceRequests: new Map(),
      catchUp: new CatchUp(this.#cursors),
      readyReported: false,
    };
    this.#connection = connection;
    this.#outbox.resetPace(welcome.limits, performance.now());
    this.#send(connection, await engine.announce());
    if (welcome.prekeys) {
      // The server keeps traffic for offline devices (it says what it holds of our pre-keys).
      for (const frame of await engine.prekeyUpload(welcome.prekeys)) this.#send(connection, frame);
      // The inbox first: it holds the keys of what the rooms' logs carried meanwhile.
      link.send(await connection.catchUp.start());
    }
    if (welcome.link) await this.#ownLink(connection, welcome.link);
    for (const room of this.#rooms) link.send({ type: "join", room });
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

  #ended(connection: Connection, cause: CloseCause): void {
    if (this.#connection !== connection) return;
    this.#connection = undefined;
    for (const { entry } of this.#outbox.dropInflight()) {
      this.#undelivered(entry.id, "the connection was lost before the server confirmed it");
    }
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
    for (const entry of this.#outbox.drain()) this.#undelivered(entry.id, "the client stopped");
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

  /** Sends what the engine asked for and shows what it reported. */
  #apply(connection: Connection, effects: Effects): void {
    for (const frame of effects.frames) this.#send(connection, frame);
    for (const event of effects.events) this.#emit(event);
  }

  #send(connection: Connection, frame: Outbound | ClientMessage): void {
    connection.link.send(frame as ClientMessage);
  }

  async #handle(connection: Connection, message: ServerMessage): Promise<void> {
    if (this.#connection !== connection) return;
    const { engine } = connection;
    switch (message.type) {
      case "joined": {
        // The server may put us into rooms of ours we did not ask for here (after a reconnect,
        // or joined from another device): they are ours too.
        if (!this.#rooms.has(message.room)) this.#rooms.add(message.room);
        this.#apply(connection, await engine.handle(message));
        if (message.more) break;
        const request = await connection.catchUp.joined(message.room, message.seq);
        if (request) connection.link.send(request);
        break;
      }
      case "msg":
        if (connection.catchUp.hold(message)) break;
        this.#apply(connection, await engine.handle(message));
        await connection.catchUp.seen(message.room, message.seq);
        break;
      case "keys":
        // Live keys wait while the inbox is read: it holds older epochs of the same senders.
        if (connection.catchUp.holdKeys(message)) break;
        this.#apply(connection, await engine.handle(message));
        break;
      case "presence":
      case "offline_device":
      case "announce":
      case "agreement":
      case "dm":
      case "bundles":
        this.#apply(connection, await engine.handle(message));
        break;
      case "inbox":
        this.#apply(connection, await engine.handleStored(message));
        for (const frame of await connection.catchUp.inboxRead(message)) {
          connection.link.send(frame);
        }
        for (const keys of connection.catchUp.keysAfterInbox(message)) {
          this.#apply(connection, await engine.handle(keys));
        }
        break;
      case "history": {
        this.#apply(connection, await engine.handleStored(message));
        for (const live of await connection.catchUp.historyRead(message)) {
          this.#apply(connection, await engine.handle(live));
          await connection.catchUp.seen(live.room, live.seq);
        }
        break;
      }
      case "prekeys_stored":
        for (const frame of await engine.prekeyUpload({ signed: true, onetime: message.onetime })) {
          this.#send(connection, frame);
        }
        break;
      case "peer":
        this.#apply(
          connection,
          await engine.handle({
            type: "peer",
            id: message.id,
            user: message.user,
            sessions: message.sessions.map((session) => ({ user: message.user, ...session })),
          }),
        );
        break;
      case "link":
        if (message.session === engine.session) await this.#ownLink(connection, message.link);
        else this.#apply(connection, await engine.handle(message));
        break;
      case "link_requests":
        await this.#vouch(connection, message.requests);
        break;
      case "device_linked": {
        if (!connection.deviceRequests.delete(message.id)) break;
        await this.#options.vouches?.removeInvited(message.device);
        this.#emit({
          type: "notice",
          message:
            `You vouched for ${this.user}/${message.device}: whoever accepts this device now accepts it too`,
        });
        break;
      }
      case "left":
        this.#apply(connection, await engine.handle(message));
        this.#forgetRoom(message.room);
        this.#emit({ type: "leave", room: message.room, user: this.user });
        break;
      case "ack":
        await this.#settle(connection, message.id, {
          accepted: true,
          recipients: message.recipients,
        }, message.seq);
        break;
      case "device_invite": {
        const device = connection.deviceRequests.get(message.id);
        if (device === undefined) break;
        connection.deviceRequests.delete(message.id);
        let token = message.token;
        const vouches = this.#options.vouches;
        if (vouches) {
          // A secret the server never sees: the new device proves with it that it holds this
          // token, so this device can vouch for its key when it enrols.
          const secret = randomBytes(VOUCH_SECRET_BYTES);
          await vouches.addInvited(device, secret);
          token = `${token}.${toBase64Url(secret, false)}`;
        }
        this.#emit({ type: "device_invite", user: this.user, device, token });
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
      case "error":
        await this.#serverError(connection, message);
        break;
      case "rooms":
        this.#emit({ type: "rooms", rooms: message.rooms });
        break;
      case "who":
        this.#emit({
          type: "who",
          room: message.room,
          members: message.members.map((user) => ({ user, verified: this.isVerified(user) })),
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
    this.#reportReady(connection);
    await this.#flush(connection);
  }

  /** The server holds a link for this device: accept the device that invited us, if proven. */
  async #ownLink(connection: Connection, link: string): Promise<void> {
    const secret = this.#options.vouches?.own(this.device);
    if (!secret) return; // enrolled without a vouching secret: nobody invited it from a device
    this.#apply(connection, await connection.engine.ownLink(link, secret));
  }

  /** Vouches for each device this one invited whose request proves its key. */
  async #vouch(
    connection: Connection,
    requests: Extract<ServerMessage, { type: "link_requests" }>["requests"],
  ): Promise<void> {
    const vouches = this.#options.vouches;
    if (!vouches) return;
    for (const request of requests) {
      const answer = await answerLinkRequest(
        request,
        this.#identity,
        vouches,
        this.#certificates,
        new Date(),
      );
      if (answer.kind === "refused") {
        this.#emit({ type: "error", code: "bad_link_request", message: answer.reason });
      } else if (answer.kind === "link") {
        const id = `d${this.#nextId++}`;
        connection.deviceRequests.set(id, answer.device);
        connection.link.send({ type: "device_link", id, device: answer.device, link: answer.link });
      }
    }
  }

  /** `ready` once per connection, when the first room can take messages. */
  #reportReady(connection: Connection): void {
    const first = this.#rooms.values().next().value;
    if (connection.readyReported || first === undefined || !connection.engine.roomReady(first)) {
      return;
    }
    connection.readyReported = true;
    this.#emit({ type: "ready", user: this.user, room: first });
  }

  async #serverError(
    connection: Connection,
    message: Extract<ServerMessage, { type: "error" }>,
  ): Promise<void> {
    if (message.fatal) {
      connection.fatal = { code: message.code, message: message.message };
      return;
    }
    if (message.id) {
      if (this.#outbox.inflight(message.id)) {
        return await this.#settle(connection, message.id, {
          accepted: false,
          code: message.code,
          reason: message.message,
        });
      }
      if (connection.deviceRequests.delete(message.id)) {
        return this.#emit({ type: "error", code: message.code, message: message.message });
      }
      const lookup = connection.engine.lookupFailed(message.id, message.message);
      if (lookup.events.length > 0 || lookup.frames.length > 0) {
        return this.#apply(connection, lookup);
      }
      if (message.id.startsWith("l")) return; // a lookup the engine no longer waits for
    }
    if (
      message.room && !connection.engine.isJoined(message.room) && this.#rooms.has(message.room)
    ) {
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

  /** A frame of ours was acked or refused: tell the engine, then the user. */
  async #settle(
    connection: Connection,
    frameId: string,
    answer: Parameters<Outbox["settle"]>[1],
    seq?: number,
  ): Promise<void> {
    const { flight, settled } = this.#outbox.settle(frameId, answer);
    if (flight?.kind === "room") {
      // Our own message is in the log now: catching up later does not read it again.
      if (seq) await connection.catchUp.seen(flight.room, seq);
      this.#apply(
        connection,
        await connection.engine.roomResolved(flight.room, flight.epoch, answer.accepted),
      );
    } else if (flight?.kind === "dm") {
      connection.engine.directResolved(flight.target, flight.epoch, answer.accepted);
      if (!answer.accepted && flight.entry.kind === "dm") {
        connection.engine.forgetDirectory(flight.entry.to);
      }
    }
    if (settled.outcome === "delivered") {
      this.#emit({
        type: "delivered",
        id: settled.id,
        recipients: settled.recipients,
        ...(seq ? { seq } : {}),
      });
    } else if (settled.outcome === "undelivered") {
      this.#undelivered(settled.id, settled.reason);
    }
  }

  // ---- sending ---------------------------------------------------------------------------

  #queue(entry: Outgoing): string {
    if (this.#stopped) throw new RangeError("The client has stopped");
    this.#outbox.add(entry);
    this.#emit({
      type: "queued",
      id: entry.id,
      ...(entry.kind === "room" ? { room: entry.room } : { to: entry.to }),
      text: entry.plain.text,
      ...(entry.plain.action ? { action: true as const } : {}),
      ts: new Date(entry.plain.ts).toISOString(),
    });
    void this.#serial(() => this.#connection && this.#flush(this.#connection));
    return entry.id;
  }

  /** Seals and sends every queued message whose keys are in place, within the pace. */
  async #flush(connection: Connection): Promise<void> {
    for (const entry of this.#outbox.entries()) {
      if (this.#connection !== connection) return;
      const sent = entry.kind === "room"
        ? await this.#sendRoom(connection, entry)
        : await this.#sendDirect(connection, entry);
      if (sent === "paced") return;
      if (sent) this.#outbox.remove(entry);
    }
    this.#checkIdle();
  }

  async #sendRoom(
    connection: Connection,
    entry: Extract<Outgoing, { kind: "room" }>,
  ): Promise<boolean | "paced"> {
    if (!this.#rooms.has(entry.room)) {
      this.#undelivered(entry.id, `no longer in ${entry.room}`);
      return true;
    }
    if (!connection.engine.roomReady(entry.room)) return false;
    if (!this.#outbox.pace(connection.limits, performance.now())) return "paced";
    const { sealed, effects } = await connection.engine.sealRoom(entry.room, entry.plain);
    this.#apply(connection, effects);
    if (!sealed) return false;
    this.#outbox.sentRoom(entry, entry.room, sealed.epoch);
    connection.link.send({
      type: "msg",
      id: entry.id,
      room: entry.room,
      payload: sealed.payload,
      version: sealed.version,
    });
    return true;
  }

  /**
   * Seals a direct message once for each accepted device of the recipient that is online, and
   * once for each of our own other devices; `delivered` follows once every copy is answered.
   */
  async #sendDirect(
    connection: Connection,
    entry: Extract<Outgoing, { kind: "dm" }>,
  ): Promise<boolean | "paced"> {
    if (!this.#outbox.pace(connection.limits, performance.now())) return "paced";
    const { seal, effects } = await connection.engine.sealDirect(entry.to, entry.plain);
    this.#apply(connection, effects);
    if (seal.status === "wait") return false;
    if (seal.status === "failed") {
      this.#undelivered(entry.id, seal.reason);
      return true;
    }
    // Each copy is named by where it goes: a live session, or an offline device's inbox.
    const copies = seal.copies.map((copy, i) => ({
      ...copy,
      id: `${entry.id}-${i}`,
      target: copy.session ?? `${copy.to}/${copy.device}`,
    }));
    this.#outbox.sentDirect(entry, copies);
    for (const copy of copies) {
      connection.link.send({
        type: "dm",
        id: copy.id,
        to: copy.to,
        ...(copy.session ? { session: copy.session } : { device: copy.device }),
        payload: copy.payload,
      });
    }
    return true;
  }

  #undelivered(id: string, reason: string): void {
    this.#emit({ type: "undelivered", id, reason });
    this.#checkIdle();
  }

  async #tick(): Promise<void> {
    const now = performance.now();
    const connection = this.#connection;
    for (const entry of this.#outbox.expired(now)) {
      const why = !connection
        ? "not connected"
        : entry.kind === "room"
        ? connection.engine.roomWaitReason(entry.room)
        : `${entry.to} could not be reached`;
      this.#undelivered(entry.id, `not sent within ${this.#outbox.timeout / 1000} s: ${why}`);
    }
    if (!connection) return;
    const quiet = now - connection.link.lastReceivedAt;
    if (quiet > connection.limits.idleTimeoutMs + 10_000) {
      // The server pings quiet sessions well before this; silence this long means it is gone.
      connection.link.close();
      return;
    }
    this.#maybeRenew();
    this.#apply(connection, await connection.engine.tick());
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
            connection.engine.renewed(renewed.identity.certDer);
            this.#send(connection, await connection.engine.announce());
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
    for (const entry of this.#outbox.entries()) {
      if (entry.kind === "room" && entry.room === room) {
        this.#outbox.remove(entry);
        this.#undelivered(entry.id, `left ${room}`);
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
    if (this.#outbox.idle) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #checkIdle(): void {
    if (this.#outbox.idle) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }

  #emit(event: ClientEvent): void {
    this.#history?.observe(event);
    if (event.type === "delivered") this.#checkIdle();
    if (this.#early && this.#early.length < MAX_EARLY_EVENTS) this.#early.push(event);
    if (event.type === "status") this.#status = event;
    for (const listener of this.#listeners) deliver(listener, event);
  }
}

/** Events kept for the first listener, at most. */
export const MAX_EARLY_EVENTS = 1000;

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
