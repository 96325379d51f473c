/**
 * What the server does with each message from an authenticated session: an exhaustive switch
 * over the client message union. Relayed frames are built from validated fields only, stamped
 * with the authenticated sender, and encoded once however many members receive them. The
 * payloads are opaque here: the server has no key to read them with.
 *
 * @module
 */

import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/framing.ts";
import {
  type ClientMessage,
  MAX_LISTED_DEVICES,
  MAX_LISTED_MEMBERS,
  MAX_PEER_SESSIONS,
  type MemberInfo,
} from "../protocol/messages.ts";
import type { DeviceAdmin } from "./registrar.ts";
import type { Room, RoomRegistry } from "./rooms.ts";
import type { Session } from "./session.ts";

/** What routing needs from the server. */
export interface RouterContext {
  readonly rooms: RoomRegistry;
  /** The CA's device administration, when the server has its CA. */
  readonly devices?: DeviceAdmin;
  /** The current sessions of `user`, one per device online. */
  sessionsOf(user: string): Session[];
  /** The live session with this id, if any. */
  sessionById(id: string): Session | undefined;
  /** Sends `session` the devices it invited that wait for it to vouch for them. */
  offerLinks(session: Session): void;
  /** Closes `session` after sending a fatal error. */
  closeSession(session: Session, code: ErrorCode, message?: string): void;
  /** Closes at once the live sessions of these (just revoked) certificate serials. */
  closeRevoked(serials: readonly string[]): void;
}

/** Sends a non-fatal error about one request (naming its message id or room, if any). */
function refuse(
  session: Session,
  code: ErrorCode,
  about: { id?: string; room?: string } = {},
  message: string = ERROR_CODES[code],
) {
  session.send({ type: "error", code, message, fatal: false, ...about });
}

/**
 * Handles one message from an authenticated session.
 *
 * @throws {ProtocolError} for a fatal violation (the caller closes the session).
 */
