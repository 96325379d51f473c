/**
 * The small records of the NATS store, in one key-value bucket: rooms (`room.R`), memberships
 * (`mem.R.U`), roles (`role.R.U`), ban, mute and invite lists (`list.R.KIND.SHARD`, a few
 * shards per list so one value stays well under NATS's message size), pre-keys (`pks.U.D`
 * signed, `pko.U.D` one-time) and session descriptions (`sess.ID`). Writes that must not race
 * (a one-time pre-key taken, a list's bound) are compare-and-set updates of one key.
 *
 * Keys of one room are not changed atomically together (NATS has no multi-key transaction):
 * where order matters it is chosen so that a crash in between fails closed (a leave closes the
 * device intervals before the membership goes).
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { casUpdate, getJson, getMany, isExists, listKeys } from "./nats_kv.ts";
import type { NatsLog } from "./nats_log.ts";
import {
  InvalidInputError,
  LimitError,
  RoomExistsError,
  UnknownRoomError,
} from "../store/errors.ts";
import {
  MAX_LIST_ENTRIES,
  MAX_ONE_TIME_PREKEYS,
  MAX_READ_BATCH,
  MAX_ROOM_PAGE,
} from "../store/limits.ts";
import type {
  ListEntry,
  ListEntryInput,
  ListKind,
  Member,
  MembershipStore,
  ModerationStore,
  OneTimePrekey,
  PrekeyBundle,
  PrekeyStore,
  Role,
  RoomRecord,
  RoomStore,
  SessionRecord,
  SessionStore,
  SignedPrekey,
} from "../store/types.ts";
import {
  bad,
  checkDevice,
  checkLimit,
  checkListEntry,
  checkListKind,
  checkName,
  checkOneTimePrekeys,
  checkRole,
  checkRoom,
  checkSessionRecord,
  checkSignedPrekey,
  checkTime,
  checkToken,
  checkTopic,
  normalizeModes,
} from "../store/validate.ts";

/** Shards per moderation list (a list of 1000 entries with long reasons stays below 1 MB). */
export const LIST_SHARDS = 8;

const shardOf = (user: string): number => {
  let hash = 0;
  for (const char of user) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return hash % LIST_SHARDS;
};

type ListShard = Record<string, ListEntryInput>;

/** Throws {@linkcode UnknownRoomError} unless `room` exists. */
export async function requireRoom(kv: KV, room: string): Promise<void> {
  if ((await getJson(kv, `room.${room}`)).value === undefined) throw new UnknownRoomError(room);
}

/** Rooms in the bucket. */
export class NatsRooms implements RoomStore {
  constructor(private readonly kv: KV, private readonly log: NatsLog) {}

  async create(name: string, createdBy: string, now: number): Promise<RoomRecord> {
    const record: RoomRecord = {
      name: checkRoom(name),
      createdAt: checkTime("now", now),
      createdBy: checkName("createdBy", createdBy),
      topic: "",
      modes: "",
    };
    try {
      await this.kv.create(`room.${name}`, JSON.stringify(record));
    } catch (error) {
      if (isExists(error)) throw new RoomExistsError(name);
      throw error;
    }
    await this.kv.put(`role.${name}.${createdBy}`, JSON.stringify("owner"));
    return record;
  }

  async get(name: string): Promise<RoomRecord | undefined> {
    checkRoom(name);
    return (await getJson<RoomRecord>(this.kv, `room.${name}`)).value;
  }

  async list(options: { after?: string; limit?: number } = {}): Promise<RoomRecord[]> {
    const after = options.after === undefined ? "" : checkRoom(options.after);
    const limit = checkLimit(options.limit ?? MAX_ROOM_PAGE, MAX_ROOM_PAGE);
    const names = (await listKeys(this.kv, "room.*"))
      .map((key) => key.slice("room.".length))
      .filter((name) => name > after)
      .sort()
      .slice(0, limit);
    const records = await getMany<RoomRecord>(this.kv, names.map((name) => `room.${name}`));
    return records.filter((record): record is RoomRecord => record !== undefined);
  }

