/**
 * Offline delivery (issue 12), the server's side: persistent rooms and memberships, the room
 * log, device inboxes and pre-keys, over a {@linkcode ChatStore}. The live side stays in
 * `rooms.ts` (sessions in rooms, fan-out); this module decides who is a member, what is stored
 * for whom, and what a device may read back. It knows nothing of sockets: it sends frames to
 * sessions and reads the CA's records through a {@linkcode DeviceDirectory}.
 *
 * Rules it keeps:
 * - Membership is per user, in the store. A user's member devices in a room are the devices with
 *   an open interval there (`store.log.openDevices`), cached here per room because every `msg`
 *   counts them; the cache is changed only together with the store, in the room's turn.
 * - Per room, everything that appends to the log, opens or closes intervals, or changes the live
 *   membership by a `join` or `leave` runs in the room's {@linkcode Sequencer} turn, so that
 *   `joined.seq`, the `seq` of relayed messages and the intervals agree whatever the store's
 *   engine. The one change that is not queued is a session ending (a socket closing must take
 *   it out of its rooms at once): it changes no interval, and a message relayed while it ends
 *   was sealed for a membership in which that device was, and still is, a member device.
 * - A device reads the log only inside its intervals (the store enforces it) and only up to the
 *   `seq` its session's `joined` reported; live frames carry the rest.
 * - Moderation (a {@linkcode RoomGate}) is asked in the room's turn, before anything changes:
 *   whether a user may join (every `join`, and the automatic rejoin after a session announces),
 *   and whether they may speak (every `msg`). A moderator's command is decided in the room's
 *   turn too ({@linkcode OfflineDelivery.moderate}); a kick or ban ends the membership in the
 *   store and then takes the user out of the live room in the same turn
 *   ({@linkcode OfflineDelivery.removeUser}).
 *
 * @module
 */