export function route(
  context: RouterContext,
  session: Session,
  message: ClientMessage,
): void | Promise<void> {
  switch (session.rate.take()) {
    case "accept":
      break;
    case "refuse":
      refuse(session, "rate_limited", {
        ...("id" in message ? { id: message.id } : {}),
        ...("room" in message ? { room: message.room } : {}),
      });
      return;
    case "flood":
      context.closeSession(session, "flood");
      return;
  }

  switch (message.type) {
    case "hello":
    case "auth":
    case "enroll":
    case "renew":
      throw new ProtocolError("unexpected", `"${message.type}" is only allowed during set-up`);

    case "announce": {
      const first = session.announce === undefined;
      session.announce = message.payload;
      if (first) return;
      // Tell everyone who shares a room, once each, that this session re-announced.
      const frame = encodeFrame({
        type: "announce",
        user: session.user,
        device: session.device,
        session: session.id,
        announce: message.payload,
      });
      tellCoMembers(session, frame);
      return;
    }

    case "agreement": {
      if (session.announce === undefined) {
        return refuse(session, "announce_required");
      }
      session.agreement = message.payload;
      // Everyone who shares a room hears it once; they wrap their next keys to it.
      const frame = encodeFrame({
        type: "agreement",
        user: session.user,
        device: session.device,
        session: session.id,
        payload: message.payload,
      });
      tellCoMembers(session, frame);
      return;
    }

    case "join": {
      if (session.announce === undefined) {
        return refuse(session, "announce_required", { room: message.room });
      }
      const room = context.rooms.join(session, message.room);
      if (typeof room === "string") {
        return refuse(
          session,
          room,
          { room: message.room },
          `${ERROR_CODES[room]}: ${message.room}`,
        );
      }
      for (
        const frame of joinedFrames(room.name, room.version, context.rooms.membersOf(room, session))
      ) {
        session.sendFrame(frame);
      }
      return;
    }

    case "leave": {
      const room = memberRoom(context, session, message.room);
      if (!room) return;
      context.rooms.leave(session, room);
      session.send({ type: "left", room: message.room });
      return;
    }

    case "rooms":
      session.send({ type: "rooms", rooms: context.rooms.list() });
      return;

    case "who": {
      const room = context.rooms.get(message.room);
      const members = room ? [...room.members.values()].map((member) => member.user) : [];
      session.send({
        type: "who",
        room: message.room,
        members: members.sort().slice(0, MAX_LISTED_MEMBERS),
      });
      return;
    }

    case "keys": {
      // With a room: only to its members. Without: direct-message chains, to any live session.
      const room = message.room === undefined
        ? undefined
        : memberRoom(context, session, message.room);
      if (message.room !== undefined && !room) return;
      for (const item of message.items) {
        const target = room ? room.members.get(item.to) : context.sessionById(item.to);
        if (!target || target === session) continue;
        target.send({
          type: "keys",
          ...(room ? { room: room.name } : {}),
          from: session.user,
          device: session.device,
          session: session.id,
          payload: item.payload,
        });
      }
      return;
    }

    case "msg": {
      const room = memberRoom(context, session, message.room, message.id);
      if (!room) return;
      if (message.version !== undefined && message.version !== room.version) {
        // Sealed for a membership that has changed since: relaying it would hand a newcomer a
        // message they have no key for (or a leaver one that was not meant for them).
        return refuse(session, "membership_changed", { id: message.id, room: room.name });
      }
      const frame = encodeFrame({
        type: "msg",
        room: room.name,
        from: session.user,
        device: session.device,
        session: session.id,
        ts: Date.now(),
        payload: message.payload,
        seq: 0,
      });
      const recipients = room.broadcast(frame, session);
      session.send({ type: "ack", id: message.id, recipients });
      return;
    }

    case "dm": {
      const online = context.sessionsOf(message.to).filter((candidate) => !candidate.ending);
      if (online.length === 0) {
        return refuse(session, "no_such_user", { id: message.id }, `${message.to} is not online`);
      }
      // The session must be one of `to`'s: a direct message never reaches another user.
      const target = online.find((candidate) => candidate.id === message.session);
      if (!target) return refuse(session, "stale_session", { id: message.id });
      target.send({
        type: "dm",
        from: session.user,
        device: session.device,
        session: session.id,
        ts: Date.now(),
        payload: message.payload,
      });
      session.send({ type: "ack", id: message.id, recipients: 1 });
      return;
    }

    case "lookup": {
      const sessions = context.sessionsOf(message.user)
        .filter((target) => !target.ending && target.announce !== undefined)
        .slice(0, MAX_PEER_SESSIONS)
        .map((target) => {
          const { user: _user, ...described } = target.describe();
          return described;
        });
      if (sessions.length === 0) {
        return refuse(session, "no_such_user", { id: message.id }, `${message.user} is not online`);
      }
      session.send({ type: "peer", id: message.id, user: message.user, sessions });
      return;
    }

    case "device_invite":
      return deviceRequest(session, message.id, async () => {
        const token = await admin(context).inviteDevice(
          session.user,
          message.device,
          session.device,
          new Date(),
        );
        session.send({ type: "device_invite", id: message.id, token });
      });

    case "devices":
      return deviceRequest(session, message.id, () => {
        const devices = admin(context).devices(session.user, new Date())
          .slice(0, MAX_LISTED_DEVICES);
        session.send({ type: "devices", id: message.id, devices });
      });

    case "device_revoke":
      return deviceRequest(session, message.id, () => {
        // Only devices of the session's own user: the name comes from its certificate.
        const serials = admin(context).revokeDevice(
          session.user,
          message.device,
          session.device,
          new Date(),
        );
        session.send({ type: "device_revoked", id: message.id, device: message.device });
        context.closeRevoked(serials);
      });

    case "device_link":
      return deviceRequest(session, message.id, () => {
        // Only for devices of the session's own user that this very device invited.
        const stored = admin(context).storeLink(
          session.user,
          message.device,
          session.device,
          message.link,
          new Date(),
        );
        if (!stored) {
          throw new ProtocolError(
            "no_such_device",
            `No device ${message.device} of ${session.user} waits for this device to vouch for it`,
            false,
          );
        }
        session.send({ type: "device_linked", id: message.id, device: message.device });
        // Its live sessions carry the link from now on; whoever already sees them hears of it.
        for (const target of context.sessionsOf(session.user)) {
          if (target.device !== message.device || target.ending) continue;
          target.link = message.link;
          const frame = encodeFrame({
            type: "link",
            user: target.user,
            device: target.device,
            session: target.id,
            link: message.link,
          });
          target.sendFrame(frame);
          tellCoMembers(target, frame);
        }
      });

    case "ping":
      session.send({ type: "pong" });
      return;

    case "pong":
      return;

    // Issue 12 (offline delivery): the server side is being built on its own branch.
    case "history":
    case "inbox":
    case "inbox_ack":
    case "prekeys":
    case "bundles":
      throw new ProtocolError("unexpected", `"${message.type}" is not served yet`);

    default: {
      const unreachable: never = message;
      throw new ProtocolError("unknown_type", `Unhandled ${JSON.stringify(unreachable)}`);
    }
  }
}

/** Sends `frame` once to every session that shares a room with `session` (not to itself). */
function tellCoMembers(session: Session, frame: Uint8Array): void {
  const told = new Set<Session>([session]);
  for (const room of session.rooms) {
    for (const member of room.members.values()) {
      if (told.has(member)) continue;
      told.add(member);
      member.sendFrame(frame);
    }
  }
}

