/**
 * A socket-free world for the end-to-end engine: a CA, devices with real certificates, engines
 * for their sessions, and a small in-memory server that routes their frames the way the real
 * one does (rooms with membership versions, presence, keys to members, relayed messages with
 * acks, lookups). Every delivery goes through one queue, in order, and a test can drop, hold,
 * rewrite or inject frames on their way to any session: the server is the attacker here.
 *
 * @module
 */

import { CertificateCache } from "../../crypto/certificate_cache.ts";
import { sha256 } from "../../crypto/kdf.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { createCA, issueUserCertificate, type KeyedCertificate } from "../../crypto/x509.ts";
import { deviceOf, deviceUri } from "../../protocol/devices.ts";
import type { ClientEvent } from "../../client/events.ts";
import { E2ESession, type Outbound } from "../../client/e2e/engine.ts";
import type { Inbound, MemberDescription } from "../../client/e2e/inbound.ts";
import type { Plaintext } from "../../client/e2e/payloads.ts";
import type { AcceptedDevice, TrustBook } from "../../client/e2e/trust.ts";

/** A trust book in memory. */
export class MemoryTrustBook implements TrustBook {
  readonly entries = new Map<string, AcceptedDevice[]>();
  accepted(user: string): readonly AcceptedDevice[] {
    return this.entries.get(user) ?? [];
  }
  accept(user: string, device: AcceptedDevice): Promise<void> {
    const list = this.accepted(user).filter((entry) => entry.fingerprint !== device.fingerprint);
    this.entries.set(user, [...list, device]);
    return Promise.resolve();
  }
}

/** A device: a certificate of this world's CA, and its own trust book. */
export interface Device {
  readonly user: string;
  readonly device: string;
  readonly issued: KeyedCertificate;
  readonly fingerprint: string;
  readonly digest: Uint8Array;
  readonly trust: MemoryTrustBook;
}

/** A session of a device in the world. */
export interface Party {
  readonly device: Device;
  readonly session: string;
  readonly engine: E2ESession;
  readonly events: ClientEvent[];
  /** Every frame this session sent to the server. */
  readonly sent: Outbound[];
  ended: boolean;
}

interface RoomRecord {
  version: number;
  members: Map<string, Party>;
}

/** What a test may do to a frame on its way to `to`: keep, replace (one or more) or drop ([]). */
export type Intercept = (frame: Inbound, to: Party) => Inbound[] | undefined;

/** The world. */
export class World {
  readonly ca: KeyedCertificate;
  readonly #cache: CertificateCache;
  readonly rooms = new Map<string, RoomRecord>();
  readonly sessions = new Map<string, Party>();
  readonly #queue: { to: Party; frame: Inbound; injected?: boolean }[] = [];
  readonly #announces = new Map<string, string>();
  readonly #agreements = new Map<string, string>();
  readonly #links = new Map<string, string>();
  /** Every frame delivered, for attackers replaying them. */
  readonly delivered: { to: string; frame: Inbound }[] = [];
  intercept: Intercept | undefined;
  clock = Date.now();

  private constructor(ca: KeyedCertificate) {
    this.ca = ca;
    this.#cache = new CertificateCache(ca.cert, "client");
  }

  /** A world with a fresh CA. */
  static async create(): Promise<World> {
    return new World(await createCA({ name: "World CA" }));
  }

  /** Mints a device certificate (as the CA's operator can, for any name). */
  async mint(user: string, device = "main"): Promise<Device> {
    const issued = await issueUserCertificate(this.ca, {
      name: user,
      uris: [deviceUri(user, device)],
    });
    const digest = await sha256(new Uint8Array(issued.cert.publicKey.rawData));
    return {
      user,
      device,
      issued,
      fingerprint: formatFingerprint(digest),
      digest,
      trust: new MemoryTrustBook(),
    };
  }

