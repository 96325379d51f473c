/**
 * Rooms: named sets of live sessions. A live room exists while it has sessions in it (the
 * persistent room, its members and its log are in the store, see `server/offline.ts`). Joining
 * and leaving tell the other sessions (presence, with the session's announcement so they can
 * agree keys).
 *
 * @module
 */

import { encodeFrame } from "../protocol/framing.ts";
import { MAX_LISTED_ROOMS, type MemberInfo, type OfflineDevice } from "../protocol/messages.ts";
import type { Session } from "./session.ts";

/** A room and its members by session id. */
export class Room {
  readonly members = new Map<string, Session>();
  /**
   * Changes on every join and leave. Clients seal each message for the membership of one
   * version; the server relays it only while that version is current.
   */
  version = 0;
  constructor(readonly name: string) {}

  /** Sends one encoded frame to every member but `except`; returns how many it went to. */
  broadcast(frame: Uint8Array, except?: Session): number {
    let count = 0;
    for (const member of this.members.values()) {
      if (member === except || member.ending) continue;
      member.sendFrame(frame);
      count += 1;
    }
    return count;
  }
}

/** Why a join was refused. */
export type JoinRefusal = "room_full" | "too_many_rooms";

/** What a `presence` leave may say beyond who left and why. */
export interface LeaveDetails {
  /** False when the user is no longer a member at all. */
  member?: boolean;
  /** The session's device, which stays a member device while offline. */
  offline?: OfflineDevice;
}

/** Every room on the server. */
export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();

  constructor(
    private readonly maxRoomMembers: number,
    private readonly maxRoomsPerSession: number,
  ) {}

  /** The room called `name`, if it has members. */
  get(name: string): Room | undefined {
    return this.#rooms.get(name);
  }

  /** Number of rooms with members. */
  get size(): number {
    return this.#rooms.size;
  }

  /**
   * Adds `session` to `name`, telling the others, and returns the room, or the reason it cannot.
   * Joining a room one is already in just returns it.
   */
  join(session: Session, name: string): Room | JoinRefusal {
    let room = this.#rooms.get(name);
    if (room?.members.has(session.id)) return room;
    const refusal = this.refusal(session, name);
    if (refusal) return refusal;
    if (!room) {
      room = new Room(name);
      this.#rooms.set(name, room);
    }
    room.version += 1;
    room.broadcast(
      encodeFrame({
        type: "presence",
        room: name,
        event: "join",
        version: room.version,
        ...session.describe(),
      }),
    );
    room.members.set(session.id, session);
    session.rooms.add(room);
    return room;
  }

  /**
   * The room `name`, registered with `version` if it was not (a cluster server starts following
   * a room whose membership lives elsewhere too).
   */
  adopt(name: string, version: number): Room {
    let room = this.#rooms.get(name);
    if (!room) {
      room = new Room(name);
      room.version = version;
      this.#rooms.set(name, room);
    }
    return room;
  }

  /** Stops keeping `name` here (a cluster server no longer follows it); its members leave it. */
  forget(name: string): void {
    const room = this.#rooms.get(name);
    if (!room) return;
    this.#rooms.delete(name);
    for (const member of room.members.values()) member.rooms.delete(room);
    room.members.clear();
  }

  /** Why `session` could not join `name` now, if it could not (without joining). */
  refusal(session: Session, name: string): JoinRefusal | undefined {
    const room = this.#rooms.get(name);
    if (room?.members.has(session.id)) return undefined;
    if (session.rooms.size >= this.maxRoomsPerSession) return "too_many_rooms";
    if (room && room.members.size >= this.maxRoomMembers) return "room_full";
    return undefined;
  }

  /**
   * Removes `session` from `room`, telling the others why: `left` for a leave, anything else
   * (`quit`, `replaced`, ...) says the session ended; `details` add whether the user is still a
   * member and, if so, its device as an offline one. Empty rooms disappear.
   */
  leave(session: Session, room: Room, reason = "left", details: LeaveDetails = {}): void {
    if (!room.members.delete(session.id)) return;
    session.rooms.delete(room);
    room.version += 1;
    if (room.members.size === 0) {
      this.#rooms.delete(room.name);
      return;
    }
    room.broadcast(
      encodeFrame({
        type: "presence",
        room: room.name,
        event: "leave",
        user: session.user,
        device: session.device,
        session: session.id,
        version: room.version,
        reason,
        ...details,
      }),
    );
  }

  /**
   * Removes `session` from every room it is in; `details` says, per room, what its presence
   * leave adds.
   */
  leaveAll(session: Session, reason: string, details?: (room: Room) => LeaveDetails): void {
    for (const room of [...session.rooms]) {
      this.leave(session, room, reason, details?.(room) ?? {});
    }
  }

  /** Changes `room`'s version and sends every session in it `frame(version)`. */
  announceChange(room: Room, frame: (version: number) => Uint8Array): void {
    room.version += 1;
    room.broadcast(frame(room.version));
  }

  /** The other members of `room` as the joiner needs them. */
  membersOf(room: Room, except: Session): MemberInfo[] {
    const members: MemberInfo[] = [];
    for (const member of room.members.values()) {
      if (member === except || member.ending) continue;
      members.push(member.describe());
    }
    return members;
  }

  /** Rooms by size, largest first, at most {@linkcode MAX_LISTED_ROOMS}. */
  list(): { name: string; members: number }[] {
    return [...this.#rooms.values()]
      .map((room) => ({ name: room.name, members: room.members.size }))
      .sort((a, b) => b.members - a.members || a.name.localeCompare(b.name))
      .slice(0, MAX_LISTED_ROOMS);
  }
}