import { toBase64Url } from "../crypto/bytes.ts";
import { ERROR_CODES, type ErrorCode } from "../protocol/errors.ts";
import { encodeFrame, FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/framing.ts";
import {
  type ClientMessage,
  type HistoryEntry,
  type InboxItem,
  MAX_BUNDLE_DEVICES,
  MAX_HISTORY_ENTRIES,
  MAX_INBOX_ITEMS,
  type MemberInfo,
  type OfflineDevice,
  type PrekeyBundle,
  type ServerMessage,
} from "../protocol/messages.ts";
import type { ModerationEvent } from "../protocol/moderation/types.ts";
import { whenCaughtUp } from "./backpressure.ts";
import { refuse } from "./refuse.ts";
import { joinedFrames } from "./joined.ts";
import type { LeaveDetails, Room, RoomRegistry } from "./rooms.ts";
import { Sequencer } from "./sequencer.ts";
import { endOfTurn, TurnBatches } from "./turn_batches.ts";
import type { Session } from "./session.ts";
import {
  type ChatStore,
  InvalidInputError,
  LimitError,
  MAX_APPEND_BATCH,
  RoomExistsError,
  type SessionRecord,
} from "./store/mod.ts";

/** Entries or items read from the store per step of a `history` or `inbox` answer. */
export const READ_STEP = 250;
/** Room for a frame's own fields (type, room, flags, counts) beside its lists. */
const FRAME_OVERHEAD_BYTES = 512;
/** Bytes of list items one frame may carry. */
const FRAME_BUDGET = MAX_FRAME_BYTES - FRAME_HEADER_BYTES - FRAME_OVERHEAD_BYTES;

/** What the server knows of devices and their certificates (the CA's records). */
export interface DeviceDirectory {
  /** Labels of `user`'s devices with a valid (neither revoked nor expired) certificate now. */
  validDevices(user: string): string[];
  /** The current certificate of `user`'s `device` (DER, b64u), if it has a valid one. */
  currentCert(user: string, device: string): string | undefined;
  /** The link by which another device of `user` vouches for `device`, if one was made. */
  linkOf?(user: string, device: string): string | undefined;
  /**
   * True while `device` waits for the device that invited it to vouch for it. Until then it is
   * no offline member device anyone hears of: everyone would see an unvouched key a moment
   * before the link that vouches for it ({@linkcode OfflineDelivery.deviceLinked}).
   */
  awaitsLink?(user: string, device: string): boolean;
}

/** A refusal from a {@linkcode RoomGate}: a stable code and a sentence naming the particulars. */
export type GateVerdict = { ok: true } | { ok: false; code: ErrorCode; message: string };

/**
 * Who may join a room and speak in it: the moderation policy (`server/moderation/`), asked in
 * the room's turn. A room without a gate lets every user in and every member speak.
 */
export interface RoomGate {
  /** May `user` join the existing `room`? (Not asked of the user who creates it.) */
  canJoin(user: string, room: string): Promise<GateVerdict>;
  /** `user` has just become a member of `room` (an invite they held is used up). */
  onJoin(user: string, room: string): Promise<unknown>;
  /** May `user`, a member, send a message in `room` now? */
  canSpeak(user: string, room: string): Promise<GateVerdict>;
  /** {@linkcode canSpeak} for each of `users` (repeats allowed), at one moment. */
  canSpeakEach(users: readonly string[], room: string): Promise<ReadonlyMap<string, GateVerdict>>;
}

/**
 * What a moderation command changes live in its room (`server/moderator.ts` decides it; the
 * store already holds the change): the event everyone concerned is told, the users it removes
 * (kick, ban: their membership has ended), and the users outside the room who are told too (an
 * invitee).
 */
export interface RoomModeration {
  event: ModerationEvent;
  remove: readonly string[];
  notify: readonly string[];
}

/** What the `decide` of {@linkcode OfflineDelivery.moderate} returns. */
export interface ModerationTurn<T> {
  /** What the caller gets back (the policy's decision). */
  outcome: T;
  /** The live change, if the command made one (a refusal or a query makes none). */
  live?: RoomModeration;
}

/** Why a removed user's sessions leave: the `reason` of their `presence` leave. */
export function removalReason(event: ModerationEvent): "kicked" | "banned" {
  return event.action === "ban" ? "banned" : "kicked";
}

/** What offline delivery needs from the server. */
export interface OfflineContext {
  readonly rooms: RoomRegistry;
  /** The current sessions of `user`, one per device online. */
  sessionsOf(user: string): Session[];
}

/** How the service is set up. */
export interface OfflineOptions {
  store: ChatStore;
  directory: DeviceDirectory;
  /** The store's clock (ms since the epoch): timestamps of entries, retention. */
  clock: () => number;
  /** The store's retention, so that descriptions of long-lived sessions are kept fresh. */
  retentionMs: number;
  /** Who may join and speak (moderation); without, everyone may. */
  gate?: RoomGate;
}

/** A room message waiting for its batch to be stored. */
interface RelayItem {
  session: Session;
  message: Extract<ClientMessage, { type: "msg" }>;
}

/** True when a session of `address` (`user/device`) is in `room` now. */
function liveIn(room: Room | undefined, address: string): boolean {
  if (!room) return false;
  for (const member of room.members.values()) {
    if (member.key === address && !member.ending) return true;
  }
  return false;
}

const splitAddress = (address: string): [string, string] => {
  const slash = address.indexOf("/");
  return [address.slice(0, slash), address.slice(slash + 1)];
};

const toMember = (record: SessionRecord): MemberInfo => ({
  user: record.user,
  device: record.device,
  session: record.session,
  announce: record.announce,
  ...(record.agreement ? { agreement: record.agreement } : {}),
  ...(record.link ? { link: record.link } : {}),
});

/** A pre-key's id in the store: its SHA-256, so the server never parses the opaque payload. */
async function prekeyId(payload: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(payload));
  return toBase64Url(new Uint8Array(digest), false);
}

/**
 * Packs a long answer (history entries, inbox items) into frames that each fit
 * {@linkcode MAX_FRAME_BYTES}, every frame carrying the descriptions of the senders of its own
 * entries. Between frames it waits while the session is behind, so a long answer never
 * overflows its queue; it stops when the session ends.
 */
class Batcher<T> {
  #items: T[] = [];
  #sessions: MemberInfo[] = [];
  #described = new Set<string>();
  #bytes = 0;

  constructor(
    private readonly session: Session,
    private readonly maxItems: number,
    private readonly frame: (items: T[], sessions: MemberInfo[], done: boolean) => ServerMessage,
  ) {}