  async delete(name: string): Promise<boolean> {
    checkRoom(name);
    if ((await getJson(this.kv, `room.${name}`)).value === undefined) return false;
    await this.kv.delete(`room.${name}`);
    for (const filter of [`mem.${name}.*`, `role.${name}.*`, `list.${name}.>`]) {
      for (const key of await listKeys(this.kv, filter)) await this.kv.delete(key);
    }
    await this.log.dropIntervals(name);
    await this.log.purgeAll(name);
    return true;
  }

  async #change(name: string, change: (record: RoomRecord) => RoomRecord): Promise<void> {
    await casUpdate<RoomRecord, void>(this.kv, `room.${name}`, (current) => {
      if (!current) throw new UnknownRoomError(name);
      return { next: change(current), result: undefined };
    });
  }

  async setTopic(name: string, topic: string): Promise<void> {
    checkRoom(name);
    checkTopic(topic);
    await this.#change(name, (record) => ({ ...record, topic }));
  }

  async setModes(name: string, modes: string): Promise<string> {
    checkRoom(name);
    const normal = normalizeModes(modes);
    await this.#change(name, (record) => ({ ...record, modes: normal }));
    return normal;
  }
}

/** Memberships in the bucket. */
export class NatsMembers implements MembershipStore {
  constructor(private readonly kv: KV, private readonly log: NatsLog) {}

  async join(room: string, user: string, now: number): Promise<boolean> {
    checkRoom(room);
    checkName("user", user);
    checkTime("now", now);
    await requireRoom(this.kv, room);
    try {
      await this.kv.create(`mem.${room}.${user}`, JSON.stringify({ joinedAt: now }));
      return true;
    } catch (error) {
      if (isExists(error)) return false;
      throw error;
    }
  }

  async leave(room: string, user: string): Promise<boolean> {
    checkRoom(room);
    checkName("user", user);
    const { value, revision } = await getJson(this.kv, `mem.${room}.${user}`);
    if (value === undefined) return false;
    // Intervals first: a crash in between leaves a member who reads nothing new, never the
    // reverse.
    await this.log.closeUser(room, user);
    try {
      await this.kv.delete(`mem.${room}.${user}`, { previousSeq: revision });
    } catch (error) {
      if (!isExists(error)) throw error;
      return false; // someone else changed it meanwhile (left, or joined again)
    }
    return true;
  }

  async isMember(room: string, user: string): Promise<boolean> {
    checkRoom(room);
    checkName("user", user);
    return (await getJson(this.kv, `mem.${room}.${user}`)).value !== undefined;
  }

  async membersOf(room: string): Promise<Member[]> {
    checkRoom(room);
    const users = (await listKeys(this.kv, `mem.${room}.*`)).map((key) => key.split(".")[2]!);
    const joined = await getMany<{ joinedAt: number }>(
      this.kv,
      users.map((u) => `mem.${room}.${u}`),
    );
    const roles = await getMany<Role>(this.kv, users.map((u) => `role.${room}.${u}`));
    const members: Member[] = [];
    users.forEach((user, i) => {
      if (joined[i] === undefined) return;
      members.push({ user, joinedAt: joined[i]!.joinedAt, role: roles[i] ?? null });
    });
    return members.sort((a, b) => a.user < b.user ? -1 : a.user > b.user ? 1 : 0);
  }

  async roomsOf(user: string): Promise<string[]> {
    checkName("user", user);
    return (await listKeys(this.kv, `mem.*.${user}`)).map((key) => key.split(".")[1]!).sort();
  }
}

/** Roles and lists in the bucket. */
export class NatsModeration implements ModerationStore {
  constructor(private readonly kv: KV) {}

  async setRole(room: string, user: string, role: Role | null): Promise<void> {
    checkRoom(room);
    checkName("user", user);
    checkRole(role);
    await requireRoom(this.kv, room);
    if (role === null) await this.kv.delete(`role.${room}.${user}`);
    else await this.kv.put(`role.${room}.${user}`, JSON.stringify(role));
  }