  /** Starts a session of `device` and sends its announcement. */
  async connect(device: Device): Promise<Party> {
    const session = toBase64Url(randomBytes(16), false);
    const engine = await E2ESession.create({
      local: {
        user: device.user,
        device: device.device,
        certDer: new Uint8Array(device.issued.cert.rawData),
        privateKey: device.issued.privateKey,
        keyFingerprint: device.fingerprint,
        keyDigest: device.digest,
      },
      session,
      verifyCert: (der, now) => this.#cache.verify(der, now),
      deviceOf,
      trust: device.trust,
      now: () => this.clock,
    });
    const party: Party = { device, session, engine, events: [], sent: [], ended: false };
    this.sessions.set(session, party);
    this.#fromClient(party, await engine.announce());
    return party;
  }

  /** The server's description of `party`. */
  describe(party: Party): MemberDescription {
    const agreement = this.#agreements.get(party.session);
    const link = this.#links.get(`${party.device.user}/${party.device.device}`);
    return {
      user: party.device.user,
      device: party.device.device,
      session: party.session,
      announce: this.#announces.get(party.session)!,
      ...(agreement ? { agreement } : {}),
      ...(link ? { link } : {}),
    };
  }

  /** Stores a link the server attaches to `user/device`'s descriptions. */
  setLink(address: string, link: string): void {
    this.#links.set(address, link);
  }