  /** Adds `item` (sent by `sender`, if its description is known). */
  async add(item: T, sender: MemberInfo | undefined): Promise<void> {
    const itemBytes = JSON.stringify(item).length + 1;
    const senderBytes = sender ? JSON.stringify(sender).length + 1 : 0;
    let describe = sender !== undefined && !this.#described.has(sender.session);
    const fits = this.#bytes + itemBytes + (describe ? senderBytes : 0) <= FRAME_BUDGET &&
      this.#items.length < this.maxItems &&
      (!describe || this.#sessions.length < this.maxItems);
    if (!fits && (this.#items.length > 0 || this.#sessions.length > 0)) {
      await this.flush(false);
      describe = sender !== undefined; // a new frame describes its own senders again
    }
    if (describe && itemBytes + senderBytes > FRAME_BUDGET) {
      // A full-size payload and a long description do not fit one frame: the description goes
      // first, in a frame of its own (clients keep descriptions across the frames of an answer).
      this.#sessions.push(sender!);
      await this.flush(false);
    } else if (describe) {
      this.#sessions.push(sender!);
      this.#described.add(sender!.session);
      this.#bytes += senderBytes;
    }
    this.#items.push(item);
    this.#bytes += itemBytes;
  }

  /** Sends what is packed; `done` marks the last frame of the answer. */
  async flush(done: boolean): Promise<void> {
    if (this.session.ending) return;
    this.session.send(this.frame(this.#items, this.#sessions, done));
    this.#items = [];
    this.#sessions = [];
    this.#described = new Set();
    this.#bytes = 0;
    if (!done) await whenCaughtUp([this.session]);
  }
}

/** The server's offline delivery over one store. */
export class OfflineDelivery {
  /** One turn at a time per room: see the module doc. */
  readonly sequencer = new Sequencer();
  readonly store: ChatStore;
  protected readonly directory: DeviceDirectory;
  protected readonly clock: () => number;
  readonly #retentionMs: number;
  /** Who may join and speak; the cluster's delivery asks it in its own turns. */
  protected readonly gate: RoomGate | undefined;
  protected readonly context: OfflineContext;
  /** Per room: its member devices (open intervals), as the store has them. */
  protected readonly devices = new Map<string, Set<string>>();
  /** Per room: the messages of this turn of the event loop, stored together. */
  readonly #batches = new TurnBatches<RelayItem>(MAX_APPEND_BATCH);

  constructor(context: OfflineContext, options: OfflineOptions) {
    this.context = context;
    this.store = options.store;
    this.directory = options.directory;
    this.clock = options.clock;
    this.#retentionMs = options.retentionMs;
    this.gate = options.gate;
  }

  /** The store's time now. */
  now(): number {
    return this.clock();
  }

  /** The member devices of `room`, loaded from the store once. Call in the room's turn. */
  protected async devicesOf(room: string): Promise<Set<string>> {
    let devices = this.devices.get(room);
    if (!devices) {
      devices = new Set(await this.store.log.openDevices(room));
      this.devices.set(room, devices);
    }
    return devices;
  }

  /** `address` as an offline member device, with its current certificate, if it has one. */
  protected offlineDevice(address: string): OfflineDevice | undefined {
    const [user, device] = splitAddress(address);
    const cert = this.directory.currentCert(user, device);
    if (!cert || this.directory.awaitsLink?.(user, device)) return undefined;
    const link = this.directory.linkOf?.(user, device);
    return { user, device, cert, ...(link ? { link } : {}) };
  }

  /**
   * `user`'s devices with a valid certificate that have no live session, for a `peer` answer:
   * a direct message reaches them through their inboxes.
   */
  offlineDevicesOf(user: string, online: Set<string>): OfflineDevice[] {
    const offline: OfflineDevice[] = [];
    for (const device of this.directory.validDevices(user)) {
      if (online.has(device)) continue;
      const entry = this.offlineDevice(`${user}/${device}`);
      if (entry) offline.push(entry);
    }
    return offline;
  }

  /** The member devices of `room` with no session in it, but `except`'s own. */
  protected offlineOf(name: string, room: Room, except: Session): OfflineDevice[] {
    const live = new Set<string>();
    for (const member of room.members.values()) if (!member.ending) live.add(member.key);
    const offline: OfflineDevice[] = [];
    for (const address of this.devices.get(name) ?? []) {
      if (address === except.key || live.has(address)) continue;
      const device = this.offlineDevice(address);
      if (device) offline.push(device);
    }
    return offline;
  }

  /** Tells everyone in `name` that an offline member device was added or removed. */
  protected announceDevice(name: string, address: string, state: "added" | "removed"): void {
    const room = this.context.rooms.get(name);
    if (!room || liveIn(room, address)) return;
    const [user, device] = splitAddress(address);
    let added: OfflineDevice | undefined;
    if (state === "added") {
      added = this.offlineDevice(address);
      if (!added) return;
    }
    this.context.rooms.announceChange(room, (version) =>
      encodeFrame({
        type: "offline_device",
        room: name,
        version,
        user,
        device,
        state,
        ...(added ? { cert: added.cert, ...(added.link ? { link: added.link } : {}) } : {}),
      }));
  }

  /**
   * Keeps the session's description in the store when it changed, or when it was put half a
   * retention ago or more: the store keeps a description 1.5 retentions after its last put
   * (`SessionStore`), so every entry this session stores finds it for as long as it is kept.
   */
  protected async describe(session: Session, now: number): Promise<void> {
    const stored = session.stored;
    if (
      stored && stored.announce === session.announce && stored.agreement === session.agreement &&
      stored.link === session.link && now - stored.at < this.#retentionMs / 2
    ) return;
    const announce = session.announce!;
    const { agreement, link } = session;
    await this.store.sessions.put({
      session: session.id,
      user: session.user,
      device: session.device,
      announce,
      agreement: agreement ?? null,
      link: link ?? null,
    }, now);
    session.stored = { announce, agreement, link, at: now };
  }

  /** Puts `session` in the live room and answers `joined` (the room's members, offline, seq). */
  protected liveJoin(session: Session, name: string, seq: number): void {
    // A session that ended while its turn came (a store over the network is slow) joins nothing.
    if (session.ending || session.closed) return;
    const room = this.context.rooms.join(session, name);
    if (typeof room === "string") {
      return refuse(session, room, { room: name }, `${ERROR_CODES[room]}: ${name}`);
    }
    session.joinedSeq.set(name, seq);
    const members = this.context.rooms.membersOf(room, session);
    const offline = this.offlineOf(name, room, session);
    for (const frame of joinedFrames(name, room.version, members, offline, seq)) {
      session.sendFrame(frame);
    }
  }

  /**
   * `join`: makes the session's user a member (creating the room if new), opens the intervals of
   * the user's devices, and puts the session, and the user's other live sessions if the user was
   * not a member yet, in the live room. Joining a room one is in answers `joined` again.
   */
  join(session: Session, name: string): Promise<void> {
    return this.sequencer.run(name, () => this.#join(session, name));
  }

  async #join(session: Session, name: string): Promise<void> {
    if (session.ending) return;
    const rooms = this.context.rooms;
    const refusal = rooms.refusal(session, name);
    if (refusal) {
      return refuse(session, refusal, { room: name }, `${ERROR_CODES[refusal]}: ${name}`);
    }
    const now = this.clock();
    let created = false;
    if (!(await this.store.rooms.get(name))) {
      try {
        await this.store.rooms.create(name, session.user, now); // its creator owns it
        created = true;
      } catch (error) {
        if (!(error instanceof RoomExistsError)) throw error; // another server made it meanwhile
      }
    }
    if (!created && this.gate) {
      // Banned, or not invited into a +i room: refused before anything changes.
      const verdict = await this.gate.canJoin(session.user, name);
      if (!verdict.ok) return refuse(session, verdict.code, { room: name }, verdict.message);
    }
    const newMember = await this.store.members.join(name, session.user, now);
    if (newMember) await this.gate?.onJoin(session.user, name);
    const devices = await this.devicesOf(name);
    const opened: string[] = [];
    const open = async (address: string) => {
      if (devices.has(address)) return;
      await this.store.log.openInterval(name, address);
      devices.add(address);
      opened.push(address);
    };
    await open(session.key);
    // A user who becomes a member does so with every device it has now.
    if (newMember) {
      for (const label of this.directory.validDevices(session.user)) {
        await open(`${session.user}/${label}`);
      }
    }
    const seq = await this.store.log.lastSeq(name);
    // The user's other live sessions come in with it; its devices that are offline are listed.
    const others = newMember
      ? this.context.sessionsOf(session.user).filter((other) =>
        other !== session && !other.ending && other.announce !== undefined
      )
      : [];
    const joining = new Set([session.key, ...others.map((other) => other.key)]);
    for (const address of opened) {
      if (!joining.has(address)) this.announceDevice(name, address, "added");
    }
    this.liveJoin(session, name, seq);
    for (const other of others) {
      if (!rooms.get(name)?.members.has(other.id)) this.liveJoin(other, name, seq);
    }
  }

  /**
   * After a session's first `announce`: puts it into every room its user is a member of, each
   * answered by `joined` as if it had asked.
   */
  async rejoin(session: Session): Promise<void> {
    const rooms = await this.store.members.roomsOf(session.user);
    await Promise.all(rooms.map((name) => this.join(session, name)));
  }

  /**
   * `leave`: ends the user's membership (the store closes its devices' intervals) and takes every
   * live session of the user out of the room, each told `left`, the others `presence` leave with
   * `member: false`.
   */
  leave(session: Session, name: string): Promise<void> {
    return this.sequencer.run(name, async () => {
      const room = this.context.rooms.get(name);
      if (!room?.members.has(session.id)) {
        return refuse(session, "not_in_room", { room: name }, `Not a member of ${name}`);
      }
      await this.store.members.leave(name, session.user);
      const devices = await this.devicesOf(name);
      for (const address of [...devices]) {
        if (address.startsWith(`${session.user}/`)) devices.delete(address);
      }
      for (const member of [...room.members.values()]) {
        if (member.user !== session.user) continue;
        this.context.rooms.leave(member, room, "left", { member: false });
        member.joinedSeq.delete(name);
        member.send({ type: "left", room: name });
      }
    });
  }

  /**
   * A moderation command of `name`, in the room's turn: `decide` (the policy: it checks the
   * command and persists it) runs once, and when it returns a live change, the change is
   * applied before the turn ends, so it falls between the room's messages, joins and leaves
   * like any of them. Resolves with `decide`'s outcome, or undefined when the actor's session
   * ended before its turn came (nothing was decided). The cluster's delivery overrides this to
   * order the change in the room's stream, for every server.
   */
  moderate<T>(
    actor: Session,
    name: string,
    decide: () => Promise<ModerationTurn<T>>,
  ): Promise<T | undefined> {
    return this.sequencer.run(name, async () => {
      if (actor.ending) return undefined;
      const { outcome, live } = await decide();
      if (live) await this.#applyModeration(actor, name, live);
      return outcome;
    });
  }

  /**
   * The event to everyone concerned, once each: every session in the room, the actor (an
   * administrator need not be a member), the users the change notifies (an invitee) and those
   * it removes, wherever they are, so a kicked user is told why before leaving. Then the
   * removed users leave the live room, which changes its membership.
   */
  async #applyModeration(actor: Session, name: string, live: RoomModeration): Promise<void> {
    const frame = encodeFrame({ type: "moderation", ...live.event });
    const told = new Set<Session>([actor]);
    for (const member of this.context.rooms.get(name)?.members.values() ?? []) told.add(member);
    for (const user of [...live.notify, ...live.remove]) {
      for (const session of this.context.sessionsOf(user)) told.add(session);
    }
    for (const session of told) session.sendFrame(frame);
    const reason = removalReason(live.event);
    for (const user of live.remove) await this.removeUser(name, user, reason);
  }

  /**
   * A moderator removed `user` from `name` (kick, ban), whose membership the store has already
   * ended: call in the room's turn. Every live session of the user leaves the live room (each is
   * told `left`; the others get `presence` `leave` with `reason` and `member: false`), and when
   * none was there, each of the user's member devices is announced `removed`. Either way the
   * room's membership version changes, so every remaining member starts a new chain that the
   * removed user's devices never get.
   */
  async removeUser(name: string, user: string, reason: "kicked" | "banned"): Promise<void> {
    const devices = await this.devicesOf(name);
    const theirs = [...devices].filter((address) => address.startsWith(`${user}/`));
    for (const address of theirs) devices.delete(address);
    const room = this.context.rooms.get(name);
    if (!room) return;
    const live = [...room.members.values()].filter((member) => member.user === user);
    for (const member of live) {
      this.context.rooms.leave(member, room, reason, { member: false });
      member.joinedSeq.delete(name);
      member.send({ type: "left", room: name });
    }
    if (live.length === 0) {
      for (const address of theirs) this.announceDevice(name, address, "removed");
    }
  }

  /**
   * A session ended (`reason`: `quit`, `replaced`, ...): it leaves every room at once, each told
   * why. The cluster's delivery (`server/cluster/`) overrides this to order the leave with the
   * rest of the room's traffic on every server.
   */
  endSession(session: Session, reason: string): void {
    this.context.rooms.leaveAll(session, reason, this.leaveDetails(session, reason));
  }

  /**
   * `session` re-announced or replaced its agreement key and its co-members here were told
   * (`frame`); the cluster's delivery overrides this to tell those on other servers.
   */
  described(_session: Session, _frame: Uint8Array): void {}

  /**
   * What a session's `presence` leave adds in `room` when the session ends: its device, which
   * stays an offline member device while its user is a member. Nothing for a revoked device.
   */
  leaveDetails(session: Session, reason: string): (room: Room) => LeaveDetails {
    return (room) => {
      if (reason === "revoked" || !this.devices.get(room.name)?.has(session.key)) return {};
      const offline = this.offlineDevice(session.key);
      return offline ? { offline } : {};
    };
  }

  /**
   * A room message: appended to the log, then relayed with its `seq`, then acknowledged with the
   * number of member devices it was stored for (the sender's own device not counted). The
   * messages of one turn of the event loop for one room are stored in one batch (group commit,
   * `turn_batches.ts`), in the room's turn; each is relayed and acknowledged only once the whole
   * batch is stored. Resolves once this message was handled (or refused).
   */
  relay(session: Session, message: Extract<ClientMessage, { type: "msg" }>): Promise<void> {
    const name = message.room;
    return this.#batches.add(
      name,
      { session, message },
      (take) =>
        this.sequencer.run(name, async () => {
          await endOfTurn();
          await this.#relayBatch(name, take());
        }),
    );
  }

  /**
   * The messages of one turn of the event loop for `name`, in the room's turn: each is checked
   * (membership, version, moderation) as a single one was; those accepted are stored in one
   * transaction, then relayed and acknowledged, so nothing is acked or relayed before it is
   * stored.
   */
  async #relayBatch(name: string, batch: RelayItem[]): Promise<void> {
    const room = this.context.rooms.get(name);
    const verdicts = await this.gate?.canSpeakEach(batch.map(({ session }) => session.user), name);
    const accepted: RelayItem[] = [];
    for (let i = 0; i < batch.length; i++) {
      const { session, message } = batch[i]!;
      const about = { id: message.id, room: name };
      const verdict = verdicts?.get(session.user);
      if (!room?.members.has(session.id)) {
        refuse(session, "not_in_room", about, `Not a member of ${name}`);
      } else if (message.version !== undefined && message.version !== room.version) {
        refuse(session, "membership_changed", about);
      } else if (verdict && !verdict.ok) {
        refuse(session, verdict.code, about, verdict.message);
      } else accepted.push(batch[i]!);
    }
    if (!room || accepted.length === 0) return;
    const ts = this.clock();
    for (const { session } of accepted) await this.describe(session, ts);
    const version = room.version;
    const seqs = await this.store.log.appendMany(
      name,
      accepted.map(({ session, message }) => ({
        senderUser: session.user,
        senderDevice: session.device,
        senderSession: session.id,
        version,
        ts,
        payload: message.payload,
      })),
    );
    const devices = this.devices.get(name);
    for (let i = 0; i < accepted.length; i++) {
      const { session, message } = accepted[i]!;
      room.broadcast(
        encodeFrame({
          type: "msg",
          room: name,
          from: session.user,
          device: session.device,
          session: session.id,
          ts,
          payload: message.payload,
          seq: seqs[i]!,
        }),
        session,
      );
      const recipients = (devices?.size ?? 0) - (devices?.has(session.key) ? 1 : 0);
      session.send({ type: "ack", id: message.id, recipients });
    }
  }

  /**
   * `history`: the room log after `after`, inside this device's intervals, up to the `seq` its
   * `joined` reported, in frames that fit; `missed` (on the first frame, when some) counts the
   * entries retention removed before the device read them.
   */
  async history(session: Session, name: string, after: number): Promise<void> {
    const room = this.context.rooms.get(name);
    const upto = session.joinedSeq.get(name);
    if (!room?.members.has(session.id) || upto === undefined) {
      return refuse(session, "not_in_room", { room: name }, `Not a member of ${name}`);
    }
    let missed: number | undefined;
    let first = true;
    const batcher = new Batcher<HistoryEntry>(
      session,
      MAX_HISTORY_ENTRIES,
      (entries, sessions, done) => {
        const frame: ServerMessage = { type: "history", room: name, entries, sessions, done };
        if (first && missed) frame.missed = missed;
        first = false;
        return frame;
      },
    );
    const described = new Map<string, MemberInfo | undefined>();
    let cursor = after;
    while (cursor < upto && !session.ending) {
      const page = await this.store.log.readForDevice(name, session.key, cursor, READ_STEP);
      missed ??= page.missed;
      const entries = page.entries.filter((entry) => entry.seq <= upto);
      await this.#describeSenders(described, entries.map((entry) => entry.senderSession));
      for (const entry of entries) {
        await batcher.add({
          seq: entry.seq,
          from: entry.senderUser,
          device: entry.senderDevice,
          session: entry.senderSession,
          ts: entry.ts,
          payload: entry.payload,
        }, described.get(entry.senderSession));
      }
      if (entries.length < READ_STEP) break;
      cursor = entries[entries.length - 1]!.seq;
    }
    await batcher.flush(true);
  }

  /** Fills `described` with the stored descriptions of `sessions` not looked up yet. */
  async #describeSenders(
    described: Map<string, MemberInfo | undefined>,
    sessions: string[],
  ): Promise<void> {
    const unknown = [...new Set(sessions)].filter((id) => !described.has(id));
    if (unknown.length === 0) return;
    for (const id of unknown) described.set(id, undefined);
    for (const record of await this.store.sessions.get(unknown)) {
      described.set(record.session, toMember(record));
    }
  }

