/**
 * Room logs in JetStream: one stream per room holding two subjects, the log entries (`.m`) and
 * the room's events (`.e`: membership changes the cluster orders with the messages, and
 * markers). Every record carries `log`, the room's last log sequence number after it, and
 * `ver`, the room's membership version after it, so the state of a room is the last record of
 * its stream, and a reader of the stream can check that nothing is missing.
 *
 * A log sequence number is not the stream's sequence (events sit between entries): entries are
 * numbered 1, 2, 3... by the writer, which publishes only if the stream's last sequence is the
 * one it read (JetStream's expected-last-sequence check), so two writers anywhere never take
 * the same number. Retention by count is the stream's limit per subject; retention by age
 * purges the oldest entries, after a marker event keeps the numbers going.
 *
 * @module
 */

import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsLink } from "./nats_link.ts";
import type { StoreNames } from "./nats_names.ts";
import { casUpdate, getJson, getMany, listKeys } from "./nats_kv.ts";
import {
  ConflictError,
  conflictLast,
  isConflict,
  isNotFound,
  MAX_CAS_ATTEMPTS,
} from "./nats_errors.ts";
import { NotMemberError, StoreUnavailableError, UnknownRoomError } from "../store/errors.ts";
import type { Interval, LogEntry, LogPage, NewLogEntry, RoomLogStore } from "../store/types.ts";
import {
  checkDevice,
  checkLimit,
  checkLogBatch,
  checkLogEntry,
  checkRoom,
  checkSeq,
} from "../store/validate.ts";

/** A log entry as its stream keeps it. */
export interface MessageRecord {
  k: "m";
  log: number;
  ver: number;
  user: string;
  device: string;
  session: string;
  ts: number;
  payload: string;
}

/** An event as its stream keeps it: a kind, the positions after it, and its own fields. */
export interface EventRecord {
  k: string;
  log: number;
  ver: number;
  [field: string]: unknown;
}

/** Either kind of record. */
export type RoomRecord = MessageRecord | EventRecord;

/** A room's position: its stream's last sequence, log sequence and membership version. */
export interface RoomState {
  streamSeq: number;
  log: number;
  ver: number;
}

/** Intervals as the bucket keeps them: `[from, to]` pairs, `to` null while open. */
type StoredIntervals = [number, number | null][];

const decoder = new TextDecoder();

/** Parses a stored record; anything that is not one of ours is `undefined`. */
export function parseRecord(data: Uint8Array): RoomRecord | undefined {
  try {
    const value = JSON.parse(decoder.decode(data));
    if (
      typeof value === "object" && value !== null && typeof value.k === "string" &&
      Number.isSafeInteger(value.log) && Number.isSafeInteger(value.ver)
    ) return value as RoomRecord;
  } catch {
    // not ours
  }
  return undefined;
}

const intervalKey = (room: string, device: string) => {
  const { user, label } = checkDevice(device);
  return `iv.${room}.${user}.${label}`;
};

/** The room log part of the NATS store, with what the cluster needs beyond `RoomLogStore`. */
export class NatsLog implements RoomLogStore {
  /** Streams known to exist (they are never deleted, only purged). */
  readonly #streams = new Set<string>();

  constructor(
    private readonly link: NatsLink,
    private readonly kv: KV,
    private readonly names: StoreNames,
    private readonly maxMessagesPerRoom: number,
  ) {}

