/**
 * What the server does with each message from an authenticated session: an exhaustive switch
 * over the client message union. Relayed frames are built from validated fields only, stamped
 * with the authenticated sender, and encoded once however many members receive them. The
 * payloads are opaque here: the server has no key to read them with.
 *
 * @module
 */

import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame } from "../protocol/framing.ts";
import {
  type ClientMessage,
  MAX_LISTED_DEVICES,
  MAX_LISTED_MEMBERS,
  MAX_PEER_SESSIONS,
} from "../protocol/messages.ts";
import { joinedFrames } from "./joined.ts";
import type { OfflineDelivery } from "./offline.ts";
import type { Moderator } from "./moderator.ts";
import type { DeviceAdmin } from "./registrar.ts";
import { refuse } from "./refuse.ts";
import type { Room, RoomRegistry } from "./rooms.ts";
import type { Logger } from "./log.ts";
import type { Session } from "./session.ts";
import { StoreError, UnknownRoomError } from "./store/mod.ts";

export { joinedFrames } from "./joined.ts";

/** What routing needs from the server. */
export interface RouterContext {
  readonly rooms: RoomRegistry;
  /** The CA's device administration, when the server has its CA. */
  readonly devices?: DeviceAdmin;
  /**
   * Persistent rooms, the room log, inboxes and pre-keys, when the server has a store. Without
   * one, rooms live while they have sessions and nothing is kept (the behaviour before issue 12).
   */
  readonly offline?: OfflineDelivery;
  /** Moderation of rooms, when the server has a store (it keeps roles, bans and modes). */
  readonly moderator?: Moderator;
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
  /** The server's log: a request refused because the store failed is said there, with why. */
  readonly log: Logger;
}

/**
 * Runs a request that uses the store: a store that fails (disk, lock, closed) refuses the
 * request with `store_unavailable` (naming it), and nothing was delivered; the session goes on.
 */
async function stored(
  context: RouterContext,
  session: Session,
  about: { id?: string; room?: string },
  work: () => void | Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (error instanceof UnknownRoomError) {
      return refuse(session, "not_in_room", about, `No room ${error.room}`);
    }
    if (error instanceof StoreError) {
      context.log.log("warn", "store_refused", {
        user: session.user,
        device: session.device,
        ...about,
        error: error.message,
      });
      return refuse(
        session,
        "store_unavailable",
        about,
        `${ERROR_CODES.store_unavailable} (${error.code})`,
      );
    }
    throw error;
  }
}