  /** `inbox`: this device's inbox after `after`, in frames that fit, `dropped` on each. */
  async inbox(session: Session, after: number): Promise<void> {
    let dropped: number | undefined;
    const batcher = new Batcher<InboxItem>(
      session,
      MAX_INBOX_ITEMS,
      (items, sessions, done) => ({ type: "inbox", items, sessions, dropped: dropped ?? 0, done }),
    );
    const described = new Map<string, MemberInfo | undefined>();
    let cursor = after;
    while (!session.ending) {
      const page = await this.store.inbox.read(session.key, cursor, READ_STEP);
      dropped ??= page.dropped;
      await this.#describeSenders(described, page.items.map((item) => item.fromSession));
      for (const item of page.items) {
        await batcher.add({
          seq: item.seq,
          kind: item.kind as InboxItem["kind"],
          ...(item.room ? { room: item.room } : {}),
          from: item.fromUser,
          device: item.fromDevice,
          session: item.fromSession,
          ts: item.ts,
          payload: item.payload,
        }, described.get(item.fromSession));
      }
      if (page.items.length < READ_STEP) break;
      cursor = page.items[page.items.length - 1]!.seq;
    }
    await batcher.flush(true);
  }

  /** `inbox_ack`: deletes this device's inbox up to `upto`. */
  async inboxAck(session: Session, upto: number): Promise<void> {
    try {
      await this.store.inbox.ack(session.key, upto);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      refuse(session, "bad_field", {}, `inbox_ack: ${upto} is past the last item of this inbox`);
    }
  }