  get #jsm(): JetStreamManager {
    return this.link.jsm;
  }

  /** Makes `room`'s stream if it does not exist yet. */
  async ensureStream(room: string): Promise<void> {
    const name = this.names.roomStream(room);
    if (this.#streams.has(name)) return;
    try {
      await this.#jsm.streams.info(name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.#jsm.streams.add({
          name,
          subjects: [this.names.roomMessages(room), this.names.roomEvents(room)],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          discard: DiscardPolicy.Old,
          max_msgs_per_subject: this.maxMessagesPerRoom,
          allow_direct: true,
          num_replicas: 1,
        });
      } catch (addError) {
        // Another instance made it meanwhile: fine.
        if (!/already in use|exists/i.test(String((addError as Error)?.message))) throw addError;
      }
    }
    this.#streams.add(name);
  }

  /** `room`'s position now (all zero for a room that never had a record). */
  async state(room: string): Promise<RoomState> {
    // A direct get on a stream that does not exist is not answered at all (a timeout), so the
    // stream is made first: an empty stream is the state of a room with no record.
    await this.ensureStream(room);
    let last: StoredMsg | null;
    try {
      last = await this.#jsm.direct.getMessage(this.names.roomStream(room), {
        last_by_subj: this.names.roomAll(room),
      });
    } catch (error) {
      if (isNotFound(error)) return { streamSeq: 0, log: 0, ver: 0 };
      throw error;
    }
    if (!last) return { streamSeq: 0, log: 0, ver: 0 };
    const record = parseRecord(last.data);
    return { streamSeq: last.seq, log: record?.log ?? 0, ver: record?.ver ?? 0 };
  }

  /**
   * Publishes `record` to `room`'s messages (`m`) or events (`e`) only if the stream's last
   * sequence is still `expected`; returns the new stream sequence.
   *
   * @throws {ConflictError} when another record came first (its `last` says how far the stream is).
   */
  async publishAt(
    room: string,
    kind: "m" | "e",
    record: RoomRecord,
    expected: number,
  ): Promise<number> {
    await this.ensureStream(room);
    const subject = kind === "m" ? this.names.roomMessages(room) : this.names.roomEvents(room);
    try {
      const ack = await this.link.js.publish(subject, JSON.stringify(record), {
        expect: { lastSequence: expected, streamName: this.names.roomStream(room) },
      });
      return ack.seq;
    } catch (error) {
      if (isConflict(error)) throw new ConflictError(conflictLast(error));
      throw error;
    }
  }

  /**
   * Appends an event whose fields do not depend on the room's state (a marker), after the last
   * record, retrying on conflicts. Returns the stream sequence.
   */
  async appendEvent(
    room: string,
    fields: { k: string; [field: string]: unknown },
  ): Promise<number> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const state = await this.state(room);
      // Markers carry the live membership on, so the last event always says who is in the room.
      const members = (await this.lastEvent(room))?.record.members ?? [];
      try {
        return await this.publishAt(
          room,
          "e",
          { ...fields, members, log: state.log, ver: state.ver },
          state.streamSeq,
        );
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    throw new StoreUnavailableError(`too many concurrent writers of room ${room}`);
  }

  /** `room`'s last event (membership change or marker), with its stream sequence. */
  async lastEvent(room: string): Promise<{ seq: number; record: EventRecord } | undefined> {
    await this.ensureStream(room);
    let last: StoredMsg | null;
    try {
      last = await this.#jsm.direct.getMessage(this.names.roomStream(room), {
        last_by_subj: this.names.roomEvents(room),
      });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const record = last && parseRecord(last.data);
    return last && record ? { seq: last.seq, record: record as EventRecord } : undefined;
  }

  /**
   * Appends `entries` one after another (JetStream has no batch publish in the NATS this
   * targets). Every entry is checked before any is written, so bad input appends none; a NATS
   * failure part-way leaves the first ones stored and rejects, and another server appending
   * meanwhile can take numbers between them. The cluster's delivery relays one message per
   * room turn through {@linkcode append}, so neither happens to what it relays.
   */
  async appendMany(room: string, entries: readonly NewLogEntry[]): Promise<number[]> {
    checkRoom(room);
    const checked = checkLogBatch(entries);
    const seqs: number[] = [];
    for (const entry of checked) seqs.push(await this.append(room, entry));
    return seqs;
  }

  async #requireRoom(room: string): Promise<void> {
    if ((await getJson(this.kv, `room.${room}`)).value === undefined) {
      throw new UnknownRoomError(room);
    }
  }

  async append(room: string, entry: NewLogEntry): Promise<number> {
    checkRoom(room);
    const e = checkLogEntry(entry);
    await this.#requireRoom(room);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const state = await this.state(room);
      const record: MessageRecord = {
        k: "m",
        log: state.log + 1,
        ver: state.ver,
        user: e.senderUser,
        device: e.senderDevice,
        session: e.senderSession,
        ts: e.ts,
        payload: e.payload,
      };
      // The version an entry was sealed for is kept with it (the room's own version is in `ver`).
      const stored = { ...record, sealed: e.version };
      try {
        await this.publishAt(room, "m", stored, state.streamSeq);
        return record.log;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    throw new StoreUnavailableError(`too many concurrent writers of room ${room}`);
  }

  async lastSeq(room: string): Promise<number> {
    checkRoom(room);
    return (await this.state(room)).log;
  }

  /** The first log entry at or after stream sequence `from`, if any. */
  async #messageFrom(room: string, from: number): Promise<StoredMsg | null> {
    await this.ensureStream(room);
    try {
      return await this.#jsm.direct.getMessage(this.names.roomStream(room), {
        seq: Math.max(1, from),
        next_by_subj: this.names.roomMessages(room),
      });
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** The log number of entries removed so far: everything up to it is gone (or never was). */
  async floor(room: string): Promise<number> {
    const first = await this.#messageFrom(room, 1);
    const record = first && parseRecord(first.data);
    if (record) return record.log - 1;
    return (await this.state(room)).log;
  }

  /**
   * The first entry whose log number is above `after`, by binary search over the stream (each
   * probe asks for the first entry at or after a stream sequence).
   */
  async #seek(room: string, after: number, lastStreamSeq: number): Promise<StoredMsg | null> {
    let lo = 1;
    let hi = lastStreamSeq;
    let found: StoredMsg | null = null;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const message = await this.#messageFrom(room, mid);
      const log = message ? parseRecord(message.data)?.log ?? Infinity : Infinity;
      if (log > after) {
        if (message) found = message;
        hi = mid - 1;
      } else {
        lo = (message?.seq ?? mid) + 1;
      }
    }
    return found;
  }

  async readForDevice(
    room: string,
    device: string,
    afterSeq: number,
    limit: number,
  ): Promise<LogPage> {
    checkRoom(room);
    checkSeq("afterSeq", afterSeq);
    let left = checkLimit(limit);
    const intervals = await this.#liveIntervals(room, device);
    if (intervals.length === 0) return { entries: [], missed: 0 };
    const state = await this.state(room);
    const floor = await this.floor(room);
    const entries: LogEntry[] = [];
    let missed = 0;
    for (const [from, to] of intervals) {
      const end = to ?? Number.MAX_SAFE_INTEGER;
      missed += Math.max(0, Math.min(end, floor + 1) - Math.max(from, afterSeq + 1));
      const start = Math.max(from, afterSeq + 1, floor + 1);
      if (left === 0 || start >= end || start > state.log) continue;
      let message = await this.#seek(room, start - 1, state.streamSeq);
      while (message && left > 0) {
        const record = parseRecord(message.data);
        if (!record || record.k !== "m" || record.log >= end) break;
        const m = record as MessageRecord & { sealed?: number };
        entries.push({
          room,
          seq: m.log,
          senderUser: m.user,
          senderDevice: m.device,
          senderSession: m.session,
          version: m.sealed ?? m.ver,
          ts: m.ts,
          payload: m.payload,
        });
        left -= 1;
        if (m.log >= state.log) break;
        message = await this.#messageFrom(room, message.seq + 1);
      }
    }
    return { entries, missed };
  }

  /** Stored intervals of `device` in `room`, without those retention has emptied. */
  async #liveIntervals(room: string, device: string): Promise<StoredIntervals> {
    const key = intervalKey(room, device);
    const stored = (await getJson<StoredIntervals>(this.kv, key)).value ?? [];
    if (!stored.some(([, to]) => to !== null)) return stored;
    const floor = await this.floor(room);
    const live = stored.filter(([, to]) => to === null || to > floor + 1);
    if (live.length !== stored.length) {
      // Closed intervals whose every entry is gone: nothing left to read in them.
      await casUpdate<StoredIntervals, void>(this.kv, key, (current) => ({
        next: (current ?? []).filter(([, to]) => to === null || to > floor + 1),
        result: undefined,
      }));
    }
    return live;
  }

  async openInterval(room: string, device: string): Promise<Interval> {
    checkRoom(room);
    const { user } = checkDevice(device);
    await this.#requireRoom(room);
    if ((await getJson(this.kv, `mem.${room}.${user}`)).value === undefined) {
      throw new NotMemberError(room, user);
    }
    return await this.openIntervalAt(room, device, (await this.state(room)).log + 1);
  }

  /**
   * Opens `device`'s interval at `fromSeq` (the cluster passes the position its membership
   * event took); an open one is returned unchanged.
   */
  async openIntervalAt(room: string, device: string, fromSeq: number): Promise<Interval> {
    return await casUpdate<StoredIntervals, Interval>(
      this.kv,
      intervalKey(room, device),
      (current) => {
        const open = current?.find(([, to]) => to === null);
        if (open) return { next: null, result: { fromSeq: open[0], toSeq: null } };
        return { next: [...current ?? [], [fromSeq, null]], result: { fromSeq, toSeq: null } };
      },
    );
  }

  async closeInterval(room: string, device: string): Promise<boolean> {
    checkRoom(room);
    checkDevice(device);
    return await this.closeIntervalAt(room, device, (await this.state(room)).log + 1);
  }

  /** Closes `device`'s open interval before `toSeq`; an interval left empty is removed. */
  async closeIntervalAt(room: string, device: string, toSeq: number): Promise<boolean> {
    return await casUpdate<StoredIntervals, boolean>(
      this.kv,
      intervalKey(room, device),
      (current) => {
        if (!current?.some(([, to]) => to === null)) return { next: null, result: false };
        const next = current
          .map(([from, to]): [number, number | null] => [from, to ?? toSeq])
          .filter(([from, to]) => to !== from);
        return { next: next.length > 0 ? next : undefined, result: true };
      },
    );
  }

  /** Closes every open interval of `user`'s devices in `room` before the next entry. */
  async closeUser(room: string, user: string, toSeq?: number): Promise<void> {
    const keys = await listKeys(this.kv, `iv.${room}.${user}.*`);
    if (keys.length === 0) return;
    const at = toSeq ?? (await this.state(room)).log + 1;
    for (const key of keys) {
      const device = `${user}/${key.slice(key.lastIndexOf(".") + 1)}`;
      await this.closeIntervalAt(room, device, at);
    }
  }

  async intervals(room: string, device: string): Promise<Interval[]> {
    checkRoom(room);
    checkDevice(device);
    return (await this.#liveIntervals(room, device)).map(([fromSeq, toSeq]) => ({
      fromSeq,
      toSeq,
    }));
  }

  async openDevices(room: string): Promise<string[]> {
    checkRoom(room);
    const keys = await listKeys(this.kv, `iv.${room}.*.*`);
    const values = await getMany<StoredIntervals>(this.kv, keys);
    const open: string[] = [];
    keys.forEach((key, i) => {
      if (!values[i]?.some(([, to]) => to === null)) return;
      const [, , user, device] = key.split(".");
      open.push(`${user}/${device}`);
    });
    return open.sort();
  }

  /** Deletes every interval of `room` (the room is deleted). */
  async dropIntervals(room: string): Promise<void> {
    for (const key of await listKeys(this.kv, `iv.${room}.>`)) await this.kv.delete(key);
  }

  /** Deletes every interval of `user/device`, in every room (the device is forgotten). */
  async forgetDevice(user: string, device: string): Promise<void> {
    for (const key of await listKeys(this.kv, `iv.*.${user}.${device}`)) await this.kv.delete(key);
  }

  /** Removes `room`'s log entries; the numbers go on (a marker keeps the last one). */
  async purgeAll(room: string): Promise<void> {
    const state = await this.state(room);
    if (state.streamSeq === 0) return;
    const marker = await this.appendEvent(room, { k: "deleted" });
    await this.#jsm.streams.purge(this.names.roomStream(room), {
      filter: this.names.roomMessages(room),
      seq: marker,
    });
  }

  /**
   * Removes the entries of every room older than `cutoff` (strictly), oldest first, up to the
   * first that is not; returns how many went.
   */
  async prune(cutoff: number): Promise<number> {
    let removed = 0;
    const streams: string[] = [];
    for await (const name of this.#jsm.streams.names(this.names.allRoomMessages)) {
      streams.push(name);
    }
    const prefix = `${this.names.prefix}_room_`;
    for (const stream of streams) {
      if (!stream.startsWith(prefix)) continue;
      const room = stream.slice(prefix.length);
      let message = await this.#messageFrom(room, 1);
      let expired = 0;
      let keep: number | undefined;
      while (message) {
        const record = parseRecord(message.data) as MessageRecord | undefined;
        if (record && record.ts >= cutoff) {
          keep = message.seq;
          break;
        }
        expired += 1;
        message = await this.#messageFrom(room, message.seq + 1);
      }
      if (expired === 0) continue;
      // A marker first, so the numbers go on even if every entry goes.
      const marker = await this.appendEvent(room, { k: "floor" });
      await this.#jsm.streams.purge(stream, {
        filter: this.names.roomMessages(room),
        seq: keep ?? marker,
      });
      removed += expired;
    }
    return removed;
  }
}
