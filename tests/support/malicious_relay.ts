/**
 * The attacker of docs/SECURITY.md, on the wire between real clients and a real `openchat
 * serve`: a relay run by whoever controls the server and so holds the CA key. It
 *
 * - records every frame, both ways, per client connection (`frames`, `framesOf`);
 * - drops, holds and releases (so reorders), rewrites and replays frames in either direction,
 *   per connection, by predicate (`drop`, `hold`, `reorder`, `rewrite`, `intercept`), and
 *   injects frames of its own (`inject`);
 * - mints device certificates for any name with the CA key, unrecorded (`mint`), or recorded,
 *   as the operator can with `openchat ca issue` (`issueRecorded`);
 * - runs sessions of its own (`fakeSession`): a real end-to-end engine behind a minted
 *   certificate, which gives it genuine announcements, agreement keys, key packages and sealed
 *   messages to inject;
 * - keeps every key it ever holds (its fake sessions, and snapshots of any engine it controls or
 *   stole, `keep`/`watch`), and tries all of them on everything it captured (`loot`), the way
 *   `thief.ts` does.
 *
 * Tests name connections by the `welcome` the server sent on them (`connection`). Rules are
 * tried in the order they were added; the first whose predicate matches decides the frame.
 *
 * @module
 */

import { CertificateAuthority } from "../../server/authority.ts";
import { CertificateCache } from "../../crypto/certificate_cache.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { sha256 } from "../../crypto/kdf.ts";
import { randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { type Issuer, issueUserCertificate, type KeyedCertificate } from "../../crypto/x509.ts";
import { deviceOf, deviceUri } from "../../protocol/devices.ts";
import { E2ESession, type Effects, type KeySnapshot } from "../../client/e2e/engine.ts";
import type { Inbound, MemberDescription } from "../../client/e2e/inbound.ts";
import type { ReceivingChain } from "../../client/e2e/chains.ts";
import { assertEquals } from "./assert.ts";
import { openchat } from "./cli.ts";
import { MemoryTrustBook } from "./e2e_world.ts";
import { type CapturedFrame, Relay } from "./relay.ts";
import { Thief } from "./thief.ts";

/** A frame as JSON. */
export type Frame = Record<string, unknown>;
/** Which way a frame goes. */
export type Direction = CapturedFrame["direction"];
/** A predicate over frames seen by the relay. */
export type Match = (frame: CapturedFrame) => boolean;

/**
 * A predicate from a pattern: `connection` and `direction` compare with the capture, every
 * other key with the frame's field of that name (`type`, `room`, `from`, `session`, `user`...).
 */
export function where(
  pattern: { connection?: number; direction?: Direction } & Frame,
): Match {
  const { connection, direction, ...fields } = pattern;
  return (frame) =>
    (connection === undefined || frame.connection === connection) &&
    (direction === undefined || frame.direction === direction) &&
    Object.entries(fields).every(([key, value]) => frame.message[key] === value);
}

/** A rule: the first `times` frames matching `match` become what `act` returns. */
interface Rule {
  match: Match;
  act: (frame: CapturedFrame) => Frame[] | undefined;
  times: number;
}

/** Frames held back by {@linkcode MaliciousRelay.hold}, to be released later, in any order. */
export class Held {
  readonly frames: CapturedFrame[] = [];
  constructor(private readonly relay: MaliciousRelay, readonly stop: () => void) {}

  /** Sends every held frame on its way now, in the order given (default: as held). */
  async release(order: CapturedFrame[] = this.frames): Promise<void> {
    for (const frame of order) {
      await this.relay.send(frame.connection, frame.direction, frame.message);
    }
    this.frames.splice(0);
  }
}

/** A device certificate the relay minted with the CA key (the server never recorded it). */
export interface MintedDevice {
  readonly user: string;
  readonly device: string;
  readonly issued: KeyedCertificate;
  /** SHA-256 of its public key, colon-separated hex: what `/whois` and `key_changed` show. */
  readonly fingerprint: string;
  readonly digest: Uint8Array;
}

/**
 * A session of the attacker's own, behind a minted certificate: a real engine that makes real
 * announcements, agreement keys, key packages and sealed messages, which the relay injects
 * stamped as the server stamps them. It never connects to the server.
 */
export class FakeSession {
  #announce = "";
  #agreement: string | undefined;

  private constructor(
    readonly minted: MintedDevice,
    readonly session: string,
    readonly engine: E2ESession,
  ) {}

  /** Makes the session (its keys) for `minted`, verifying peers against `ca`. */
  static async create(minted: MintedDevice, ca: CertificateCache): Promise<FakeSession> {
    const session = toBase64Url(randomBytes(16), false);
    const engine = await E2ESession.create({
      local: {
        user: minted.user,
        device: minted.device,
        certDer: new Uint8Array(minted.issued.cert.rawData),
        privateKey: minted.issued.privateKey,
        keyFingerprint: minted.fingerprint,
        keyDigest: minted.digest,
      },
      session,
      verifyCert: (der, now) => ca.verify(der, now),
      deviceOf,
      trust: new MemoryTrustBook(),
    });
    const fake = new FakeSession(minted, session, engine);
    const announce = await engine.announce();
    if (announce.type === "announce") fake.#announce = announce.payload;
    return fake;
  }

  /** The member description the server would give of this session. */
  describe(): MemberDescription {
    return {
      user: this.minted.user,
      device: this.minted.device,
      session: this.session,
      announce: this.#announce,
      ...(this.#agreement ? { agreement: this.#agreement } : {}),
    };
  }

  /** An `announce` frame for this session, as the server sends a re-announcement. */
  announceFrame(): Inbound {
    return { type: "announce", ...this.#stamp(), announce: this.#announce };
  }

  /**
   * Makes the engine believe it joined `room` at `version` with `members` (descriptions of real
   * sessions, `MaliciousRelay.describe`); returns the key packages it then hands them, as the
   * `keys` frames each recipient would get.
   */
  async enter(room: string, version: number, members: MemberDescription[]): Promise<Inbound[]> {
    return this.#frames(
      await this.engine.handle({ type: "joined", room, version, members, offline: [], seq: 0 }),
    );
  }

  /** Seals `text` for `room` (entered first) and returns the `msg` frame a member would get. */
  async say(room: string, text: string): Promise<Inbound> {
    const { sealed, effects } = await this.engine.sealRoom(room, { text, ts: Date.now() });
    this.#frames(effects);
    if (!sealed) throw new Error(`The fake session cannot send in ${room} yet`);
    await this.engine.roomResolved(room, sealed.epoch, true);
    return {
      type: "msg",
      room,
      ...this.#stampFrom(),
      ts: Date.now(),
      payload: sealed.payload,
      seq: 0,
    };
  }

  /** What a snapshot of this session's memory holds (the attacker has it all along). */
  keySnapshot(): KeySnapshot {
    return this.engine.keySnapshot();
  }

  #stamp() {
    return { user: this.minted.user, device: this.minted.device, session: this.session };
  }

  #stampFrom() {
    return { from: this.minted.user, device: this.minted.device, session: this.session };
  }

  /** The engine's outbound frames, as what their recipients would get; remembers agreements. */
  #frames(effects: Effects): Inbound[] {
    const frames: Inbound[] = [];
    for (const frame of effects.frames) {
      if (frame.type === "agreement") this.#agreement = frame.payload;
      if (frame.type !== "keys") continue;
      for (const item of frame.items) {
        frames.push({
          type: "keys",
          ...(frame.room !== undefined ? { room: frame.room } : {}),
          ...this.#stampFrom(),
          payload: item.payload,
        });
      }
    }
    return frames;
  }
}

