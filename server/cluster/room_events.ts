/**
 * The events a room's stream carries besides its messages, as the cluster writes and reads
 * them. Each changes the room's membership on every server in the same order, so every member
 * is shown the same membership at the same version. An event read back is checked before it is
 * applied: a malformed one is reported and the room is read again from scratch, never applied
 * half-way.
 *
 * @module
 */

import type { MemberInfo, OfflineDevice } from "../../protocol/messages.ts";
import { decodeModerationEvent } from "../../protocol/moderation/frames.ts";
import type { ModerationEvent } from "../../protocol/moderation/types.ts";
import type { EventRecord } from "./nats_log.ts";

/** A live member as events list it (enough to find its description in the directory). */
export interface MemberRef {
  id: string;
  user: string;
  device: string;
  server: string;
}

/** Sessions came into the room (and devices became member devices). */
export interface JoinEvent extends EventRecord {
  k: "join";
  /** Offline member devices announced before the sessions, in order. */
  added: OfflineDevice[];
  sessions: (MemberInfo & { server: string })[];
  /** Devices whose intervals open at this event. */
  opened: string[];
  members: MemberRef[];
}

/** A user left the room: every session of theirs goes, and their devices stop being members. */
export interface LeftEvent extends EventRecord {
  k: "left";
  user: string;
  sessions: string[];
  members: MemberRef[];
}

/** Sessions ended (quit, replaced, revoked, their server died). */
export interface EndEvent extends EventRecord {
  k: "end";
  ends: { id: string; reason: string; offline?: OfflineDevice }[];
  members: MemberRef[];
}

/** Offline member devices were added (enrolled, vouched for) or removed (revoked). */
export interface DeviceEvent extends EventRecord {
  k: "device";
  changes: { address: string; state: "added" | "removed"; device?: OfflineDevice }[];
  opened: string[];
  members: MemberRef[];
}

/**
 * A user a moderator removed from the room (kick, ban): their sessions in it leave (`sessions`),
 * or, when none was in it, their member devices are announced removed (`devices`).
 */
export interface Removal {
  user: string;
  sessions: string[];
  devices: string[];
}

/**
 * A moderator's action (`server/moderator.ts`), already decided and persisted by the server
 * that published it: every server tells its members in the room `event` (the `moderation`
 * frame), then takes out the users it removes, so the change falls between the room's
 * messages, joins and leaves in one order everywhere.
 */
export interface ModeratedEvent extends EventRecord {
  k: "mod";
  /** The `moderation` frame's fields, as every member is told them. */
  event: ModerationEvent;
  /** Why the removed users leave (their `presence` leave's `reason`). */
  reason: "kicked" | "banned";
  removed: Removal[];
  members: MemberRef[];
}

/** Any event the cluster applies. */
export type RoomEvent = JoinEvent | LeftEvent | EndEvent | DeviceEvent | ModeratedEvent;

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const isText = (v: unknown, max = 8192) => typeof v === "string" && v.length > 0 && v.length <= max;
const isAddress = (v: unknown) =>
  typeof v === "string" && v.split("/").length === 2 && v.split("/").every((p) => NAME.test(p));
const isRef = (v: unknown): v is MemberRef => {
  const r = v as MemberRef;
  return TOKEN.test(r?.id) && NAME.test(r.user) && NAME.test(r.device) && TOKEN.test(r.server);
};
const isOffline = (v: unknown): v is OfflineDevice => {
  const d = v as OfflineDevice;
  return NAME.test(d?.user) && NAME.test(d.device) && isText(d.cert, 16_384) &&
    (d.link === undefined || isText(d.link));
};
const isMember = (v: unknown) => {
  const m = v as MemberInfo & { server: string };
  return TOKEN.test(m?.session) && NAME.test(m.user) && NAME.test(m.device) &&
    isText(m.announce) && TOKEN.test(m.server) &&
    (m.agreement === undefined || isText(m.agreement)) && (m.link === undefined || isText(m.link));
};
const all = (v: unknown, check: (x: unknown) => boolean) => Array.isArray(v) && v.every(check);
const isRemoval = (v: unknown) => {
  const r = v as Removal;
  return NAME.test(r?.user) && all(r.sessions, (s) => TOKEN.test(s as string)) &&
    all(r.devices, (d) => isAddress(d) && (d as string).startsWith(`${r.user}/`));
};

/** `value` as a moderation event, checked as a client checks the frame, or `undefined`. */
function moderationEvent(value: unknown): ModerationEvent | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  try {
    return decodeModerationEvent(value as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** Kinds that only mark the log (retention, deletion) and change no membership. */
export const MARKERS = new Set(["floor", "deleted"]);

/** `record` as an event the cluster applies, or `undefined` when it is malformed. */
export function checkEvent(record: EventRecord): RoomEvent | undefined {
  if (!all(record.members, isRef)) return undefined;
  switch (record.k) {
    case "join":
      return all(record.added, isOffline) && all(record.sessions, isMember) &&
          all(record.opened, isAddress)
        ? record as JoinEvent
        : undefined;
    case "left":
      return NAME.test(record.user as string) &&
          all(record.sessions, (s) => TOKEN.test(s as string))
        ? record as LeftEvent
        : undefined;
    case "end":
      return all(record.ends, (e) => {
          const end = e as EndEvent["ends"][number];
          return TOKEN.test(end?.id) && isText(end.reason, 64) &&
            (end.offline === undefined || isOffline(end.offline));
        })
        ? record as EndEvent
        : undefined;
    case "device":
      return all(record.opened, isAddress) && all(record.changes, (c) => {
          const change = c as DeviceEvent["changes"][number];
          return isAddress(change?.address) &&
            (change.state === "added" || change.state === "removed") &&
            (change.device === undefined || isOffline(change.device));
        })
        ? record as DeviceEvent
        : undefined;
    case "mod": {
      // Applied as decoded, so what reaches clients is exactly what passed the check.
      const event = moderationEvent(record.event);
      return event && (record.reason === "kicked" || record.reason === "banned") &&
          all(record.removed, isRemoval)
        ? { ...record, event } as ModeratedEvent
        : undefined;
    }
    default:
      return undefined;
  }
}
