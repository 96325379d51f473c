/**
 * A socket-free world for the end-to-end engine: a CA, devices with real certificates, engines
 * for their sessions, and a small in-memory server that routes their frames the way the real
 * one does: persistent rooms with user members and membership versions, presence, offline
 * member devices, keys to members, relayed messages with acks and a room log, device inboxes,
 * pre-key bundles, lookups. Every delivery goes through one queue, in order, and a test can
 * drop, hold, rewrite or inject frames on their way to any session: the server is the attacker
 * here.
 *
 * @module
 */

import { CertificateCache } from "../../crypto/certificate_cache.ts";
import { sha256 } from "../../crypto/kdf.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { createCA, issueUserCertificate, type KeyedCertificate } from "../../crypto/x509.ts";
import { deviceOf, deviceUri } from "../../protocol/devices.ts";
import type { HistoryEntry, InboxItem, OfflineDevice } from "../../protocol/messages.ts";
import type { ClientEvent } from "../../client/events.ts";
import { E2ESession, type Outbound } from "../../client/e2e/engine.ts";
import { DevicePrekeys, MemorySecretStore } from "../../client/e2e/device_prekeys.ts";
import type { Inbound, MemberDescription, Stored } from "../../client/e2e/inbound.ts";
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

/** A device: a certificate of this world's CA, its own trust book and its own secrets. */
export interface Device {
  readonly user: string;
  readonly device: string;
  readonly issued: KeyedCertificate;
  readonly fingerprint: string;
  readonly digest: Uint8Array;
  readonly trust: MemoryTrustBook;
  /** What the device keeps on disk (its pre-keys): it outlives its sessions. */
  readonly secrets: MemorySecretStore;
  /** The room log sequence it has read up to, per room (as its local store would keep it). */
  readonly lastSeq: Map<string, number>;
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
  /** Live member sessions. */
  members: Map<string, Party>;
  /** Member users (persistent, whether online or not). */
  users: Set<string>;
  log: HistoryEntry[];
}

interface Published {
  signed?: string;
  onetime: string[];
}

/** What a test may do to a frame on its way to `to`: keep, replace (one or more) or drop ([]). */
export type Intercept = (frame: Inbound, to: Party) => Inbound[] | undefined;

/** The world. */
export class World {
  readonly ca: KeyedCertificate;
  readonly #cache: CertificateCache;
  readonly rooms = new Map<string, RoomRecord>();
  readonly sessions = new Map<string, Party>();
  /** Every enrolled device, by address. */
  readonly devices = new Map<string, Device>();
  /** Each device's inbox, by address. */
  readonly inboxes = new Map<string, InboxItem[]>();
  readonly #prekeys = new Map<string, Published>();
  readonly #queue: { to: Party; frame: Inbound; injected?: boolean }[] = [];
  /** Every session ever described, by id (stored traffic names its senders). */
  readonly #described = new Map<string, MemberDescription>();
  readonly #announces = new Map<string, string>();
  readonly #agreements = new Map<string, string>();
  readonly #links = new Map<string, string>();
  #inboxSeq = 0;
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

  /** Mints (and enrols) a device certificate, as the CA's operator can, for any name. */
  async mint(user: string, device = "main"): Promise<Device> {
    const issued = await issueUserCertificate(this.ca, {
      name: user,
      uris: [deviceUri(user, device)],
    });
    const digest = await sha256(new Uint8Array(issued.cert.publicKey.rawData));
    const minted: Device = {
      user,
      device,
      issued,
      fingerprint: formatFingerprint(digest),
      digest,
      trust: new MemoryTrustBook(),
      secrets: new MemorySecretStore(),
      lastSeq: new Map(),
    };
    this.devices.set(`${user}/${device}`, minted);
    return minted;
  }