/** The relay of an attacker holding the CA key. */
export class MaliciousRelay {
  readonly #relay: Relay;
  readonly #rules: Rule[] = [];
  readonly #snapshots: KeySnapshot[] = [];
  readonly #fakes: FakeSession[] = [];
  readonly #watchers: ReturnType<typeof setInterval>[] = [];
  readonly #seen = new Set<string>();

  private constructor(
    relay: Relay,
    /** The CA's signing handle: certificates for anyone. */
    readonly issuer: Issuer,
    readonly caPem: string,
    /** The server's data directory (the operator's `openchat ca` commands use it). */
    readonly dataDir: string,
    readonly certificates: CertificateCache,
  ) {
    this.#relay = relay;
    relay.intercept = (frame) => {
      const index = this.#rules.findIndex((rule) => rule.times > 0 && rule.match(frame));
      if (index < 0) return undefined;
      const rule = this.#rules[index]!;
      rule.times -= 1;
      return rule.act(frame);
    };
  }

  /** Starts a relay to the server on `serverPort`, with the CA of `dataDir` (its key included). */
  static async start(dataDir: string, serverPort: number): Promise<MaliciousRelay> {
    const ca = await CertificateAuthority.load(dataDir);
    try {
      const relay = await Relay.start(ca.issuer, ca.certPem, serverPort);
      return new MaliciousRelay(
        relay,
        ca.issuer,
        ca.certPem,
        dataDir,
        new CertificateCache(ca.cert, "client"),
      );
    } finally {
      ca.close();
    }
  }