  /** `party` joins `room`, as the server would do it. */
  join(party: Party, room: string): void {
    let record = this.rooms.get(room);
    if (!record) {
      record = { version: 0, members: new Map() };
      this.rooms.set(room, record);
    }
    record.version += 1;
    for (const member of record.members.values()) {
      this.#deliver(member, {
        type: "presence",
        room,
        event: "join",
        version: record.version,
        ...this.describe(party),
      });
    }
    const members = [...record.members.values()].map((member) => this.describe(member));
    record.members.set(party.session, party);
    this.#deliver(party, { type: "joined", room, version: record.version, members });
  }

  /** `party` leaves `room` (`left`), or its session ends (any other reason). */
  leave(party: Party, room: string, reason = "left"): void {
    const record = this.rooms.get(room);
    if (!record?.members.delete(party.session)) return;
    record.version += 1;
    for (const member of record.members.values()) {
      this.#deliver(member, {
        type: "presence",
        room,
        event: "leave",
        user: party.device.user,
        device: party.device.device,
        session: party.session,
        version: record.version,
        reason,
      });
    }
    if (reason === "left") this.#deliver(party, { type: "left", room });
  }

  /** Ends `party`'s session: it leaves every room with `reason`. */
  quit(party: Party, reason = "quit"): void {
    party.ended = true;
    for (const [room, record] of this.rooms) {
      if (record.members.has(party.session)) this.leave(party, room, reason);
    }
    this.sessions.delete(party.session);
  }

  /** `party` types `text` in `room`; the message is sealed when the room is ready. */
  async say(party: Party, room: string, text: string): Promise<boolean> {
    const plain: Plaintext = { text, ts: this.clock };
    const { sealed, effects } = await party.engine.sealRoom(room, plain);
    this.#effects(party, effects);
    if (!sealed) return false;
    const record = this.rooms.get(room)!;
    let accepted = false;
    if (record.members.has(party.session) && sealed.version === record.version) {
      accepted = true;
      for (const member of record.members.values()) {
        if (member === party) continue;
        this.#deliver(member, {
          type: "msg",
          room,
          from: party.device.user,
          device: party.device.device,
          session: party.session,
          ts: this.clock,
          payload: sealed.payload,
        });
      }
    }
    this.#effects(party, await party.engine.roomResolved(room, sealed.epoch, accepted));
    return accepted;
  }

  /** `party` sends a direct message to `user`, looking them up first as needed. */
  async dm(party: Party, user: string, text: string): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { seal, effects } = await party.engine.sealDirect(user, { text, ts: this.clock });
      this.#effects(party, effects);
      if (seal.status === "failed") return seal.reason;
      if (seal.status === "sealed") {
        for (const copy of seal.copies) {
          const target = this.sessions.get(copy.session);
          if (target) {
            this.#deliver(target, {
              type: "dm",
              from: party.device.user,
              device: party.device.device,
              session: party.session,
              ts: this.clock,
              payload: copy.payload,
            });
          }
          party.engine.directResolved(copy.session, copy.epoch, target !== undefined);
        }
        return "sealed";
      }
      await this.settle();
    }
    return "waited";
  }

  /** Moves the clock on by `ms` and runs every session's upkeep, then settles. */
  async advance(ms: number): Promise<void> {
    this.clock += ms;
    for (const party of [...this.sessions.values()]) {
      const effects = await party.engine.tick();
      party.events.push(...effects.events);
      this.#effects(party, effects);
    }
    await this.settle();
  }

  /** Puts a frame on its way to `to` (through the intercept, as the server would send it). */
  #deliver(to: Party, frame: Inbound): void {
    this.#queue.push({ to, frame });
  }

  /** Injects a frame to `to` as if the server sent it (bypassing the intercept). */
  inject(to: Party, frame: Inbound): void {
    this.#queue.push({ to, frame, injected: true });
  }

  /** Delivers everything queued, and what that causes, until the world is quiet. */
  async settle(): Promise<void> {
    for (let steps = 0; this.#queue.length > 0; steps++) {
      if (steps > 100_000) throw new Error("the world did not settle");
      const { to, frame, injected } = this.#queue.shift()!;
      if (to.ended) continue;
      const frames = injected ? [frame] : (this.intercept?.(frame, to) ?? [frame]);
      for (const each of frames) {
        this.delivered.push({ to: to.session, frame: each });
        const effects = await to.engine.handle(each);
        to.events.push(...effects.events);
        this.#effects(to, effects);
      }
    }
  }

  #effects(party: Party, effects: { frames: Outbound[]; events: ClientEvent[] }): void {
    if (effects.events !== party.events) {
      for (const event of effects.events) {
        if (!party.events.includes(event)) party.events.push(event);
      }
    }
    for (const frame of effects.frames) this.#fromClient(party, frame);
  }

  #fromClient(party: Party, frame: Outbound): void {
    party.sent.push(frame);
    switch (frame.type) {
      case "announce":
        this.#announces.set(party.session, frame.payload);
        return;
      case "agreement": {
        this.#agreements.set(party.session, frame.payload);
        const told = new Set<Party>([party]);
        for (const record of this.rooms.values()) {
          if (!record.members.has(party.session)) continue;
          for (const member of record.members.values()) {
            if (told.has(member)) continue;
            told.add(member);
            this.#deliver(member, {
              type: "agreement",
              user: party.device.user,
              device: party.device.device,
              session: party.session,
              payload: frame.payload,
            });
          }
        }
        return;
      }
      case "keys":
        for (const item of frame.items) {
          const target = this.sessions.get(item.to);
          if (!target) continue;
          if (frame.room !== undefined && !this.rooms.get(frame.room)?.members.has(item.to)) {
            continue;
          }
          this.#deliver(target, {
            type: "keys",
            ...(frame.room !== undefined ? { room: frame.room } : {}),
            from: party.device.user,
            device: party.device.device,
            session: party.session,
            payload: item.payload,
          });
        }
        return;
      case "lookup": {
        const sessions = [...this.sessions.values()].filter((p) =>
          p.device.user === frame.user && !p.ended
        );
        this.#deliver(party, {
          type: "peer",
          id: frame.id,
          user: frame.user,
          sessions: sessions.map((p) => this.describe(p)),
        });
        return;
      }
    }
  }

  /** Events of `party` of `type`. */
  eventsOf<T extends ClientEvent["type"]>(
    party: Party,
    type: T,
  ): Extract<ClientEvent, { type: T }>[] {
    return party.events.filter((event) => event.type === type) as Extract<
      ClientEvent,
      { type: T }
    >[];
  }
}
