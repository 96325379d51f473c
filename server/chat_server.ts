/**
 * The chat server: accepts TLS connections, runs set-up on each, registers verified users as
 * sessions, routes their messages, and enforces every limit. One sweep timer handles set-up
 * deadlines, pings and idle sessions for all connections at once, so an idle session costs no
 * timer of its own.
 *
 * @module
 */

import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import type { X509Certificate } from "../crypto/x509.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame } from "../protocol/framing.ts";
import {
  type ClientMessage,
  decodeClientMessage,
  MAX_LINK_REQUESTS,
  SESSION_ID_BYTES,
} from "../protocol/messages.ts";
import { type CloseCause, FramedConnection } from "../protocol/transport.ts";
import { type AcceptedStream, TlsListener } from "./tls_listener.ts";
import { type ClientCertificate, ClientCertificates } from "./client_certificates.ts";
import { CLOSE_GRACE_MS, DEFAULT_LIMITS, type ServerLimits, SHUTDOWN_GRACE_MS } from "./limits.ts";
import { type Logger, silentLogger } from "./log.ts";
import { RoomRegistry } from "./rooms.ts";
import { recipientsOf, route, type RouterContext } from "./router.ts";
import { deliverWhenCaughtUp } from "./backpressure.ts";
import type { ServerIdentity } from "./server_identity.ts";
import { Session } from "./session.ts";
import {
  type RecordStatus,
  ServerSetup,
  type SetupContext,
  type SetupRegistrar,
  type VerifiedClient,
} from "./setup.ts";
import type { DeviceAdmin } from "./registrar.ts";
import type { CertificateRecord } from "./ca_store.ts";
import { decodeSinglePem } from "../crypto/pem.ts";
import { type DeviceDirectory, OfflineDelivery } from "./offline.ts";
import { type ChatStore, DEFAULT_RETENTION_MS } from "./store/mod.ts";
import { ModerationPolicy } from "./moderation/mod.ts";
import { Moderator } from "./moderator.ts";
import type { ServerHooks } from "./server_hooks.ts";

/** How often the store's retention is applied by default: every ten minutes. */
export const PRUNE_INTERVAL_MS = 10 * 60_000;

/**
 * What the CA records (its SQLite store, in production): the server admits only certificates
 * recorded as issued and not revoked, and closes sessions whose certificate is revoked.
 */
export interface CertificateRecords {
  /** Whether the certificate with this serial and SHA-256 fingerprint is recorded. */
  recordStatus(serial: string, fingerprint: string): RecordStatus;
  revokedSerials(): Set<string>;
  /** Changes whenever another process may have revoked something. */
  dataVersion(): number;
  /** The certificates of `name`'s `device`, oldest first. */
  byDevice(name: string, device: string): CertificateRecord[];
  /** Device labels of `name` with a certificate neither revoked nor expired at `now`. */
  activeDevices(name: string, now: Date): string[];
  /** The certificate with this serial, if recorded. */
  bySerial(serial: string): CertificateRecord | undefined;
}

/** Everything a server needs to start. */
export interface ChatServerOptions {
  hostname: string;
  port: number;
  caCert: X509Certificate;
  identity: ServerIdentity;
  records: CertificateRecords;
  /** Enrolment, renewal and the device frames; without it they are refused. */
  registrar?: SetupRegistrar & DeviceAdmin;
  limits?: Partial<ServerLimits>;
  logger?: Logger;
  /**
   * The store of persistent rooms, room logs, inboxes and pre-keys (issue 12). The server uses
   * it but does not close it. Without one (undefined), rooms live while they have sessions and
   * nothing is kept: the behaviour before issue 12, kept for comparison (the benchmark).
   */
  store?: ChatStore;
  /** The store's retention (what it was opened with), so kept descriptions stay fresh. */
  retentionMs?: number;
  /** How often retention is applied; default {@linkcode PRUNE_INTERVAL_MS}. */
  pruneIntervalMs?: number;
  /** The store's clock, ms since the epoch (tests move it); default `Date.now`. */
  clock?: () => number;
  /**
   * User names of the server's administrators, who act as owners in every room (with a store;
   * `openchat serve --admin`, recorded in the data directory by `server/admins.ts`).
   */
  admins?: Iterable<string>;
  /** The message of the day (`openchat serve --motd FILE`, checked by `readMotd`), or none. */
  motd?: string | null;
  /** A cluster's hooks (`server/cluster/`); without them this is the embedded single server. */
  hooks?: ServerHooks;
}

