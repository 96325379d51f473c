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

/** Any event the cluster applies. */
export type RoomEvent = JoinEvent | LeftEvent | EndEvent | DeviceEvent;

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
    default:
      return undefined;
  }
}