  /**
   * The items of `keys` addressed to a device (`user/device`): with a room, only to a member
   * device of it with no session in it; without, to any valid device of that user. Each goes to
   * the device's inbox; anything else is dropped, as a live item for no such session is.
   */
  async keysToInboxes(
    session: Session,
    message: Extract<ClientMessage, { type: "keys" }>,
  ): Promise<void> {
    const items = message.items.filter((item) => item.to.includes("/") && item.to !== session.key);
    if (items.length === 0) return;
    const name = message.room;
    const room = name === undefined ? undefined : this.context.rooms.get(name);
    const valid = new Map<string, string[]>();
    const now = this.clock();
    let described = false;
    for (const item of items) {
      const [user, device] = splitAddress(item.to);
      if (name !== undefined) {
        if (!this.devices.get(name)?.has(item.to) || liveIn(room, item.to)) continue;
        if (!this.directory.currentCert(user, device)) continue; // expired, or revoked unseen
      } else {
        if (!valid.has(user)) valid.set(user, this.directory.validDevices(user));
        if (!valid.get(user)!.includes(device)) continue;
      }
      if (!described) {
        await this.describe(session, now);
        described = true;
      }
      await this.store.inbox.append(item.to, {
        kind: "keys",
        fromUser: session.user,
        fromDevice: session.device,
        fromSession: session.id,
        room: name ?? null,
        ts: now,
        payload: item.payload,
      });
    }
  }