  async roleOf(room: string, user: string): Promise<Role | null> {
    checkRoom(room);
    checkName("user", user);
    return (await getJson<Role>(this.kv, `role.${room}.${user}`)).value ?? null;
  }

  async #shards(room: string, kind: ListKind): Promise<ListShard[]> {
    const keys = Array.from({ length: LIST_SHARDS }, (_, i) => `list.${room}.${kind}.${i}`);
    return (await getMany<ListShard>(this.kv, keys)).map((shard) => shard ?? {});
  }

  async putListEntry(room: string, kind: ListKind, user: string, entry: ListEntryInput) {
    checkRoom(room);
    checkListKind(kind);
    checkName("user", user);
    const checked = checkListEntry(entry);
    await requireRoom(this.kv, room);
    // The bound counts entries in force (`at` is the caller's now), across every shard. Two
    // writers at the very same moment may pass it by one each: a bound, not an invariant.
    let others = 0;
    for (const shard of await this.#shards(room, kind)) {
      for (const [name, e] of Object.entries(shard)) {
        if (name !== user && (e.until === null || e.until > checked.at)) others += 1;
      }
    }
    if (others >= MAX_LIST_ENTRIES) {
      throw new LimitError(`the ${kind} list of ${room} already holds ${MAX_LIST_ENTRIES} entries`);
    }
    await casUpdate<ListShard, void>(
      this.kv,
      `list.${room}.${kind}.${shardOf(user)}`,
      (current) => ({ next: { ...current ?? {}, [user]: checked }, result: undefined }),
    );
  }

  async removeListEntry(room: string, kind: ListKind, user: string): Promise<boolean> {
    checkRoom(room);
    checkListKind(kind);
    checkName("user", user);
    return await casUpdate<ListShard, boolean>(
      this.kv,
      `list.${room}.${kind}.${shardOf(user)}`,
      (current) => {
        if (!current?.[user]) return { next: null, result: false };
        const { [user]: _gone, ...rest } = current;
        return { next: rest, result: true };
      },
    );
  }

  async getListEntry(room: string, kind: ListKind, user: string, now: number) {
    checkRoom(room);
    checkListKind(kind);
    checkName("user", user);
    checkTime("now", now);
    const shard = (await getJson<ListShard>(this.kv, `list.${room}.${kind}.${shardOf(user)}`))
      .value;
    const entry = shard?.[user];
    if (!entry || (entry.until !== null && entry.until <= now)) return undefined;
    return { room, kind, user, ...entry };
  }

  async listEntries(room: string, kind: ListKind, now: number): Promise<ListEntry[]> {
    checkRoom(room);
    checkListKind(kind);
    checkTime("now", now);
    const entries: ListEntry[] = [];
    for (const shard of await this.#shards(room, kind)) {
      for (const [user, e] of Object.entries(shard)) {
        if (e.until === null || e.until > now) entries.push({ room, kind, user, ...e });
      }
    }
    return entries.sort((a, b) => a.user < b.user ? -1 : a.user > b.user ? 1 : 0);
  }

  /** Deletes entries that lifted by `now`; returns how many. */
  async prune(now: number): Promise<number> {
    let removed = 0;
    for (const key of await listKeys(this.kv, "list.>")) {
      removed += await casUpdate<ListShard, number>(this.kv, key, (current) => {
        if (!current) return { next: null, result: 0 };
        const kept = Object.entries(current).filter(([, e]) => e.until === null || e.until > now);
        const gone = Object.keys(current).length - kept.length;
        return gone === 0
          ? { next: null, result: 0 }
          : { next: Object.fromEntries(kept), result: gone };
      });
    }
    return removed;
  }
}

const deviceKey = (device: string) => {
  const { user, label } = checkDevice(device);
  return `${user}.${label}`;
};

/** Pre-keys in the bucket: the signed one, and the one-time ones as one list per device. */
export class NatsPrekeys implements PrekeyStore {
  constructor(private readonly kv: KV) {}

