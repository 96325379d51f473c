/**
 * Offline delivery for a server of a cluster: the same rooms, logs and inboxes as the single
 * server (it inherits everything that only reads or writes the store), but every change of a
 * room (a message, a join, a leave, a session ending, a device added or removed, a moderator's
 * action) is decided in one order for the whole cluster, by the room's stream. Joins and
 * messages ask moderation (the server's `RoomGate`) as the single server does.
 *
 * A server that has members in a room follows its stream ({@linkcode Replica}) and applies
 * every record in order: it relays messages to its own members, and applies membership events
 * to its copy of the room (members here and stand-ins for members elsewhere), telling its own
 * members as the single server would. To change a room, a server checks the change against its
 * copy and publishes the record only if the stream has not moved since (JetStream's expected
 * last sequence); if it has, it catches up and checks again. So every server applies the same
 * records in the same order, the membership version is the same everywhere, a message sealed
 * for a version is relayed only to that membership, and a log number is never taken twice.
 * Nothing is relayed at publish time: the publisher too relays when its copy applies the
 * record, and acknowledges after that.
 *
 * A session that ended, or a member whose server died or whose device logged in elsewhere, is
 * taken out by an `end` event from a server that follows the room (checked every
 * {@linkcode RECONCILE_MS}), so a room never keeps a ghost.
 *
 * @module
 */

import { ERROR_CODES } from "../../protocol/errors.ts";
import { isValidRoomName } from "../../protocol/names.ts";
import { encodeFrame } from "../../protocol/framing.ts";
import type { ClientMessage, OfflineDevice } from "../../protocol/messages.ts";
import { refuse } from "../refuse.ts";
import { joinedFrames } from "../joined.ts";
import type { Logger } from "../log.ts";
import type { LeaveDetails, Room } from "../rooms.ts";
import type { Session } from "../session.ts";
import {
  type ModerationTurn,
  type OfflineContext,
  OfflineDelivery,
  type OfflineOptions,
  removalReason,
  type RoomModeration,
} from "../offline.ts";
import { RoomExistsError, StoreUnavailableError } from "../store/errors.ts";
import type { Directory, PresenceRecord } from "./directory.ts";
import { ConflictError, MAX_CAS_ATTEMPTS } from "./nats_errors.ts";
import type { EventRecord, MessageRecord, RoomRecord } from "./nats_log.ts";
import type { NatsStore } from "./nats_store.ts";
import { Replica } from "./room_replica.ts";
import {
  checkEvent,
  type DeviceEvent,
  type EndEvent,
  type JoinEvent,
  type LeftEvent,
  MARKERS,
  type MemberRef,
  type ModeratedEvent,
  type Removal,
} from "./room_events.ts";
import { RemoteSession } from "./remote_session.ts";

/** How often rooms are checked for members that ended elsewhere or whose server died. */
export const RECONCILE_MS = 250;

/** What the delivery needs from the cluster node. */
export interface ClusterContext extends OfflineContext {
  readonly directory: Directory;
  readonly serverId: string;
  readonly log: Logger;
  readonly limits: { maxRoomMembers: number };
  /** The local session with this id, if any. */
  localById(id: string): Session | undefined;
  /** The stand-in for a session elsewhere, made or refreshed from its description. */
  proxy(ref: MemberRef, described?: Partial<PresenceRecord>): RemoteSession;
  /** A local session ended (it is no longer found by id). */
  ended(session: Session): void;
}

/** A change to publish: a record and what to do once every server applies it. */
interface Change {
  kind: "m" | "e";
  record: RoomRecord;
}