  /** A `dm` to a device: into its inbox, acknowledged with 1; `no_such_device` if none valid. */
  async dmToInbox(session: Session, message: Extract<ClientMessage, { type: "dm" }>) {
    const device = message.device!;
    if (!this.directory.validDevices(message.to).includes(device)) {
      return refuse(
        session,
        "no_such_device",
        { id: message.id },
        `${message.to} has no valid device ${device}`,
      );
    }
    const now = this.clock();
    await this.describe(session, now);
    await this.store.inbox.append(`${message.to}/${device}`, {
      kind: "dm",
      fromUser: session.user,
      fromDevice: session.device,
      fromSession: session.id,
      ts: now,
      payload: message.payload,
    });
    session.send({ type: "ack", id: message.id, recipients: 1 });
  }

  /** What `welcome.prekeys` says for `address`. */
  async prekeyStatus(address: string): Promise<{ signed: boolean; onetime: number }> {
    const status = await this.store.prekeys.status(address);
    return { signed: status.signed, onetime: status.oneTime };
  }

  /**
   * `prekeys`: replaces the signed pre-key, adds the one-time pre-keys (all or none), answers
   * `prekeys_stored` with how many one-time pre-keys are held now.
   */
  async prekeys(session: Session, message: Extract<ClientMessage, { type: "prekeys" }>) {
    const now = this.clock();
    if (message.signed !== undefined) {
      await this.store.prekeys.setSigned(session.key, {
        id: await prekeyId(message.signed),
        payload: message.signed,
        createdAt: now,
      });
    }
    const onetime = [...new Set(message.onetime)];
    if (onetime.length > 0) {
      const batch = await Promise.all(
        onetime.map(async (payload) => ({ id: await prekeyId(payload), payload })),
      );
      try {
        await this.store.prekeys.addOneTime(session.key, batch);
      } catch (error) {
        if (error instanceof LimitError) return refuse(session, "too_many_prekeys");
        if (error instanceof InvalidInputError) {
          return refuse(
            session,
            "bad_field",
            {},
            "A one-time pre-key in this batch is stored already",
          );
        }
        throw error;
      }
    }
    session.send({
      type: "prekeys_stored",
      onetime: await this.store.prekeys.countOneTime(session.key),
    });
  }