  /** The port clients dial. */
  get port(): number {
    return this.#relay.port;
  }

  /** Every frame either side sent, as read (before any rule). */
  get frames(): readonly CapturedFrame[] {
    return this.#relay.frames;
  }

  /** Frames the relay sent on its own. */
  get injected(): readonly CapturedFrame[] {
    return this.#relay.injected;
  }

  /** Frames of `connection` going `direction` (both ways if omitted), optionally of one `type`. */
  framesOf(connection: number, direction?: Direction, type?: string): CapturedFrame[] {
    return this.frames.filter((f) =>
      f.connection === connection && (!direction || f.direction === direction) &&
      (!type || f.message.type === type)
    );
  }

  /**
   * The first captured frame at position `after` of `frames` or later that matches, waiting up
   * to `timeoutMs`. Once a frame is captured, its forwarding is queued: anything injected on
   * the same connection afterwards arrives after it.
   */
  async waitFor(
    match: Match,
    options: { after?: number; timeoutMs?: number } = {},
  ): Promise<CapturedFrame> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const found = this.frames.slice(options.after ?? 0).find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error("The relay never saw the frame it waited for");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // ---- who is who ----------------------------------------------------------------------------

  /**
   * The latest connection on which the server welcomed `user/device` (one numbered above
   * `after`, to wait for a reconnection), waiting up to `timeoutMs` for it.
   */
  async connection(
    user: string,
    device = "main",
    options: { after?: number; timeoutMs?: number } = {},
  ): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 20_000);
    for (;;) {
      const welcome = this.frames.findLast((f) =>
        f.direction === "to_client" && f.message.type === "welcome" && f.message.user === user &&
        f.message.device === device && f.connection > (options.after ?? -1)
      );
      if (welcome) return welcome.connection;
      if (Date.now() > deadline) throw new Error(`${user}/${device} never connected`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The `welcome` of `connection`: whose session it carries. */
  welcome(connection: number): { user: string; device: string; session: string } {
    const welcome = this.framesOf(connection, "to_client", "welcome")[0];
    if (!welcome) throw new Error(`Connection ${connection} was not welcomed`);
    const { user, device, session } = welcome.message as Record<string, string>;
    return { user: user!, device: device!, session: session! };
  }

  /** The session id of `connection`. */
  sessionOf(connection: number): string {
    return this.welcome(connection).session;
  }

  /** The member description of `connection`'s session, from what its client sent. */
  describe(connection: number): MemberDescription {
    const announce = this.framesOf(connection, "to_server", "announce").at(-1);
    if (!announce) throw new Error(`Connection ${connection} has not announced`);
    const agreement = this.framesOf(connection, "to_server", "agreement").at(-1);
    return {
      ...this.welcome(connection),
      announce: String(announce.message.payload),
      ...(agreement ? { agreement: String(agreement.message.payload) } : {}),
    };
  }

  // ---- acting on frames ------------------------------------------------------------------------

  /**
   * Adds a rule: the next `times` frames matching `match` become what `act` returns (undefined:
   * passed on unchanged; a list: sent instead, in order; empty: dropped). Returns its removal.
   */
  intercept(
    match: Match,
    act: (frame: CapturedFrame) => Frame[] | undefined,
    times = Infinity,
  ): () => void {
    const rule: Rule = { match, act, times };
    this.#rules.push(rule);
    return () => {
      rule.times = 0;
    };
  }

  /** Drops the next `times` frames matching `match`. */
  drop(match: Match, times = Infinity): () => void {
    return this.intercept(match, () => [], times);
  }

  /** Sends the next `times` frames matching `match` as `change` makes them. */
  rewrite(match: Match, change: (message: Frame) => Frame, times = Infinity): () => void {
    return this.intercept(match, (frame) => [change(frame.message)], times);
  }

  /** Holds back the next `times` frames matching `match` until released. */
  hold(match: Match, times = Infinity): Held {
    const held: Held = new Held(this, () => stop());
    const stop = this.intercept(match, (frame) => {
      held.frames.push(frame);
      return [];
    }, times);
    return held;
  }

  /**
   * Reorders: holds the next frame matching `match`, and delivers it right after the one that
   * matches next (so that one overtakes it).
   */
  reorder(match: Match): void {
    let held: CapturedFrame | undefined;
    this.intercept(match, (frame) => {
      if (!held) {
        held = frame;
        return [];
      }
      return [frame.message, held.message];
    }, 2);
  }

  /** Sends `message` on `connection`, to its client or to the server, as if from the other end. */
  async send(connection: number, direction: Direction, message: Frame): Promise<void> {
    if (direction === "to_client") await this.#relay.inject(connection, message);
    else await this.#relay.injectToServer(connection, message);
  }

  /** Sends `message` to the client of `connection`, as if the server sent it. */
  async inject(connection: number, message: Frame | Inbound): Promise<void> {
    await this.send(connection, "to_client", message as Frame);
  }

  /** Sends a captured frame again (to `connection`, by default where it first went). */
  async replay(frame: CapturedFrame, connection = frame.connection): Promise<void> {
    await this.send(connection, frame.direction, frame.message);
  }

  // ---- the CA key ------------------------------------------------------------------------------

  /** Mints a certificate for `user/device` with the CA key, recorded nowhere. */
  async mint(user: string, device = "main"): Promise<MintedDevice> {
    const issued = await issueUserCertificate(this.issuer, {
      name: user,
      uris: [deviceUri(user, device)],
    });
    const digest = await sha256(new Uint8Array(issued.cert.publicKey.rawData));
    return { user, device, issued, fingerprint: formatFingerprint(digest), digest };
  }

  /**
   * Issues and records a certificate for `user/device` as the operator can (`openchat ca issue
   * ... --device`), writing the identity file to `out`; the server then admits it.
   */
  async issueRecorded(user: string, device: string, out: string): Promise<string> {
    const result = await openchat([
      "ca",
      "issue",
      user,
      "--device",
      device,
      "--data-dir",
      this.dataDir,
      "--out",
      out,
      "--force",
    ]);
    assertEquals(result.code, 0, result.stderr);
    return out;
  }

  /** A session of the attacker's own as `user/device`, behind a freshly minted certificate. */
  async fakeSession(user: string, device = "main"): Promise<FakeSession> {
    const fake = await FakeSession.create(await this.mint(user, device), this.certificates);
    this.#fakes.push(fake);
    return fake;
  }

  // ---- keys and loot ---------------------------------------------------------------------------

  /** Keeps a snapshot of keys the attacker holds (an engine it runs, or a stolen one). */
  keep(snapshot: KeySnapshot): void {
    const signature = describeSnapshot(snapshot);
    if (this.#seen.has(signature)) return;
    this.#seen.add(signature);
    this.#snapshots.push(snapshot);
  }

  /**
   * Keeps a snapshot of `engine()` every `everyMs` until the relay closes: the keys of a client
   * the attacker runs (an impostor), over its whole life, not only at the end.
   */
  watch(engine: () => E2ESession | undefined, everyMs = 100): void {
    const take = () => {
      try {
        const current = engine();
        if (current) this.keep(current.keySnapshot());
      } catch {
        // Between two states of the engine: the next tick takes it.
      }
    };
    take();
    this.#watchers.push(setInterval(take, everyMs));
  }

  /**
   * Everything the attacker captured, as each frame's recipient would get it: frames the server
   * sent (as sent), and frames clients sent (keys items, room and direct messages), stamped with
   * their sender as the server would, whether or not the server ever delivered them.
   */
  capturedInbound(): Inbound[] {
    const inbound: Inbound[] = [];
    for (const frame of [...this.frames, ...this.injected]) {
      const m = frame.message;
      if (frame.direction === "to_client") {
        if (m.type === "keys" || m.type === "msg" || m.type === "dm") inbound.push(m as Inbound);
        continue;
      }
      if (m.type !== "keys" && m.type !== "msg" && m.type !== "dm") continue;
      let sender: { user: string; device: string; session: string };
      try {
        sender = this.welcome(frame.connection);
      } catch {
        continue;
      }
      const stamp = { from: sender.user, device: sender.device, session: sender.session };
      if (m.type === "keys") {
        for (const item of m.items as { to: string; payload: string }[]) {
          inbound.push({
            type: "keys",
            ...(typeof m.room === "string" ? { room: m.room } : {}),
            ...stamp,
            payload: item.payload,
          });
        }
      } else if (m.type === "msg") {
        inbound.push({
          type: "msg",
          room: String(m.room),
          ...stamp,
          ts: 0,
          payload: String(m.payload),
          seq: 0,
        });
      } else {
        inbound.push({ type: "dm", ...stamp, ts: 0, payload: String(m.payload) });
      }
    }
    return inbound;
  }

  /**
   * Tries every key the attacker holds (its fake sessions now, and every snapshot kept) on
   * everything it captured; returns the texts it opened.
   */
  async loot(extra: KeySnapshot[] = []): Promise<string[]> {
    for (const fake of this.#fakes) this.keep(fake.keySnapshot());
    for (const snapshot of extra) this.keep(snapshot);
    const frames = this.capturedInbound();
    const opened = new Set<string>();
    for (const snapshot of this.#snapshots) {
      // A thief steps the chains it reads with: each try starts from a copy.
      for (const text of await new Thief(copySnapshot(snapshot)).read(frames)) opened.add(text);
    }
    return [...opened];
  }

  /** Captured frames (both ways, and injected) whose text contains any of `markers`. */
  leaks(markers: string[]): CapturedFrame[] {
    return [...this.frames, ...this.injected].filter((frame) =>
      markers.some((marker) => frame.text.includes(marker))
    );
  }

  /** Stops watching, listening and relaying. */
  close(): void {
    for (const watcher of this.#watchers) clearInterval(watcher);
    this.#relay.close();
  }
}

/** A copy of `snapshot` whose chains step on independently. */
export function copySnapshot(snapshot: KeySnapshot): KeySnapshot {
  const received = new Map<string, Map<string, ReceivingChain[]>>();
  for (const [scope, sessions] of snapshot.received) {
    received.set(
      scope,
      new Map([...sessions].map(([session, list]) => [session, list.map((c) => c.clone())])),
    );
  }
  const sending = new Map([...snapshot.sending].map(([scope, chain]) => [scope, chain.clone()]));
  return { ...snapshot, received, sending };
}

/** A short description of what a snapshot holds, so identical snapshots are kept once. */
function describeSnapshot(snapshot: KeySnapshot): string {
  const chains: string[] = [];
  for (const [scope, sessions] of snapshot.received) {
    for (const [session, list] of sessions) {
      for (const chain of list) chains.push(`${scope}|${session}|${chain.epoch}|${chain.next}`);
    }
  }
  for (const [scope, chain] of snapshot.sending) {
    chains.push(`>${scope}|${chain.epoch}|${chain.next}`);
  }
  return `${snapshot.session}|${[...snapshot.agreementKeys.keys()].join(",")}|${chains.join(";")}`;
}