function admin(context: RouterContext): DeviceAdmin {
  if (!context.devices) {
    throw new ProtocolError("unexpected", "This server does not manage devices");
  }
  return context.devices;
}

/** Runs a device request; a non-fatal refusal is answered as an error naming the request. */
async function deviceRequest(
  session: Session,
  id: string,
  work: () => void | Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof ProtocolError && !error.fatal) {
      return refuse(session, error.code, { id }, error.message);
    }
    throw error;
  }
}

/**
 * The sessions that handling `message` from `session` may queue frames for: the sender itself
 * (replies, errors) and whoever the message reaches. The caller waits until none of them is
 * behind before routing the message (back-pressure, `server/backpressure.ts`).
 */
export function recipientsOf(
  context: RouterContext,
  session: Session,
  message: ClientMessage,
): Session[] {
  switch (message.type) {
    case "keys":
    case "msg":
    case "leave": {
      if (message.room === undefined) {
        // Direct chains: the sessions the items name, wherever they are.
        const targets = new Set<Session>([session]);
        for (const item of (message as Extract<ClientMessage, { type: "keys" }>).items) {
          const target = context.sessionById(item.to);
          if (target) targets.add(target);
        }
        return [...targets];
      }
      // A non-member is only refused (`not_in_room`): its reply goes to itself alone.
      const room = context.rooms.get(message.room);
      return room?.members.has(session.id) ? [session, ...room.members.values()] : [session];
    }
    case "join": {
      // Everyone already in the room hears the newcomer's presence.
      const room = context.rooms.get(message.room);
      return room ? [session, ...room.members.values()] : [session];
    }
    case "announce":
    case "agreement": {
      // Everyone who shares a room with the sender (its user's other devices included).
      const told = new Set<Session>([session]);
      for (const room of session.rooms) {
        for (const member of room.members.values()) told.add(member);
      }
      return [...told];
    }
    case "device_link": {
      // The new device's live sessions and everyone who shares a room with them hear the link.
      const told = new Set<Session>([session]);
      for (const target of context.sessionsOf(session.user)) {
        if (target.device !== message.device) continue;
        told.add(target);
        for (const room of target.rooms) {
          for (const member of room.members.values()) told.add(member);
        }
      }
      return [...told];
    }
    case "dm": {
      // The one session of `to` the message names, as `route` picks it (a user may have several).
      const target = context.sessionsOf(message.to).find((candidate) =>
        candidate.id === message.session
      );
      return target ? [session, target] : [session];
    }
    // Answered to the sender only. A device revoked by `device_revoke` has its session closed;
    // that session's last frame (`revoked`) is never held back, so it is no recipient here.
    case "device_invite":
    case "devices":
    case "device_revoke":
    case "lookup":
    case "rooms":
    case "who":
    case "ping":
    case "pong":
    case "history":
    case "inbox":
    case "inbox_ack":
    case "prekeys":
    case "bundles":
    // Refused as `unexpected` after set-up.
    case "hello":
    case "auth":
    case "enroll":
    case "renew":
      return [session];
    default: {
      const unreachable: never = message;
      throw new ProtocolError("unknown_type", `Unhandled ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The room `name` if `session` is a member; otherwise refuses with `not_in_room` (naming `id`). */
function memberRoom(
  context: RouterContext,
  session: Session,
  name: string,
  id?: string,
): Room | undefined {
  const room = context.rooms.get(name);
  if (room?.members.has(session.id)) return room;
  refuse(session, "not_in_room", { ...(id ? { id } : {}), room: name }, `Not a member of ${name}`);
  return undefined;
}

/** Room for the frame's own fields (type, room name, `more`) beside the member list. */
const JOINED_OVERHEAD_BYTES = 256;

/**
 * The `joined` answer as frames: every member, in as many frames as it takes to keep each
 * within {@linkcode MAX_FRAME_BYTES} and {@linkcode MAX_LISTED_MEMBERS}; all but the last say
 * `more: true`. A room of a hundred members with real announcements needs two or more.
 */
export function joinedFrames(room: string, version: number, members: MemberInfo[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const budget = MAX_FRAME_BYTES - FRAME_HEADER_BYTES - JOINED_OVERHEAD_BYTES;
  let start = 0;
  let bytes = 0;
  for (let i = 0; i <= members.length; i++) {
    const member = members[i];
    // Every field is ASCII, so the JSON text's length is its byte length.
    const size = member ? JSON.stringify(member).length + 1 : 0;
    if (member && bytes + size <= budget && i - start < MAX_LISTED_MEMBERS) {
      bytes += size;
      continue;
    }
    const more = member !== undefined;
    frames.push(encodeFrame({
      type: "joined",
      room,
      members: members.slice(start, i),
      offline: [],
      version,
      seq: 0,
      ...(more ? { more: true } : {}),
    }));
    start = i;
    bytes = size;
  }
  return frames;
}