  /**
   * `bundles`: for each device named (once each) that has a valid certificate and a signed
   * pre-key, its bundle, each taking one one-time pre-key; in as many frames as it takes, all
   * but the last marked `more: true`.
   */
  async bundles(session: Session, message: Extract<ClientMessage, { type: "bundles" }>) {
    const bundles: PrekeyBundle[] = [];
    for (const address of new Set(message.devices)) {
      const [user, device] = splitAddress(address);
      const cert = this.directory.currentCert(user, device);
      if (!cert) continue;
      const taken = await this.store.prekeys.take(address);
      if (!taken) continue;
      bundles.push({
        user,
        device,
        cert,
        signed: taken.signed.payload,
        ...(taken.oneTime ? { onetime: taken.oneTime.payload } : {}),
      });
    }
    let start = 0;
    let bytes = 0;
    for (let i = 0; i <= bundles.length; i++) {
      const bundle = bundles[i];
      const size = bundle ? JSON.stringify(bundle).length + 1 : 0;
      if (
        bundle && (i === start || bytes + size <= FRAME_BUDGET) && i - start < MAX_BUNDLE_DEVICES
      ) {
        bytes += size;
        continue;
      }
      session.send({
        type: "bundles",
        id: message.id,
        bundles: bundles.slice(start, i),
        ...(bundle ? { more: true } : {}),
      });
      start = i;
      bytes = size;
    }
  }

