/**
 * Rooms: named sets of sessions. A room exists while it has members. Joining and leaving tell
 * the other members (presence, with the session's announcement so they can agree keys).
 *
 * @module
 */

import { encodeFrame } from "../protocol/framing.ts";
import { MAX_LISTED_ROOMS, type MemberInfo } from "../protocol/messages.ts";
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
    if (session.rooms.size >= this.maxRoomsPerSession) return "too_many_rooms";
    if (room && room.members.size >= this.maxRoomMembers) return "room_full";
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
   * Removes `session` from `room`, telling the others why: `left` for a leave, anything else
   * (`quit`, `replaced`, ...) says the session ended. Empty rooms disappear.
   */
  leave(session: Session, room: Room, reason = "left"): void {
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
      }),
    );
  }

  /** Removes `session` from every room it is in. */
  leaveAll(session: Session, reason: string): void {
    for (const room of [...session.rooms]) this.leave(session, room, reason);
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