  /** Starts a session of `device`: it announces and publishes its pre-keys. */
  async connect(device: Device): Promise<Party> {
    const session = toBase64Url(randomBytes(16), false);
    const address = `${device.user}/${device.device}`;
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
      prekeys: await DevicePrekeys.open(device.secrets),
      now: () => this.clock,
    });
    const party: Party = { device, session, engine, events: [], sent: [], ended: false };
    this.sessions.set(session, party);
    this.#fromClient(party, await engine.announce());
    const held = this.#prekeys.get(address);
    for (
      const frame of await engine.prekeyUpload({
        signed: held?.signed !== undefined,
        onetime: held?.onetime.length ?? 0,
      })
    ) {
      this.#fromClient(party, frame);
    }
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

  #offlineEntry(device: Device): OfflineDevice {
    const link = this.#links.get(`${device.user}/${device.device}`);
    return {
      user: device.user,
      device: device.device,
      cert: toBase64Url(new Uint8Array(device.issued.cert.rawData), false),
      ...(link ? { link } : {}),
    };
  }

  /** Member devices of `record` with no live session there. */
  #offline(record: RoomRecord, except?: Device): OfflineDevice[] {
    const live = new Set([...record.members.values()].map((p) => p.device));
    return [...this.devices.values()]
      .filter((d) => record.users.has(d.user) && !live.has(d) && d !== except)
      .map((d) => this.#offlineEntry(d));
  }

  /** `party` joins `room`, as the server would do it (its user becomes a member). */
  join(party: Party, room: string): void {
    let record = this.rooms.get(room);
    if (!record) {
      record = { version: 0, members: new Map(), users: new Set(), log: [] };
      this.rooms.set(room, record);
    }
    record.version += 1;
    record.users.add(party.device.user);
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
    this.#deliver(party, {
      type: "joined",
      room,
      version: record.version,
      members,
      offline: this.#offline(record, party.device),
      seq: record.log.length,
    });
  }

  /** `party` leaves `room` (`left`: its user's membership ends), or its session ends (other reasons). */
  leave(party: Party, room: string, reason = "left"): void {
    const record = this.rooms.get(room);
    if (!record?.members.delete(party.session)) return;
    record.version += 1;
    const stays = reason !== "left" && record.users.has(party.device.user);
    if (reason === "left") record.users.delete(party.device.user);
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
        ...(reason === "left" ? { member: false } : {}),
        ...(stays ? { offline: this.#offlineEntry(party.device) } : {}),
      });
    }
    if (reason === "left") this.#deliver(party, { type: "left", room });
  }

  /** Ends `party`'s session: it leaves every room with `reason` (its user stays a member). */
  quit(party: Party, reason = "quit"): void {
    party.ended = true;
    for (const [room, record] of this.rooms) {
      if (record.members.has(party.session)) this.leave(party, room, reason);
    }
    this.sessions.delete(party.session);
  }

  /**
   * Reconnects `device` as a returning member: a new session, its inbox drained, then each room
   * of its user caught up from the log after what it read, then joined live (as a client does).
   */
  async reconnect(device: Device): Promise<Party> {
    const party = await this.connect(device);
    const address = `${device.user}/${device.device}`;
    const items = this.inboxes.get(address) ?? [];
    this.inboxes.set(address, []);
    await this.#stored(party, {
      type: "inbox",
      items,
      sessions: this.#senders(items.map((item) => item.session)),
      dropped: 0,
      done: true,
    });
    for (const [room, record] of this.rooms) {
      if (!record.users.has(device.user)) continue;
      const after = device.lastSeq.get(room) ?? 0;
      const entries = record.log.filter((entry) => entry.seq > after);
      await this.#stored(party, {
        type: "history",
        room,
        entries,
        sessions: this.#senders(entries.map((entry) => entry.session)),
        done: true,
      });
      this.join(party, room);
    }
    await this.settle();
    return party;
  }

  #senders(sessions: string[]): MemberDescription[] {
    return [...new Set(sessions)].map((id) => this.#described.get(id)!).filter(Boolean);
  }

  async #stored(party: Party, message: Stored): Promise<void> {
    const effects = await party.engine.handleStored(message);
    party.events.push(...effects.events);
    for (const event of effects.events) {
      if (event.type === "message" && event.seq) {
        const last = party.device.lastSeq.get(event.room) ?? 0;
        party.device.lastSeq.set(event.room, Math.max(last, event.seq));
      }
    }
    for (const frame of effects.frames) this.#fromClient(party, frame);
  }

  /** `party` types `text` in `room`; the message is sealed when the room is ready. */
  async say(party: Party, room: string, text: string): Promise<boolean> {
    const plain: Plaintext = { text, ts: this.clock };
    const { sealed, effects } = await party.engine.sealRoom(room, plain);
    this.#effects(party, effects);
    if (!sealed) return false;
    await this.settle(); // the room's keys (to offline devices too) are out before the message
    const record = this.rooms.get(room)!;
    let accepted = false;
    if (record.members.has(party.session) && sealed.version === record.version) {
      accepted = true;
      const entry: HistoryEntry = {
        seq: record.log.length + 1,
        from: party.device.user,
        device: party.device.device,
        session: party.session,
        ts: this.clock,
        payload: sealed.payload,
      };
      record.log.push(entry);
      party.device.lastSeq.set(room, entry.seq);
      for (const member of record.members.values()) {
        if (member === party) continue;
        this.#deliver(member, { type: "msg", room, ...entry });
      }
    }
    this.#effects(party, await party.engine.roomResolved(room, sealed.epoch, accepted));
    return accepted;
  }

  /** `party` sends a direct message to `user`, looking them up first as needed. */
  async dm(party: Party, user: string, text: string): Promise<string> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const { seal, effects } = await party.engine.sealDirect(user, { text, ts: this.clock });
      this.#effects(party, effects);
      if (seal.status === "failed") return seal.reason;
      if (seal.status === "sealed") {
        for (const copy of seal.copies) {
          const from = {
            from: party.device.user,
            device: party.device.device,
            session: party.session,
            ts: this.clock,
            payload: copy.payload,
          };
          if (copy.session) {
            const target = this.sessions.get(copy.session);
            if (target) this.#deliver(target, { type: "dm", ...from });
            party.engine.directResolved(copy.session, copy.epoch, target !== undefined);
          } else {
            const address = `${copy.to}/${copy.device}`;
            this.#toInbox(address, { kind: "dm", ...from });
            party.engine.directResolved(address, copy.epoch, true);
          }
        }
        return "sealed";
      }
      await this.settle();
    }
    return "waited";
  }

  #toInbox(address: string, item: Omit<InboxItem, "seq">): void {
    const inbox = this.inboxes.get(address) ?? [];
    inbox.push({ ...item, seq: ++this.#inboxSeq } as InboxItem);
    this.inboxes.set(address, inbox);
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
        if (each.type === "msg") {
          const last = to.device.lastSeq.get(each.room) ?? 0;
          to.device.lastSeq.set(each.room, Math.max(last, each.seq));
        }
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
        this.#described.set(party.session, this.describe(party));
        return;
      case "agreement": {
        this.#agreements.set(party.session, frame.payload);
        this.#described.set(party.session, this.describe(party));
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
          const from = {
            ...(frame.room !== undefined ? { room: frame.room } : {}),
            from: party.device.user,
            device: party.device.device,
            session: party.session,
            payload: item.payload,
          };
          if (item.to.includes("/")) {
            this.#toInbox(item.to, { kind: "keys", ts: this.clock, ...from });
            continue;
          }
          const target = this.sessions.get(item.to);
          if (!target) continue;
          if (frame.room !== undefined && !this.rooms.get(frame.room)?.members.has(item.to)) {
            continue;
          }
          this.#deliver(target, { type: "keys", ...from });
        }
        return;
      case "lookup": {
        const sessions = [...this.sessions.values()].filter((p) =>
          p.device.user === frame.user && !p.ended
        );
        const live = new Set(sessions.map((p) => p.device));
        this.#deliver(party, {
          type: "peer",
          id: frame.id,
          user: frame.user,
          sessions: sessions.map((p) => this.describe(p)),
          offline: [...this.devices.values()]
            .filter((d) => d.user === frame.user && !live.has(d))
            .map((d) => this.#offlineEntry(d)),
        });
        return;
      }
      case "prekeys": {
        const address = `${party.device.user}/${party.device.device}`;
        const held = this.#prekeys.get(address) ?? { onetime: [] };
        if (frame.signed) held.signed = frame.signed;
        held.onetime.push(...frame.onetime);
        this.#prekeys.set(address, held);
        return;
      }
      case "bundles": {
        const bundles = [];
        for (const address of frame.devices) {
          const held = this.#prekeys.get(address);
          const device = this.devices.get(address);
          if (!held?.signed || !device) continue;
          const onetime = held.onetime.shift();
          bundles.push({
            user: device.user,
            device: device.device,
            cert: toBase64Url(new Uint8Array(device.issued.cert.rawData), false),
            signed: held.signed,
            ...(onetime ? { onetime } : {}),
          });
        }
        this.#deliver(party, { type: "bundles", id: frame.id, bundles });
        return;
      }
    }
  }

  /** The pre-keys the world holds for `address` (tests tamper with them). */
  published(address: string): Published | undefined {
    return this.#prekeys.get(address);
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