  /**
   * A device just enrolled (a new key): whatever a device of that label had is forgotten, and it
   * becomes a member device of every room its user is in, from now on; rooms hear of it.
   */
  async deviceEnrolled(user: string, device: string): Promise<void> {
    const address = `${user}/${device}`;
    await this.store.forgetDevice(address);
    const rooms = await this.store.members.roomsOf(user);
    await Promise.all(rooms.map((name) =>
      this.sequencer.run(name, async () => {
        const devices = await this.devicesOf(name);
        if (devices.delete(address)) this.announceDevice(name, address, "removed");
        await this.store.log.openInterval(name, address);
        devices.add(address);
        this.announceDevice(name, address, "added");
      })
    ));
  }

  /**
   * `user`'s `device` was just vouched for: where it is an offline member device, rooms hear of
   * it now, with the link (until now it was held back, {@linkcode DeviceDirectory.awaitsLink}).
   */
  async deviceLinked(user: string, device: string): Promise<void> {
    const address = `${user}/${device}`;
    const rooms = await this.store.members.roomsOf(user);
    await Promise.all(rooms.map((name) =>
      this.sequencer.run(name, async () => {
        if ((await this.devicesOf(name)).has(address)) {
          this.announceDevice(name, address, "added");
        }
      })
    ));
  }

  /**
   * Devices whose certificates were revoked. Those left with no valid certificate are forgotten
   * (inbox, pre-keys, intervals) and rooms where they were offline member devices hear of it.
   * Call before their live sessions are closed, so that those leave without `offline`.
   */
  async devicesRevoked(devices: { user: string; device: string }[]): Promise<void> {
    const work: Promise<void>[] = [];
    for (const { user, device } of devices) {
      if (this.directory.currentCert(user, device)) continue; // an older certificate only
      const address = `${user}/${device}`;
      const rooms: string[] = [];
      for (const [name, members] of this.devices) {
        if (!members.has(address)) continue;
        // Take it out now: its sessions are about to close, and must not leave as offline.
        members.delete(address);
        if (!liveIn(this.context.rooms.get(name), address)) rooms.push(name);
      }
      work.push(
        this.store.forgetDevice(address).then(() =>
          Promise.all(
            rooms.map((name) =>
              this.sequencer.run(name, () => this.announceDevice(name, address, "removed"))
            ),
          ).then(() => {})
        ),
      );
    }
    await Promise.all(work);
  }

  /** Applies retention at the store's time now. */
  prune() {
    return this.store.prune(this.clock());
  }
}