/** The cluster's offline delivery. */
export class ClusterDelivery extends OfflineDelivery {
  readonly #replicas = new Map<string, Replica>();
  readonly #following = new Map<string, Promise<Replica>>();
  readonly #cluster: ClusterContext;
  readonly #store: NatsStore;
  /** Why each local session ended, for the `end` event that takes it out. */
  readonly #endReasons = new WeakMap<Session, string>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(context: ClusterContext, options: OfflineOptions & { store: NatsStore }) {
    super(context, options);
    this.#cluster = context;
    this.#store = options.store;
    this.#timer = setInterval(() => this.#reconcile(), RECONCILE_MS);
  }

  /** Stops following every room. */
  stop(): void {
    clearInterval(this.#timer);
    for (const replica of this.#replicas.values()) replica.stop();
    this.#replicas.clear();
  }

  /** Rooms this server follows now. */
  get followed(): string[] {
    return [...this.#replicas.keys()];
  }

  // ---- following rooms --------------------------------------------------------------------

  /** The replica of `name`, following its stream from its last record (once). */
  #follow(name: string): Promise<Replica> {
    const known = this.#replicas.get(name);
    if (known) return Promise.resolve(known);
    let pending = this.#following.get(name);
    if (!pending) {
      pending = this.#bootstrap(name).finally(() => this.#following.delete(name));
      this.#following.set(name, pending);
    }
    return pending;
  }

  async #bootstrap(name: string): Promise<Replica> {
    const log = this.#store.log;
    // The membership is the last event's; what came after it can only be messages.
    let state = await log.state(name);
    let last = await log.lastEvent(name);
    while (last && last.seq > state.streamSeq) {
      state = await log.state(name);
      last = await log.lastEvent(name);
    }
    const rooms = this.context.rooms;
    rooms.forget(name);
    const room = rooms.adopt(name, state.ver);
    const members = (last && checkEvent(last.record)?.members) ?? [];
    for (const ref of members) {
      const member = this.#memberFor(ref);
      room.members.set(member.id, member);
      member.rooms.add(room);
    }
    this.devices.set(name, new Set(await this.#store.log.openDevices(name)));
    const replica = new Replica(name, state);
    this.#replicas.set(name, replica);
    await replica.follow(this.#store.link, this.#store.names.roomStream(name), (seq, record) => {
      if (this.#replicas.get(name) !== replica) return;
      this.#apply(replica, seq, record);
    });
    return replica;
  }

  /** The session for a member reference: a local one, or a stand-in. */
  #memberFor(ref: MemberRef, described?: Partial<PresenceRecord>): Session {
    if (ref.server === this.#cluster.serverId) {
      const local = this.#cluster.localById(ref.id);
      if (local) return local;
    }
    return this.#cluster.proxy(ref, described ?? this.#cluster.directory.byId(ref.id));
  }

  /** Stops following `name` when no session of this server is in it and no turn runs. */
  #maybeDrop(replica: Replica): void {
    if (replica.turns > 0 || this.#replicas.get(replica.room) !== replica) return;
    const room = this.context.rooms.get(replica.room);
    if (room && [...room.members.values()].some((m) => !(m instanceof RemoteSession))) return;
    replica.stop();
    this.#replicas.delete(replica.room);
    this.context.rooms.forget(replica.room);
    this.devices.delete(replica.room);
  }

  /** Reads `name` again from its stream (after a record this copy cannot apply). */
  #resync(replica: Replica, why: string): void {
    this.#cluster.log.log("error", "cluster_resync", { room: replica.room, why });
    replica.stop();
    this.#replicas.delete(replica.room);
    void this.#follow(replica.room).catch((error) => {
      this.#cluster.log.log("error", "cluster_follow_failed", {
        room: replica.room,
        error: String(error),
      });
    });
  }

  // ---- applying records, in stream order, on every server -----------------------------------

  #apply(replica: Replica, seq: number, record: RoomRecord | undefined): void {
    if (!record) return this.#resync(replica, `unreadable record ${seq}`);
    const room = this.context.rooms.adopt(replica.room, replica.ver);
    if (record.k === "m") {
      const m = record as MessageRecord;
      if (m.ver !== replica.ver || m.log !== replica.log + 1) {
        return this.#resync(replica, `message ${m.log} at ${replica.log}/${replica.ver}`);
      }
      replica.log = m.log;
      room.broadcast(
        encodeFrame({
          type: "msg",
          room: replica.room,
          from: m.user,
          device: m.device,
          session: m.session,
          ts: m.ts,
          payload: m.payload,
          seq: m.log,
        }),
        this.#cluster.localById(m.session),
      );
    } else if (!MARKERS.has(record.k)) {
      const event = checkEvent(record as EventRecord);
      if (!event) return this.#resync(replica, `malformed event ${seq}`);
      switch (event.k) {
        case "join":
          this.#applyJoin(room, event);
          break;
        case "left":
          this.#applyLeft(room, event);
          break;
        case "end":
          this.#applyEnd(room, event);
          break;
        case "device":
          this.#applyDevice(room, event);
          break;
        case "mod":
          if (event.event.room !== replica.room) {
            return this.#resync(replica, `moderation of ${event.event.room} in event ${seq}`);
          }
          this.#applyModerated(room, event);
          replica.moderated += 1;
          break;
      }
      if (room.version !== event.ver) {
        return this.#resync(
          replica,
          `version ${room.version} after event ${seq}, not ${event.ver}`,
        );
      }
      replica.log = event.log;
      replica.ver = room.version;
      replica.applied(seq);
      this.#maybeDrop(replica);
      return;
    }
    replica.ver = room.version;
    replica.applied(seq);
  }

  #applyJoin(room: Room, event: JoinEvent): void {
    const devices = this.#deviceSet(room.name);
    for (const address of event.opened) devices.add(address);
    for (const device of event.added) this.#offlineChange(room, device, "added");
    const joined: Session[] = [];
    for (const described of event.sessions) {
      const ref = { id: described.session, ...described };
      const member = this.#memberFor(ref, described);
      if (room.members.has(member.id)) continue;
      room.version += 1;
      room.broadcast(encodeFrame({
        type: "presence",
        room: room.name,
        event: "join",
        version: room.version,
        ...member.describe(),
      }));
      room.members.set(member.id, member);
      member.rooms.add(room);
      if (!(member instanceof RemoteSession)) joined.push(member);
    }
    for (const session of joined) {
      // Answered at the version of the whole event: the joiner sees everyone it brought along.
      session.joinedSeq.set(room.name, event.log);
      const members = this.context.rooms.membersOf(room, session);
      const offline = this.offlineOf(room.name, room, session);
      for (const frame of joinedFrames(room.name, room.version, members, offline, event.log)) {
        session.sendFrame(frame);
      }
    }
  }

  #applyLeft(room: Room, event: LeftEvent): void {
    const devices = this.#deviceSet(room.name);
    for (const address of [...devices]) {
      if (address.startsWith(`${event.user}/`)) devices.delete(address);
    }
    for (const id of event.sessions) {
      const member = room.members.get(id);
      if (!member) continue;
      this.context.rooms.leave(member, room, "left", { member: false });
      if (!(member instanceof RemoteSession)) {
        member.joinedSeq.delete(room.name);
        member.send({ type: "left", room: room.name });
      }
    }
  }

  #applyEnd(room: Room, event: EndEvent): void {
    for (const end of event.ends) {
      const member = room.members.get(end.id);
      if (!member) continue;
      const details: LeaveDetails = end.offline ? { offline: end.offline } : {};
      this.context.rooms.leave(member, room, end.reason, details);
    }
  }

  #applyDevice(room: Room, event: DeviceEvent): void {
    const devices = this.#deviceSet(room.name);
    for (const address of event.opened) devices.add(address);
    for (const change of event.changes) {
      if (change.state === "removed") {
        devices.delete(change.address);
        const [user, device] = change.address.split("/") as [string, string];
        this.#offlineChange(room, { user, device, cert: "" }, "removed");
      } else if (change.device) {
        this.#offlineChange(room, change.device, "added");
      }
    }
  }

  /**
   * A moderator's action: every member here is told (the removed users' sessions too, before
   * they go), then the removed users' sessions leave, each told `left`, or, when none was in
   * the room, their member devices are announced removed. Either way the version changes, so
   * every remaining member, on every server, starts a new chain the removed user never gets.
   */
  #applyModerated(room: Room, event: ModeratedEvent): void {
    room.broadcast(encodeFrame({ type: "moderation", ...event.event }));
    const devices = this.#deviceSet(room.name);
    for (const removal of event.removed) {
      for (const address of [...devices]) {
        if (address.startsWith(`${removal.user}/`)) devices.delete(address);
      }
      for (const id of removal.sessions) {
        const member = room.members.get(id);
        if (!member) continue;
        this.context.rooms.leave(member, room, event.reason, { member: false });
        if (!(member instanceof RemoteSession)) {
          member.joinedSeq.delete(room.name);
          member.send({ type: "left", room: room.name });
        }
      }
      for (const address of removal.devices) {
        const [user, device] = address.split("/") as [string, string];
        this.#offlineChange(room, { user, device, cert: "" }, "removed");
      }
    }
  }

  /** Tells the room an offline member device came or went (a version change). */
  #offlineChange(room: Room, device: OfflineDevice, state: "added" | "removed"): void {
    // The registry drops a room with no members; the version must go on all the same.
    const live = this.context.rooms.adopt(room.name, room.version);
    live.version += 1;
    live.broadcast(encodeFrame({
      type: "offline_device",
      room: room.name,
      version: live.version,
      user: device.user,
      device: device.device,
      state,
      ...(state === "added"
        ? { cert: device.cert, ...(device.link ? { link: device.link } : {}) }
        : {}),
    }));
    room.version = live.version;
  }

  #deviceSet(name: string): Set<string> {
    let devices = this.devices.get(name);
    if (!devices) {
      devices = new Set();
      this.devices.set(name, devices);
    }
    return devices;
  }

  // ---- turns: checked against the copy, published only if the stream has not moved ---------

  /**
   * Runs `decide` in `name`'s turn against an up-to-date copy; publishes the change it returns
   * (if any) only if the stream has not moved since, else catches up and decides again. Resolves
   * once the change has been applied here, with the record published.
   */
  #turn<T extends RoomRecord>(
    name: string,
    decide: (replica: Replica, room: Room) => Promise<Change | undefined> | Change | undefined,
    fresh = false,
  ): Promise<T | undefined> {
    return this.sequencer.run(name, async () => {
      if (this.#store.link.state !== "up") throw new StoreUnavailableError("NATS is unreachable");
      const replica = await this.#follow(name);
      replica.turns += 1;
      try {
        if (fresh) await replica.until((await this.#store.log.state(name)).streamSeq);
        for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
          const current = this.#replicas.get(name);
          if (current !== replica) {
            throw new StoreUnavailableError(`room ${name} is being read again`);
          }
          const room = this.context.rooms.adopt(name, replica.ver);
          const change = await decide(replica, room);
          if (!change) return undefined;
          try {
            const seq = await this.#store.log.publishAt(
              name,
              change.kind,
              change.record,
              replica.streamSeq,
            );
            await replica.until(seq);
            return change.record as T;
          } catch (error) {
            if (!(error instanceof ConflictError)) throw error;
            await replica.until(error.last ?? (await this.#store.log.state(name)).streamSeq);
          }
        }
        throw new StoreUnavailableError(`too many concurrent changes of room ${name}`);
      } finally {
        replica.turns -= 1;
        this.#maybeDrop(replica);
      }
    });
  }

  /** The member references of `room` now, with `add` and without `drop`. */
  #refs(room: Room, add: Session[] = [], drop: Set<string> = new Set()): MemberRef[] {
    const refs: MemberRef[] = [];
    for (const member of [...room.members.values(), ...add]) {
      if (drop.has(member.id)) continue;
      refs.push({
        id: member.id,
        user: member.user,
        device: member.device,
        server: member instanceof RemoteSession ? member.server : this.#cluster.serverId,
      });
    }
    return refs;
  }

  #describeMember(member: Session) {
    return {
      ...member.describe(),
      server: member instanceof RemoteSession ? member.server : this.#cluster.serverId,
    };
  }

  // ---- what the router asks -----------------------------------------------------------------

  override join(session: Session, name: string): Promise<void> {
    let newMember: boolean | undefined;
    /** Whether moderation is asked: not of the user whose join created the room. */
    let gated: boolean | undefined;
    return this.#turn<JoinEvent>(name, async (replica, room) => {
      if (session.ending) return undefined;
      if (room.members.has(session.id)) {
        // Joining a room one is in answers `joined` again.
        const members = this.context.rooms.membersOf(room, session);
        const offline = this.offlineOf(name, room, session);
        for (const frame of joinedFrames(name, room.version, members, offline, replica.log)) {
          session.sendFrame(frame);
        }
        return undefined;
      }
      const refusal = this.context.rooms.refusal(session, name) ??
        (room.members.size >= this.#cluster.limits.maxRoomMembers ? "room_full" : undefined);
      if (refusal) {
        refuse(session, refusal, { room: name }, `${ERROR_CODES[refusal]}: ${name}`);
        return undefined;
      }
      const now = this.clock();
      if (gated === undefined) {
        let created = false;
        if (!(await this.store.rooms.get(name))) {
          // Its creator owns it; another server may have made it meanwhile.
          created = await this.store.rooms.create(name, session.user, now).then(
            () => true,
            (error) => {
              if (!(error instanceof RoomExistsError)) throw error;
              return false;
            },
          );
        }
        gated = !created;
      }
      if (gated && this.gate) {
        // Asked at every attempt: a ban stored since the last one counts (the moderator's
        // record then came first in the stream, and this join must not follow it).
        const verdict = await this.gate.canJoin(session.user, name);
        if (!verdict.ok) {
          // An earlier attempt made the user a member: that membership ends again.
          if (newMember) await this.store.members.leave(name, session.user);
          refuse(session, verdict.code, { room: name }, verdict.message);
          return undefined;
        }
      }
      newMember ??= await this.store.members.join(name, session.user, now);
      const devices = this.#deviceSet(name);
      const wanted = [session.key];
      if (newMember) {
        for (const label of this.directory.validDevices(session.user)) {
          wanted.push(`${session.user}/${label}`);
        }
      }
      const opened = [...new Set(wanted)].filter((address) => !devices.has(address));
      // The user's other live sessions, anywhere, come in with it when it becomes a member.
      const others = newMember
        ? this.context.sessionsOf(session.user).filter((other) =>
          other !== session && !other.ending && other.announce !== undefined &&
          !room.members.has(other.id)
        )
        : [];
      const joining = [session, ...others];
      const keys = new Set(joining.map((member) => member.key));
      const live = new Set([...room.members.values()].map((member) => member.key));
      const added: OfflineDevice[] = [];
      for (const address of opened) {
        if (keys.has(address) || live.has(address)) continue;
        const device = this.offlineDevice(address);
        if (device) added.push(device);
      }
      const record: JoinEvent = {
        k: "join",
        log: replica.log,
        ver: replica.ver + added.length + joining.length,
        added,
        sessions: joining.map((member) => this.#describeMember(member)),
        opened,
        members: this.#refs(room, joining),
      };
      return { kind: "e", record };
    }, true).then(async (event) => {
      if (!event) return;
      for (const address of event.opened) {
        await this.#store.log.openIntervalAt(name, address, event.log + 1);
      }
      // An invite it held (`+i`) is used up.
      if (newMember) await this.gate?.onJoin(session.user, name);
      // It ended while its turn ran: the reconciler takes it out again.
      if (session.ending) this.#reconcileRoom(name);
    });
  }

  override rejoin(session: Session): Promise<void> {
    return this.#cluster.directory.put(session).then(() => super.rejoin(session));
  }

  override leave(session: Session, name: string): Promise<void> {
    return this.#turn<LeftEvent>(name, (replica, room) => {
      if (!room.members.has(session.id)) {
        refuse(session, "not_in_room", { room: name }, `Not a member of ${name}`);
        return undefined;
      }
      const sessions = [...room.members.values()]
        .filter((member) => member.user === session.user)
        .map((member) => member.id);
      const record: LeftEvent = {
        k: "left",
        log: replica.log,
        ver: replica.ver + sessions.length,
        user: session.user,
        sessions,
        members: this.#refs(room, [], new Set(sessions)),
      };
      return { kind: "e", record };
    }).then(async (event) => {
      if (!event) return;
      // The user's devices read nothing of the room after its leave.
      await this.#store.log.closeUser(name, session.user, event.log + 1);
      await this.store.members.leave(name, session.user);
    });
  }

  override async relay(session: Session, message: Extract<ClientMessage, { type: "msg" }>) {
    const name = message.room;
    const about = { id: message.id, room: name };
    let described = false;
    // Muted, or voiceless in a +m room? Asked before the room's turn, so that the store's
    // answers for many senders overlap instead of queueing one after another in the turn.
    let asked = this.#replicas.get(name);
    let mark = asked?.moderated;
    const verdict = await this.gate?.canSpeak(session.user, name);
    if (verdict && !verdict.ok) return refuse(session, verdict.code, about, verdict.message);
    await this.#turn<MessageRecord>(name, async (replica, room) => {
      if (!room.members.has(session.id)) {
        refuse(session, "not_in_room", about, `Not a member of ${name}`);
        return undefined;
      }
      if (message.version !== undefined && message.version !== room.version) {
        refuse(session, "membership_changed", about);
        return undefined;
      }
      if (this.gate && (replica !== asked || replica.moderated !== mark)) {
        // A moderator's event was applied since the answer above (or this copy is new): asked
        // again. A mute is stored before its event is published, so an answer read after the
        // event has been applied is current; a message relayed after a mute was let through
        // by an answer that already knew of it.
        const at = replica.moderated;
        const again = await this.gate.canSpeak(session.user, name);
        if (!again.ok) {
          refuse(session, again.code, about, again.message);
          return undefined;
        }
        [asked, mark] = [replica, at];
      }
      const ts = this.clock();
      if (!described) {
        await this.describe(session, ts);
        described = true;
      }
      const record = {
        k: "m" as const,
        log: replica.log + 1,
        ver: replica.ver,
        user: session.user,
        device: session.device,
        session: session.id,
        ts,
        payload: message.payload,
        sealed: room.version,
      };
      return { kind: "m", record };
    }).then((record) => {
      if (!record) return;
      const devices = this.devices.get(name);
      const recipients = (devices?.size ?? 0) - (devices?.has(session.key) ? 1 : 0);
      session.send({ type: "ack", id: message.id, recipients });
    });
  }

  /**
   * A moderation command in the room's turn for the whole cluster: `decide` (the policy) runs
   * once, and its live change is published as a `mod` event that every server following the
   * room applies in stream order (`#applyModerated`). Those outside the room who are told too
   * (the actor when not a member, an invitee, a removed user's sessions that were in no copy of
   * the room) get the event from here, forwarded to their servers, once the record has been
   * applied here.
   */
  override async moderate<T>(
    actor: Session,
    name: string,
    decide: () => Promise<ModerationTurn<T>>,
  ): Promise<T | undefined> {
    let decided: ModerationTurn<T> | undefined;
    let outside: Session[] = [];
    if (!isValidRoomName(name) || !(await this.store.rooms.get(name))) {
      // No such room: the policy says so, and no stream is made for a name anyone may send.
      // (Made meanwhile by someone else, its change still goes through the room's turn.)
      if (actor.ending) return undefined;
      decided = await decide();
      if (!decided.live) return decided.outcome;
    }
    return await this.#turn<ModeratedEvent>(name, async (replica, room) => {
      if (!decided) {
        if (actor.ending) return undefined;
        decided = await decide();
      } else {
        // Another change came first. A join decided before the policy stored a removal may
        // have made the removed user a member again: that membership ends again, before this
        // record, so the store agrees with the stream's order.
        for (const user of decided.live?.remove ?? []) {
          await this.store.members.leave(name, user);
        }
      }
      const live = decided.live;
      if (!live) return undefined;
      const removed: Removal[] = live.remove.map((user) => {
        const sessions = [...room.members.values()]
          .filter((member) => member.user === user)
          .map((member) => member.id);
        // With no session in the room, the devices are what the others hear of.
        const devices = sessions.length > 0
          ? []
          : [...this.#deviceSet(name)].filter((address) => address.startsWith(`${user}/`));
        return { user, sessions, devices };
      });
      const gone = new Set(removed.flatMap((removal) => removal.sessions));
      const changes = gone.size + removed.reduce((sum, removal) => sum + removal.devices.length, 0);
      outside = this.#outside(room, actor, live);
      const record: ModeratedEvent = {
        k: "mod",
        log: replica.log,
        ver: replica.ver + changes,
        event: live.event,
        reason: removalReason(live.event),
        removed,
        members: this.#refs(room, [], gone),
      };
      return { kind: "e", record };
    }).then((record) => {
      if (record) {
        const message = { type: "moderation" as const, ...record.event };
        for (const session of outside) session.send(message);
      }
      return decided?.outcome;
    });
  }

  /**
   * Who is told of `live` but not through the room's record, because no copy of the room has
   * them: the actor when not a member (an administrator), and the sessions anywhere of the
   * users it notifies or removes that are not in the room.
   */
  #outside(room: Room, actor: Session, live: RoomModeration): Session[] {
    const told = new Map<string, Session>();
    const add = (session: Session) => {
      if (!session.ending && !room.members.has(session.id)) told.set(session.id, session);
    };
    add(actor);
    for (const user of [...live.notify, ...live.remove]) {
      for (const session of this.context.sessionsOf(user)) add(session);
    }
    return [...told.values()];
  }

  override endSession(session: Session, reason: string): void {
    this.#endReasons.set(session, reason);
    this.#cluster.ended(session);
    void this.#cluster.directory.remove(session);
    for (const room of [...session.rooms]) this.#reconcileRoom(room.name);
  }

  override described(session: Session, frame: Uint8Array): void {
    void this.#cluster.directory.put(session).catch(() => {});
    const link = this.#store.link;
    if (link.state !== "up") return;
    link.nc.publish(this.#store.names.updatesSubject, frame);
  }

  // ---- devices --------------------------------------------------------------------------------

  /** Publishes `changes` of `address` in every room of `user`. */
  async #deviceTurns(
    user: string,
    decide: (room: Room, devices: Set<string>) => DeviceEvent["changes"],
    open?: string,
  ): Promise<void> {
    const rooms = await this.store.members.roomsOf(user);
    await Promise.all(rooms.map((name) =>
      this.#turn<DeviceEvent>(name, (replica, room) => {
        const devices = this.#deviceSet(name);
        const changes = decide(room, devices);
        const opened = open && !devices.has(open) ? [open] : [];
        if (changes.length === 0 && opened.length === 0) return undefined;
        const record: DeviceEvent = {
          k: "device",
          log: replica.log,
          ver: replica.ver + changes.filter((c) => c.state === "removed" || c.device).length,
          changes,
          opened,
          members: this.#refs(room),
        };
        return { kind: "e", record };
      }, true).then(async (event) => {
        if (event && open && event.opened.includes(open)) {
          await this.#store.log.openIntervalAt(name, open, event.log + 1);
        }
      })
    ));
  }

  override async deviceEnrolled(user: string, device: string): Promise<void> {
    const address = `${user}/${device}`;
    await this.store.forgetDevice(address);
    const live = (room: Room) => [...room.members.values()].some((m) => m.key === address);
    await this.#deviceTurns(user, (room, devices) => {
      const changes: DeviceEvent["changes"] = [];
      if (live(room)) return changes;
      if (devices.has(address)) changes.push({ address, state: "removed" });
      const added = this.offlineDevice(address);
      if (added) changes.push({ address, state: "added", device: added });
      return changes;
    }, address);
  }

  override async deviceLinked(user: string, device: string): Promise<void> {
    const address = `${user}/${device}`;
    await this.#deviceTurns(user, (room, devices) => {
      if (!devices.has(address) || [...room.members.values()].some((m) => m.key === address)) {
        return [];
      }
      const added = this.offlineDevice(address);
      return added ? [{ address, state: "added", device: added }] : [];
    });
  }

  override async devicesRevoked(devices: { user: string; device: string }[]): Promise<void> {
    for (const { user, device } of devices) {
      if (this.directory.currentCert(user, device)) continue; // an older certificate only
      const address = `${user}/${device}`;
      await this.#deviceTurns(user, (room, set) => {
        if (!set.has(address)) return [];
        return [...room.members.values()].some((m) => m.key === address)
          ? [] // its session is about to end, as revoked: it leaves without `offline`
          : [{ address, state: "removed" }];
      });
      await this.store.forgetDevice(address);
    }
  }

  // ---- taking out members that are gone -----------------------------------------------------

  /** True when `member` is gone: a local session that ended, or one elsewhere that did. */
  #gone(member: Session): boolean {
    if (member instanceof RemoteSession) {
      const record = this.#cluster.directory.byId(member.id);
      return !record || record.session !== member.id;
    }
    return member.closed;
  }

  #reconcile(): void {
    if (this.#store.link.state !== "up") return;
    for (const [name, replica] of this.#replicas) {
      const room = this.context.rooms.get(name);
      if (replica.turns > 0 || !room) continue;
      if ([...room.members.values()].some((member) => this.#gone(member))) {
        this.#reconcileRoom(name);
      }
    }
  }

  /** Publishes an `end` for every member of `name` that is gone (in the room's turn). */
  #reconcileRoom(name: string): void {
    void this.#turn<EndEvent>(name, (replica, room) => {
      const gone = [...room.members.values()].filter((member) => this.#gone(member));
      if (gone.length === 0) return undefined;
      const devices = this.#deviceSet(name);
      const ends = gone.map((member) => {
        const reason = member instanceof RemoteSession
          ? "quit"
          : this.#endReasons.get(member) ?? "quit";
        const offline = reason !== "revoked" && devices.has(member.key)
          ? this.offlineDevice(member.key)
          : undefined;
        return { id: member.id, reason, ...(offline ? { offline } : {}) };
      });
      const record: EndEvent = {
        k: "end",
        log: replica.log,
        ver: replica.ver + ends.length,
        ends,
        members: this.#refs(room, [], new Set(gone.map((member) => member.id))),
      };
      return { kind: "e", record };
    }).catch((error) => {
      this.#cluster.log.log("warn", "cluster_end_failed", { room: name, error: String(error) });
    });
  }
}