/** Counts for monitoring and tests. */
export interface ServerStats {
  sessions: number;
  pending: number;
  rooms: number;
}

/** A running chat server. */
export class ChatServer implements RouterContext {
  readonly limits: ServerLimits;
  readonly rooms: RoomRegistry;
  readonly #listener: TlsListener;
  readonly #log: Logger;
  readonly #setupContext: SetupContext;
  readonly #records: CertificateRecords;
  /** Enrolment, renewal and device administration, when the server has its CA. */
  readonly devices: DeviceAdmin | undefined;
  /** Persistent rooms, logs, inboxes and pre-keys, when the server has a store. */
  readonly offline: OfflineDelivery | undefined;
  /** Moderation of rooms (roles, bans, mutes, topics, modes), when the server has a store. */
  readonly moderator: Moderator | undefined;
  readonly #pruneIntervalMs: number;
  /** Work that outlives the frame that started it (enrolment, revocation); awaited at shutdown. */
  readonly #background = new Set<Promise<void>>();
  /** Revoked serials already acted on. */
  #knownRevoked: Set<string>;
  /** Connections in set-up, with the monotonic time they were accepted. */
  readonly #pending = new Map<FramedConnection, number>();
  /** Sessions by `user/device`. */
  readonly #sessions = new Map<string, Session>();
  /** The same sessions by session id (direct key packages name the session). */
  readonly #byId = new Map<string, Session>();
  /** Sessions by user: one per device online. */
  readonly #byUser = new Map<string, Set<Session>>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #hooks: ServerHooks | undefined;
  #revocationVersion: number;
  #stopping = false;

  /** The server's log (the router says there why the store refused a request). */
  get log(): Logger {
    return this.#log;
  }