  async setSigned(device: string, prekey: SignedPrekey): Promise<void> {
    const key = deviceKey(device);
    await this.kv.put(`pks.${key}`, JSON.stringify(checkSignedPrekey(prekey)));
  }

  async addOneTime(device: string, prekeys: OneTimePrekey[]): Promise<void> {
    const key = deviceKey(device);
    const batch = checkOneTimePrekeys(prekeys);
    if (batch.length === 0) return;
    await casUpdate<OneTimePrekey[], void>(this.kv, `pko.${key}`, (current) => {
      const held = current ?? [];
      if (held.length + batch.length > MAX_ONE_TIME_PREKEYS) {
        throw new LimitError(
          `${device} holds ${held.length} one-time pre-keys; ${batch.length} more would pass ${MAX_ONE_TIME_PREKEYS}`,
        );
      }
      for (const { id } of batch) {
        if (held.some((k) => k.id === id)) {
          throw new InvalidInputError(`${device} already has a one-time pre-key ${id}`);
        }
      }
      return { next: [...held, ...batch], result: undefined };
    });
  }

  async take(device: string): Promise<PrekeyBundle | undefined> {
    const key = deviceKey(device);
    const signed = (await getJson<SignedPrekey>(this.kv, `pks.${key}`)).value;
    if (!signed) return undefined;
    // Taken by compare-and-set, so two takers anywhere never get the same key.
    const oneTime = await casUpdate<OneTimePrekey[], OneTimePrekey | null>(
      this.kv,
      `pko.${key}`,
      (current) => {
        if (!current?.length) return { next: null, result: null };
        return { next: current.slice(1), result: current[0]! };
      },
    );
    return { signed, oneTime };
  }

  async countOneTime(device: string): Promise<number> {
    return (await getJson<OneTimePrekey[]>(this.kv, `pko.${deviceKey(device)}`)).value?.length ?? 0;
  }

  async status(device: string): Promise<{ signed: boolean; oneTime: number }> {
    const key = deviceKey(device);
    const [signed, oneTime] = await Promise.all([
      getJson(this.kv, `pks.${key}`),
      getJson<OneTimePrekey[]>(this.kv, `pko.${key}`),
    ]);
    return { signed: signed.value !== undefined, oneTime: oneTime.value?.length ?? 0 };
  }

  /** Deletes the device's pre-keys. */
  async forget(device: string): Promise<void> {
    const key = deviceKey(device);
    await this.kv.delete(`pks.${key}`);
    await this.kv.delete(`pko.${key}`);
  }
}

/** Session descriptions in the bucket, with when each was last put. */
export class NatsSessions implements SessionStore {
  constructor(private readonly kv: KV) {}

  async put(record: SessionRecord, now: number): Promise<void> {
    const r = checkSessionRecord(record);
    checkTime("now", now);
    await this.kv.put(`sess.${r.session}`, JSON.stringify({ record: r, at: now }));
  }

  async get(sessions: string[]): Promise<SessionRecord[]> {
    if (!Array.isArray(sessions)) bad("sessions", "an array", sessions);
    if (sessions.length > MAX_READ_BATCH) {
      bad("sessions", `at most ${MAX_READ_BATCH} ids`, sessions.length);
    }
    const ids = sessions.map((id) => checkToken("session", id));
    const found = await getMany<{ record: SessionRecord }>(this.kv, ids.map((id) => `sess.${id}`));
    return found.filter((v) => v !== undefined).map((v) => v!.record);
  }

  /** Deletes the descriptions last put before `cutoff`; returns how many. */
  async prune(cutoff: number): Promise<number> {
    const keys = await listKeys(this.kv, "sess.*");
    const values = await getMany<{ at: number }>(this.kv, keys);
    let removed = 0;
    for (const [i, key] of keys.entries()) {
      if ((values[i]?.at ?? cutoff) < cutoff) {
        await this.kv.delete(key);
        removed += 1;
      }
    }
    return removed;
  }
}