/** The store, or a fatal `unexpected` for a request only a server with a store serves. */
function offline(context: RouterContext, type: string): OfflineDelivery {
  if (!context.offline) {
    throw new ProtocolError("unexpected", `"${type}" needs a server that keeps a store`);
  }
  return context.offline;
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
      if (first) {
        // Back into every room its user is a member of, without asking.
        const store = context.offline;
        return store && stored(context, session, {}, () => store.rejoin(session));
      }
      // Tell everyone who shares a room, once each, that this session re-announced.
      const frame = encodeFrame({
        type: "announce",
        user: session.user,
        device: session.device,
        session: session.id,
        announce: message.payload,
      });
      tellCoMembers(session, frame);
      context.offline?.described(session, frame);
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
      context.offline?.described(session, frame);
      return;
    }

    case "join": {
      if (session.announce === undefined) {
        return refuse(session, "announce_required", { room: message.room });
      }
      const store = context.offline;
      if (store) {
        return stored(
          context,
          session,
          { room: message.room },
          () => store.join(session, message.room),
        );
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
      const store = context.offline;
      if (store) {
        return stored(
          context,
          session,
          { room: message.room },
          () => store.leave(session, message.room),
        );
      }
      context.rooms.leave(session, room);
      session.send({ type: "left", room: message.room });
      return;
    }

    case "rooms":
      session.send({ type: "rooms", rooms: context.rooms.list() });
      return;

    case "who": {
      const room = context.rooms.get(message.room);
      const users = new Set(room ? [...room.members.values()].map((member) => member.user) : []);
      const members = [...users].sort().slice(0, MAX_LISTED_MEMBERS);
      const moderator = context.moderator;
      if (!moderator || members.length === 0) {
        session.send({ type: "who", room: message.room, members });
        return;
      }
      // With a store, each member's role (and mute) beside the names.
      return stored(context, session, { room: message.room }, async () => {
        const roles = await moderator.roles(message.room, members);
        session.send({ type: "who", room: message.room, members, ...(roles ? { roles } : {}) });
      });
    }

    case "moderate": {
      const moderator = context.moderator;
      if (!moderator) return refuse(session, "moderation_unavailable", { id: message.id });
      return stored(context, session, { id: message.id }, () => moderator.handle(session, message));
    }

    case "keys": {
      // With a room: only to its members. Without: direct-message chains, to any live session.
      const room = message.room === undefined
        ? undefined
        : memberRoom(context, session, message.room);
      if (message.room !== undefined && !room) return;
      for (const item of message.items) {
        if (item.to.includes("/")) continue; // a device's inbox: below
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
      // Items addressed to a device (`user/device`) wait in its inbox; without a store they are
      // dropped like items for a session that is gone.
      const store = context.offline;
      if (!store || !message.items.some((item) => item.to.includes("/"))) return;
      if (session.announce === undefined) return refuse(session, "announce_required");
      return stored(
        context,
        session,
        message.room ? { room: message.room } : {},
        () => store.keysToInboxes(session, message),
      );
    }

    case "msg": {
      const room = memberRoom(context, session, message.room, message.id);
      if (!room) return;
      const store = context.offline;
      if (store) {
        return stored(
          context,
          session,
          { id: message.id, room: message.room },
          () => store.relay(session, message),
        );
      }
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
      if (message.device !== undefined) {
        // To a device's inbox (it is offline, or the sender could not tell).
        const store = context.offline;
        if (!store) {
          return refuse(
            session,
            "no_such_device",
            { id: message.id },
            "This server keeps no inboxes",
          );
        }
        if (session.announce === undefined) {
          return refuse(session, "announce_required", { id: message.id });
        }
        return stored(
          context,
          session,
          { id: message.id },
          () => store.dmToInbox(session, message),
        );
      }
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
      const live = context.sessionsOf(message.user)
        .filter((target) => !target.ending && target.announce !== undefined)
        .slice(0, MAX_PEER_SESSIONS);
      const sessions = live.map((target) => {
        const { user: _user, ...described } = target.describe();
        return described;
      });
      // With a store, the user's devices that are offline too: their inboxes take messages.
      const offline = context.offline
        ?.offlineDevicesOf(message.user, new Set(live.map((target) => target.device)))
        .slice(0, MAX_LISTED_DEVICES) ?? [];
      if (sessions.length === 0 && offline.length === 0) {
        return refuse(session, "no_such_user", { id: message.id }, `${message.user} is not online`);
      }
      session.send({
        type: "peer",
        id: message.id,
        user: message.user,
        sessions,
        ...(offline.length > 0 ? { offline } : {}),
      });
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
      return deviceRequest(session, message.id, async () => {
        // Only devices of the session's own user: the name comes from its certificate.
        const serials = await admin(context).revokeDevice(
          session.user,
          message.device,
          session.device,
          new Date(),
        );
        session.send({ type: "device_revoked", id: message.id, device: message.device });
        context.closeRevoked(serials);
      });

    case "device_link":
      return deviceRequest(session, message.id, async () => {
        // Only for devices of the session's own user that this very device invited.
        const linked = await admin(context).storeLink(
          session.user,
          message.device,
          session.device,
          message.link,
          new Date(),
        );
        if (!linked) {
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
        // Rooms where it is an offline member device hear of it only now, vouched for.
        const store = context.offline;
        if (store) {
          return stored(
            context,
            session,
            { id: message.id },
            () => store.deviceLinked(session.user, message.device),
          );
        }
      });

    case "ping":
      session.send({ type: "pong" });
      return;

    case "pong":
      return;

    case "history": {
      const store = offline(context, message.type);
      return stored(
        context,
        session,
        { room: message.room },
        () => store.history(session, message.room, message.after),
      );
    }

    case "inbox": {
      const store = offline(context, message.type);
      return stored(context, session, {}, () => store.inbox(session, message.after));
    }

    case "inbox_ack": {
      const store = offline(context, message.type);
      return stored(context, session, {}, () => store.inboxAck(session, message.upto));
    }

    case "prekeys": {
      const store = offline(context, message.type);
      return stored(context, session, {}, () => store.prekeys(session, message));
    }

    case "bundles": {
      const store = offline(context, message.type);
      return stored(context, session, { id: message.id }, () => store.bundles(session, message));
    }

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
        // Direct chains: the sessions the items name, wherever they are. Items addressed to a
        // device (`user/device`) go to its inbox and reach no live session.
        const targets = new Set<Session>([session]);
        for (const item of (message as Extract<ClientMessage, { type: "keys" }>).items) {
          const target = context.sessionById(item.to);
          if (target) targets.add(target);
        }
        return [...targets];
      }
      // A non-member is only refused (`not_in_room`): its reply goes to itself alone. A `leave`
      // reaches the room's sessions (the user's own among them, each told `left`).
      const room = context.rooms.get(message.room);
      return room?.members.has(session.id) ? [session, ...room.members.values()] : [session];
    }
    case "join": {
      // Everyone already in the room hears the newcomer's presence; with a store, the user's
      // other live sessions come in too when the user was not a member.
      const room = context.rooms.get(message.room);
      const targets = new Set<Session>([session, ...room?.members.values() ?? []]);
      if (context.offline) {
        for (const other of context.sessionsOf(session.user)) targets.add(other);
      }
      return [...targets];
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
    case "moderate":
      // The room's sessions hear the event; the target's sessions too, wherever they are.
      return context.moderator?.recipients(session, message) ?? [session];
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
      // The one session of `to` the message names, as `route` picks it (a user may have several);
      // a `dm` to a device goes to its inbox and reaches no live session.
      if (message.session === undefined) return [session];
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
    // The store's requests: answered to the sender only (`history`, `inbox` and `bundles` in
    // frames that wait while the sender is behind; see `server/offline.ts`).
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