  private constructor(options: ChatServerOptions, listener: TlsListener) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.logger ?? silentLogger;
    this.#records = options.records;
    this.#revocationVersion = options.records.dataVersion();
    this.devices = options.registrar;
    this.rooms = new RoomRegistry(this.limits.maxRoomMembers, this.limits.maxRoomsPerSession);
    this.#knownRevoked = options.store ? options.records.revokedSerials() : new Set();
    this.#pruneIntervalMs = options.pruneIntervalMs ?? PRUNE_INTERVAL_MS;
    this.#hooks = options.hooks;
    const clock = options.clock ?? Date.now;
    // Moderation lives in the store beside the rooms it governs: no store, no moderation.
    const policy = options.store
      ? new ModerationPolicy({
        store: options.store,
        admins: options.admins ?? [],
        clock,
        motd: options.motd ?? null,
      })
      : undefined;
    const offlineOptions = options.store && {
      store: options.store,
      directory: certificateDirectory(options.records, options.registrar),
      clock,
      retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
      gate: policy,
    };
    this.offline = offlineOptions &&
      (this.#hooks?.createDelivery(this, offlineOptions) ??
        new OfflineDelivery(this, offlineOptions));
    this.moderator = policy && this.offline
      ? new Moderator(this, policy, this.offline, this.#log)
      : undefined;
    const certificates = new ClientCertificates(options.caCert);
    this.#setupContext = {
      caCert: options.caCert,
      identity: options.identity,
      certificateStatus: (serial, fingerprint) => options.records.recordStatus(serial, fingerprint),
      verifyClientCertificate: (der: Uint8Array, now: Date): Promise<ClientCertificate> =>
        certificates.verify(der, now),
      registrar: options.registrar,
    };
    this.#listener = listener;
  }

  /**
   * Starts listening and serving.
   *
   * @throws {Error} when the address cannot be bound.
   */
  static async start(options: ChatServerOptions): Promise<ChatServer> {
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    const listener = await TlsListener.listen({
      hostname: options.hostname,
      port: options.port,
      certPem: options.identity.certPem,
      keyPem: options.identity.keyPem,
      handshakeTimeoutMs: limits.authTimeoutMs,
      maxConnections: limits.maxSessions + limits.maxPendingSetups,
      maxSetupsPerAddress: limits.maxSetupsPerAddress,
    });
    const server = new ChatServer(options, listener);
    // Devices revoked while the server was not running are forgotten now (idempotent).
    server.#forgetRevoked(server.#knownRevoked);
    server.#startTimers();
    server.#hooks?.attach(server);
    void server.#acceptLoop();
    server.#log.log("info", "listening", { addr: server.address });
    return server;
  }

  /** The address bound (with the real port when 0 was asked for). */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** `host:port`, bracketing IPv6. */
  get address(): string {
    const { hostname, port } = this.addr;
    return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
  }

  /** Current counts. */
  stats(): ServerStats {
    return { sessions: this.#sessions.size, pending: this.#pending.size, rooms: this.rooms.size };
  }

  /** {@inheritDoc RouterContext.offerLinks} */
  offerLinks(session: Session): void {
    const requests = this.devices?.pendingLinks(session.user, session.device) ?? [];
    for (let i = 0; i < requests.length; i += MAX_LINK_REQUESTS) {
      session.send({ type: "link_requests", requests: requests.slice(i, i + MAX_LINK_REQUESTS) });
    }
  }

  /** {@inheritDoc RouterContext.sessionById} */
  sessionById(id: string): Session | undefined {
    const session = this.#byId.get(id) ?? this.#hooks?.remoteSessionById(id);
    return session && !session.ending ? session : undefined;
  }

  /** {@inheritDoc RouterContext.sessionsOf} */
  sessionsOf(user: string): Session[] {
    const local = [...this.#byUser.get(user) ?? []];
    return this.#hooks ? [...local, ...this.#hooks.remoteSessionsOf(user)] : local;
  }

  /**
   * Closes at once every live session whose certificate is among `serials` (a device revoked
   * from another session; revocations by `openchat ca revoke` are noticed by polling).
   */
  closeRevoked(serials: readonly string[]): void {
    this.#forgetRevoked(serials);
    const revoked = new Set(serials);
    for (const session of [...this.#sessions.values()]) {
      if (revoked.has(session.serial)) this.#closeRevokedSession(session);
    }
  }

  /**
   * Ends a session: it leaves its rooms (the others see why), and with a `code` it is sent a
   * fatal error frame first. Safe to call more than once.
   */
  closeSession(
    session: Session,
    code?: ErrorCode,
    message: string = code ? ERROR_CODES[code] : "",
  ): void {
    if (session.closed) return;
    session.closed = true;
    this.#byId.delete(session.id);
    if (this.#sessions.get(session.key) === session) {
      this.#sessions.delete(session.key);
      const devices = this.#byUser.get(session.user);
      devices?.delete(session);
      if (devices?.size === 0) this.#byUser.delete(session.user);
    }
    if (this.offline) this.offline.endSession(session, code ?? "quit");
    else this.rooms.leaveAll(session, code ?? "quit");
    if (code) {
      // A slow reader is told at once, ahead of the backlog it is not reading; anyone else gets
      // everything queued for it first, then the reason.
      const frame = encodeFrame({ type: "error", code, message, fatal: true });
      session.conn.sendFinal(frame, code === "slow_reader");
    }
    session.ending = true;
    void session.conn.close(CLOSE_GRACE_MS);
    this.#log.log(code && code !== "server_shutdown" ? "warn" : "info", "disconnect", {
      user: session.user,
      session: session.id,
      addr: session.conn.remote,
      code: code ?? "quit",
    });
  }

  /**
   * Stops accepting, tells every connection the server is going down, waits up to
   * {@linkcode SHUTDOWN_GRACE_MS} for those frames to be written, and closes everything.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#log.log("info", "shutdown", {
      sessions: this.#sessions.size,
      pending: this.#pending.size,
    });
    for (const timer of this.#timers) clearInterval(timer);
    try {
      this.#listener.close();
    } catch {
      // Already closed.
    }
    const goodbye = encodeFrame({
      type: "error",
      code: "server_shutdown",
      message: ERROR_CODES.server_shutdown,
      fatal: true,
    });
    for (const conn of this.#pending.keys()) conn.send(goodbye);
    for (const session of this.#sessions.values()) {
      session.conn.send(goodbye);
      session.ending = true;
    }
    const connections = [
      ...this.#pending.keys(),
      ...[...this.#sessions.values()].map((s) => s.conn),
    ];
    await Promise.all(connections.map((conn) => conn.close(SHUTDOWN_GRACE_MS)));
    await Promise.all(this.#handlers);
    await Promise.all(this.#background);
  }

  /** Applies the store's retention now (the server also does every `pruneIntervalMs`). */
  async prune(): Promise<void> {
    if (!this.offline) return;
    const removed = await this.offline.prune();
    if (removed.roomEntries + removed.inboxItems + removed.sessions + removed.listEntries > 0) {
      this.#log.log("info", "pruned", { ...removed });
    }
  }

  /** Runs store work that no frame waits for, logging a failure; shutdown waits for it. */
  #inBackground(what: string, work: () => Promise<void>): void {
    const running = work().catch((error) => {
      this.#log.log("error", "store_failed", { in: what, error: String(error?.stack ?? error) });
    });
    this.#background.add(running);
    void running.finally(() => this.#background.delete(running));
  }

  /** Devices of these newly revoked serials stop being member devices (see `offline.ts`). */
  #forgetRevoked(serials: Iterable<string>): void {
    const offline = this.offline;
    if (!offline) return;
    const devices: { user: string; device: string }[] = [];
    for (const serial of serials) {
      this.#knownRevoked.add(serial);
      const record = this.#records.bySerial(serial);
      if (record) devices.push({ user: record.name, device: record.device });
    }
    if (devices.length > 0) this.#inBackground("revoked", () => offline.devicesRevoked(devices));
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#stopping) {
      const conn = await this.#listener.accept();
      if (!conn) return;
      const handler = this.#handle(conn).catch((error) => {
        this.#log.log("error", "internal_error", { error: String(error?.stack ?? error) });
      });
      this.#handlers.add(handler);
      void handler.finally(() => this.#handlers.delete(handler));
    }
  }

  async #handle(tls: AcceptedStream): Promise<void> {
    const conn = new FramedConnection(tls, {
      maxFrameBytes: this.limits.maxFrameBytes,
      maxOutboundBytes: this.limits.maxOutboundBytes,
      behindBytes: this.limits.behindBytes,
      caughtUpBytes: this.limits.caughtUpBytes,
      writeTiming: "turn",
    });
    const addr = conn.remote;
    if (this.#stopping || this.#pending.size >= this.limits.maxPendingSetups) {
      this.#refuse(conn, "server_full", "Too many connections are setting up; try again shortly");
      return;
    }
    // One deadline for the whole set-up, TLS handshake included: from the TCP accept.
    this.#pending.set(conn, tls.acceptedAt);
    this.#log.log("debug", "connect", { addr });
    const setup = new ServerSetup(this.#setupContext);
    let session: Session | undefined;
    const cause = await conn.run((body) => {
      const message = decodeClientMessage(body);
      if (session) {
        // Nothing more is read from a session while anyone this frame would reach is behind.
        const from = session;
        return deliverWhenCaughtUp(
          () => recipientsOf(this, from, message),
          () => route(this, from, message),
          () => !from.closed,
        );
      }
      return this.#setupStep(setup, conn, tls, message).then((registered) => {
        session = registered;
      });
    });
    this.#pending.delete(conn);
    this.#ended(conn, addr, session, cause);
  }

  async #setupStep(
    setup: ServerSetup,
    conn: FramedConnection,
    tls: AcceptedStream,
    message: ClientMessage,
  ): Promise<Session | undefined> {
    const step = await setup.handle(message);
    if (step.close) {
      // Enrolled or renewed: the certificate is the whole answer; no session follows.
      this.#pending.delete(conn);
      if (step.reply) conn.sendFinal(encodeFrame(step.reply));
      void conn.close(CLOSE_GRACE_MS);
      this.#log.log("info", step.reply?.type ?? "setup_closed", { addr: conn.remote });
      const enrolled = step.enrolled;
      const offline = this.offline;
      if (enrolled && offline) {
        // A member user's new device is a member device of its rooms from now on.
        this.#inBackground(
          "enrolled",
          () => offline.deviceEnrolled(enrolled.user, enrolled.device),
        );
      }
      if (enrolled?.invitedBy) {
        // The device that asked for the invite may be online: it can vouch for the new one now.
        for (const inviter of this.sessionsOf(enrolled.user)) {
          if (inviter.device === enrolled.invitedBy) this.offerLinks(inviter);
        }
      }
      return undefined;
    }
    if (step.reply) conn.sendMessage(step.reply);
    if (!step.verified) return undefined;
    // What the store holds of this device's pre-keys, for `welcome` (so it can top them up).
    const prekeys = await this.offline?.prekeyStatus(
      `${step.verified.user}/${step.verified.device}`,
    ).catch((error) => {
      this.#log.log("error", "store_failed", { in: "welcome", error: String(error) });
      return undefined;
    });
    if (conn.closed) return undefined;
    const session = this.#register(step.verified, conn, prekeys);
    this.#pending.delete(conn);
    tls.endSetup();
    this.moderator?.greet(session);
    this.offerLinks(session);
    return session;
  }

  #register(
    client: VerifiedClient,
    conn: FramedConnection,
    prekeys?: { signed: boolean; onetime: number },
  ): Session {
    const key = `${client.user}/${client.device}`;
    const existing = this.#sessions.get(key);
    if (!existing && this.#sessions.size >= this.limits.maxSessions) {
      throw new ProtocolError("server_full");
    }
    const id = toBase64Url(randomBytes(SESSION_ID_BYTES), false);
    const session = new Session(
      id,
      client,
      conn,
      this.limits,
      (s) => this.closeSession(s, "slow_reader"),
    );
    if (existing) {
      this.closeSession(
        existing,
        "replaced",
        "This device logged in again; this session was replaced",
      );
    }
    session.link = this.devices?.linkOf(client.user, client.device);
    this.#sessions.set(key, session);
    this.#byId.set(id, session);
    const devices = this.#byUser.get(client.user) ?? new Set<Session>();
    devices.add(session);
    this.#byUser.set(client.user, devices);
    this.#hooks?.registered(session);
    session.send({
      type: "welcome",
      user: client.user,
      device: client.device,
      session: id,
      ...(session.link ? { link: session.link } : {}),
      ...(prekeys ? { prekeys } : {}),
      limits: {
        maxFrameBytes: this.limits.maxFrameBytes,
        ratePerSecond: this.limits.ratePerSecond,
        rateBurst: this.limits.rateBurst,
        idleTimeoutMs: this.limits.idleTimeoutMs,
      },
    });
    this.#log.log("info", "auth_ok", {
      user: client.user,
      device: client.device,
      session: id,
      serial: client.serial,
      addr: conn.remote,
    });
    return session;
  }

  #ended(
    conn: FramedConnection,
    addr: string,
    session: Session | undefined,
    cause: CloseCause,
  ): void {
    switch (cause.kind) {
      case "protocol":
        if (session) this.closeSession(session, cause.error.code, cause.error.message);
        else this.#refuse(conn, cause.error.code, cause.error.message);
        return;
      case "internal":
        this.#log.log("error", "internal_error", {
          addr,
          error: String(cause.error?.stack ?? cause.error),
        });
        if (session) {
          this.closeSession(session, "bad_field", "The server could not handle that frame");
        } else this.#refuse(conn, "bad_field", "The server could not handle that frame");
        return;
      case "io":
      case "eof":
      case "closed":
        if (session) this.closeSession(session);
        else {
          void conn.close();
          this.#log.log("debug", "disconnect", { addr, during: "setup", cause: cause.kind });
        }
    }
  }

  /** Refuses a connection that never became a session: error frame, log line, close. */
  #refuse(conn: FramedConnection, code: ErrorCode, message: string): void {
    conn.sendMessage({ type: "error", code, message, fatal: true });
    void conn.close(CLOSE_GRACE_MS);
    this.#log.log("warn", "refused", { addr: conn.remote, code, reason: message });
  }

  #startTimers(): void {
    const { authTimeoutMs, idleTimeoutMs, pingIntervalMs, revocationPollMs, slowReaderTimeoutMs } =
      this.limits;
    const sweepMs = Math.max(
      10,
      Math.min(
        1000,
        authTimeoutMs / 4,
        idleTimeoutMs / 4,
        pingIntervalMs / 2,
        slowReaderTimeoutMs / 4,
      ),
    );
    this.#timers.push(setInterval(() => this.#guarded("sweep", () => this.#sweep()), sweepMs));
    this.#timers.push(
      setInterval(
        () => this.#guarded("revocation", () => this.#checkRevocations()),
        revocationPollMs,
      ),
    );
    if (this.offline) {
      this.#timers.push(
        setInterval(() => this.#inBackground("prune", () => this.prune()), this.#pruneIntervalMs),
      );
    }
  }

  /** Runs a timer's work so that a bug in it is logged, never fatal to the whole server. */
  #guarded(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      this.#log.log("error", "internal_error", {
        in: what,
        error: String((error as Error)?.stack ?? error),
      });
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const [conn, acceptedAt] of this.#pending) {
      if (now - acceptedAt > this.limits.authTimeoutMs) {
        this.#pending.delete(conn);
        this.#refuse(
          conn,
          "auth_timeout",
          `Set-up did not complete within ${this.limits.authTimeoutMs} ms`,
        );
      }
    }
    for (const session of this.#sessions.values()) {
      const behindSince = session.conn.behindSince;
      if (behindSince !== undefined && now - behindSince > this.limits.slowReaderTimeoutMs) {
        this.closeSession(
          session,
          "slow_reader",
          `More than ${this.limits.behindBytes} bytes behind for ${this.limits.slowReaderTimeoutMs} ms`,
        );
        continue;
      }
      const quiet = now - session.conn.lastReceivedAt;
      if (quiet > this.limits.idleTimeoutMs) {
        this.closeSession(
          session,
          "idle_timeout",
          `Nothing received for ${this.limits.idleTimeoutMs} ms`,
        );
      } else if (quiet > this.limits.pingIntervalMs) {
        if (session.pingSentAt === undefined || session.pingSentAt < session.conn.lastReceivedAt) {
          session.pingSentAt = now;
          session.send({ type: "ping" });
        }
      }
    }
  }

  #checkRevocations(): void {
    let version: number;
    let revoked: Set<string>;
    try {
      version = this.#records.dataVersion();
      if (version === this.#revocationVersion) return;
      revoked = this.#records.revokedSerials();
    } catch (error) {
      this.#log.log("error", "revocation_check_failed", { error: (error as Error).message });
      return;
    }
    this.#revocationVersion = version;
    // Revoked by another process (`openchat ca revoke`): their devices stop being member devices.
    this.#forgetRevoked([...revoked].filter((serial) => !this.#knownRevoked.has(serial)));
    for (const session of [...this.#sessions.values()]) {
      if (revoked.has(session.serial)) this.#closeRevokedSession(session);
    }
  }

  #closeRevokedSession(session: Session): void {
    this.#log.log("warn", "revoked", {
      user: session.user,
      device: session.device,
      session: session.id,
      serial: session.serial,
    });
    this.closeSession(session, "revoked");
  }
}

/** The CA's records as the store's view of devices: which are valid, and their certificates. */
function certificateDirectory(
  records: CertificateRecords,
  devices: DeviceAdmin | undefined,
): DeviceDirectory {
  const encoded = new Map<string, string>();
  return {
    linkOf: (user, device) => devices?.linkOf(user, device),
    awaitsLink: (user, device) => devices?.awaitsLink(user, device) ?? false,
    validDevices: (user) => records.activeDevices(user, new Date()),
    currentCert(user, device) {
      const now = Date.now();
      const certificates = records.byDevice(user, device);
      for (let i = certificates.length - 1; i >= 0; i--) {
        const record = certificates[i]!;
        if (record.revokedAt || Date.parse(record.notAfter) <= now) continue;
        let cert = encoded.get(record.serial);
        if (!cert) {
          cert = toBase64Url(decodeSinglePem(record.certPem, "CERTIFICATE"), false);
          if (encoded.size >= 10_000) encoded.clear();
          encoded.set(record.serial, cert);
        }
        return cert;
      }
      return undefined;
    },
  };
}
