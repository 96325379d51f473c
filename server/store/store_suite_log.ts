/**
 * Suite cases for room logs, device intervals and retention of the logs.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { InvalidInputError, NotMemberError, UnknownRoomError } from "./errors.ts";
import {
  DEFAULT_MAX_ROOM_MESSAGES,
  DEFAULT_RETENTION_MS,
  MAX_APPEND_BATCH,
  MAX_READ_BATCH,
  MAX_STORED_PAYLOAD_CHARS,
  MAX_TOKEN_CHARS,
} from "./limits.ts";
import type { StoreCase } from "./store_suite.ts";
import { appendMany, logEntry, range, roomWith, seqsOf, T0 } from "./store_suite_support.ts";
import type { ChatStore, NewLogEntry } from "./types.ts";

const read = async (store: ChatStore, device: string, after = 0, limit = MAX_READ_BATCH) =>
  seqsOf((await store.log.readForDevice("lobby", device, after, limit)).entries);

/** Malformed room messages, each refused. */
const BAD_ENTRIES: [string, Partial<NewLogEntry>][] = [
  ["senderUser", { senderUser: "Alice" }],
  ["senderDevice", { senderDevice: "" }],
  ["senderSession", { senderSession: "has space" }],
  ["senderSession", { senderSession: "s".repeat(MAX_TOKEN_CHARS + 1) }],
  ["version", { version: -1 }],
  ["version", { version: 0.5 }],
  ["ts", { ts: Number.NaN }],
  ["payload", { payload: "" }],
  // deno-lint-ignore no-explicit-any
  ["payload", { payload: 42 as any }],
];

/** Room logs and intervals. */
export const LOG_CASES: StoreCase[] = [
  {
    name: "log.append() numbers a room's entries 1, 2, 3 and keeps what it was given",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.rooms.create("dev", "alice", T0);
      await store.log.openInterval("lobby", "alice/laptop");
      assertEquals(await appendMany(store, "lobby", 3), [1, 2, 3]);
      assertEquals(await store.log.append("dev", logEntry()), 1);
      assertEquals(await store.log.lastSeq("lobby"), 3);
      assertEquals(await store.log.lastSeq("dev"), 1);
      assertEquals(await store.log.lastSeq("nowhere"), 0);
      const entry = logEntry("b3BhcXVl", { version: 7, ts: T0 + 9 });
      assertEquals(await store.log.append("lobby", entry), 4);
      const page = await store.log.readForDevice("lobby", "alice/laptop", 3, 10);
      assertEquals(page, { entries: [{ room: "lobby", seq: 4, ...entry }], missed: 0 });
    },
  },
  {
    name: "log.append() refuses an unknown room and malformed entries, and appends nothing",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      const error = await assertRejects(
        () => store.log.append("nowhere", logEntry()),
        UnknownRoomError,
        "nowhere",
      );
      assertEquals(error.code, "unknown_room");
      for (const [field, bad] of BAD_ENTRIES) {
        await assertRejects(
          () => store.log.append("lobby", { ...logEntry(), ...bad }),
          InvalidInputError,
          field,
        );
      }
      assertEquals(await store.log.lastSeq("lobby"), 0);
      const longest = logEntry(undefined, { senderSession: "s".repeat(MAX_TOKEN_CHARS) });
      assertEquals(await store.log.append("lobby", longest), 1);
    },
  },
  {
    name: "log.append() takes a payload of MAX_STORED_PAYLOAD_CHARS and refuses one more",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      const longest = "p".repeat(MAX_STORED_PAYLOAD_CHARS);
      assertEquals(await store.log.append("lobby", logEntry(longest)), 1);
      await assertRejects(
        () => store.log.append("lobby", logEntry(longest + "p")),
        InvalidInputError,
        `at most ${MAX_STORED_PAYLOAD_CHARS}`,
      );
      const page = await store.log.readForDevice("lobby", "alice/laptop", 0, 10);
      assertEquals(page.entries.map((e) => e.payload.length), [MAX_STORED_PAYLOAD_CHARS]);
    },
  },
  {
    name: "log.append() from two instances at once yields 1..n without gap or repeat",
    async fn(store, fixture) {
      await store.rooms.create("lobby", "alice", T0);
      const peer = await fixture.openPeer();
      const seqs = await Promise.all(
        range(1, 60).map((i) => (i % 2 ? store : peer).log.append("lobby", logEntry(`m${i}`))),
      );
      assertEquals([...seqs].sort((a, b) => a - b), range(1, 60));
      assertEquals(await peer.log.lastSeq("lobby"), 60);
    },
  },
  {
    name: "log.appendMany() numbers a batch on from the last entry, in order, all kept",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      assertEquals(await store.log.append("lobby", logEntry("m0")), 1);
      const batch = range(1, 4).map((i) => logEntry(`b${i}`, { ts: T0 + i, version: i }));
      assertEquals(await store.log.appendMany("lobby", batch), [2, 3, 4, 5]);
      assertEquals(await store.log.appendMany("lobby", [logEntry("one")]), [6]);
      const page = await store.log.readForDevice("lobby", "alice/laptop", 1, 10);
      assertEquals(
        page.entries.map(({ seq, payload, version, ts }) => ({ seq, payload, version, ts })),
        [
          ...batch.map((e, i) => ({
            seq: i + 2,
            payload: e.payload,
            version: e.version,
            ts: e.ts,
          })),
          { seq: 6, payload: "one", version: 1, ts: T0 },
        ],
      );
    },
  },
  {
    name: "log.appendMany() refuses an empty or oversized batch, or one bad entry, appending none",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      await assertRejects(() => store.log.appendMany("nowhere", [logEntry()]), UnknownRoomError);
      await assertRejects(() => store.log.appendMany("lobby", []), InvalidInputError, "1 to");
      await assertRejects(
        () =>
          store.log.appendMany(
            "lobby",
            range(1, MAX_APPEND_BATCH + 1).map((i) => logEntry(`m${i}`)),
          ),
        InvalidInputError,
        `${MAX_APPEND_BATCH + 1}`,
      );
      for (const [field, bad] of BAD_ENTRIES) {
        await assertRejects(
          () => store.log.appendMany("lobby", [logEntry("ok"), { ...logEntry(), ...bad }]),
          InvalidInputError,
          field,
        );
      }
      assertEquals(await store.log.lastSeq("lobby"), 0);
      assertEquals(
        await store.log.appendMany(
          "lobby",
          range(1, MAX_APPEND_BATCH).map((i) => logEntry(`m${i}`)),
        ),
        range(1, MAX_APPEND_BATCH),
      );
    },
  },
  {
    name: "log.appendMany() past maxMessagesPerRoom keeps the newest, numbers go on",
    options: { maxMessagesPerRoom: 5 },
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 3);
      assertEquals(
        await store.log.appendMany("lobby", range(4, 9).map((i) => logEntry(`m${i}`))),
        range(4, 9),
      );
      assertEquals(await read(store, "alice/laptop"), range(5, 9));
      const page = await store.log.readForDevice("lobby", "alice/laptop", 0, 10);
      assertEquals(page.missed, 4);
    },
  },
  {
    name:
      "log.appendMany() from two instances at once yields 1..n without gap or repeat (each batch consecutive where batches are atomic)",
    async fn(store, fixture) {
      await store.rooms.create("lobby", "alice", T0);
      const peer = await fixture.openPeer();
      const batches = await Promise.all(
        range(1, 20).map((i) =>
          (i % 2 ? store : peer).log.appendMany(
            "lobby",
            [1, 2, 3].map((k) => logEntry(`m${i}-${k}`)),
          )
        ),
      );
      for (const seqs of batches) {
        if (fixture.atomicBatches) assertEquals(seqs, [seqs[0]!, seqs[0]! + 1, seqs[0]! + 2]);
        else assertEquals([...seqs].sort((a, b) => a - b), seqs); // in order, at least
      }
      assertEquals(batches.flat().sort((a, b) => a - b), range(1, 60));
    },
  },
  {
    name: "log.readForDevice() returns only entries inside the device's intervals",
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 2); // 1, 2: before bob's device has an interval
      assertEquals(await store.log.openInterval("lobby", "bob/phone"), { fromSeq: 3, toSeq: null });
      await appendMany(store, "lobby", 2); // 3, 4
      await store.members.leave("lobby", "bob");
      await appendMany(store, "lobby", 2); // 5, 6: bob is out
      await store.members.join("lobby", "bob", T0);
      await store.log.openInterval("lobby", "bob/phone");
      await appendMany(store, "lobby", 1); // 7
      assertEquals(await store.log.intervals("lobby", "bob/phone"), [
        { fromSeq: 3, toSeq: 5 },
        { fromSeq: 7, toSeq: null },
      ]);
      assertEquals(await read(store, "bob/phone"), [3, 4, 7]);
      assertEquals(await read(store, "bob/phone", 3), [4, 7]);
      assertEquals(await read(store, "bob/phone", 4), [7]);
      assertEquals(await read(store, "bob/phone", 0, 2), [3, 4]);
      assertEquals(await read(store, "bob/phone", 7), []);
      assertEquals(await read(store, "alice/laptop"), range(1, 7));
      // A device of the same user that never had an interval reads nothing.
      assertEquals(await read(store, "bob/laptop"), []);
      assertEquals(await read(store, "carol/phone"), []);
    },
  },
  {
    name: "a device enrolled later reads nothing from before it existed",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 5);
      await store.log.openInterval("lobby", "alice/tablet");
      assertEquals(await read(store, "alice/tablet"), []);
      await appendMany(store, "lobby", 1);
      assertEquals(await read(store, "alice/tablet"), [6]);
      assertEquals((await store.log.readForDevice("lobby", "alice/tablet", 0, 9)).missed, 0);
    },
  },
  {
    name: "log.openInterval() needs a member, is idempotent; closeInterval() drops empty ones",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await appendMany(store, "lobby", 2);
      const error = await assertRejects(
        () => store.log.openInterval("lobby", "bob/phone"),
        NotMemberError,
        "bob",
      );
      assertEquals(error.code, "not_member");
      await assertRejects(
        () => store.log.openInterval("nowhere", "alice/laptop"),
        UnknownRoomError,
      );
      for (const device of ["alice", "alice/", "/laptop", "alice/Laptop", "alice/laptop/x"]) {
        await assertRejects(() => store.log.openInterval("lobby", device), InvalidInputError);
      }
      const open = await store.log.openInterval("lobby", "alice/laptop");
      assertEquals(open, { fromSeq: 3, toSeq: null });
      await appendMany(store, "lobby", 1);
      assertEquals(await store.log.openInterval("lobby", "alice/laptop"), open);
      assertEquals(await store.log.closeInterval("lobby", "alice/laptop"), true);
      assertEquals(await store.log.closeInterval("lobby", "alice/laptop"), false);
      assertEquals(await store.log.intervals("lobby", "alice/laptop"), [{ fromSeq: 3, toSeq: 4 }]);
      // Opened and closed with nothing appended in between: nothing to keep.
      await store.log.openInterval("lobby", "alice/laptop");
      assertEquals(await store.log.closeInterval("lobby", "alice/laptop"), true);
      assertEquals(await store.log.intervals("lobby", "alice/laptop"), [{ fromSeq: 3, toSeq: 4 }]);
      assertEquals(await store.log.closeInterval("nowhere", "alice/laptop"), false);
    },
  },
  {
    name: "members.leave() closes every device interval of that user and of no other",
    async fn(store) {
      await roomWith(store, "lobby", "bob", "bob2", "bo");
      for (const device of ["bob/phone", "bob/laptop", "bob2/phone", "bo/b"]) {
        await store.log.openInterval("lobby", device);
      }
      await appendMany(store, "lobby", 2);
      await store.members.leave("lobby", "bob");
      await appendMany(store, "lobby", 1);
      for (const device of ["bob/phone", "bob/laptop"]) {
        assertEquals(await store.log.intervals("lobby", device), [{ fromSeq: 1, toSeq: 3 }]);
        assertEquals(await read(store, device), [1, 2]);
      }
      for (const device of ["bob2/phone", "bo/b"]) {
        assertEquals(await store.log.intervals("lobby", device), [{ fromSeq: 1, toSeq: null }]);
        assertEquals(await read(store, device), [1, 2, 3]);
      }
    },
  },
  {
    name: "log.readForDevice() lowers its limit to MAX_READ_BATCH and refuses bad arguments",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", MAX_READ_BATCH + 1);
      assertEquals(await read(store, "alice/laptop", 0, MAX_READ_BATCH), range(1, MAX_READ_BATCH));
      assertEquals(
        await read(store, "alice/laptop", 0, MAX_READ_BATCH + 1),
        range(1, MAX_READ_BATCH),
      );
      assertEquals(await read(store, "alice/laptop", MAX_READ_BATCH), [MAX_READ_BATCH + 1]);
      for (const [after, limit] of [[-1, 1], [0, 0], [0, 1.5], [Number.NaN, 1]]) {
        await assertRejects(
          () => store.log.readForDevice("lobby", "alice/laptop", after!, limit!),
          InvalidInputError,
        );
      }
    },
  },
  {
    name: "a room keeps maxMessagesPerRoom entries; the next drops the oldest, numbers go on",
    options: { maxMessagesPerRoom: 5 },
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 5);
      assertEquals(await read(store, "alice/laptop"), range(1, 5));
      assertEquals(await appendMany(store, "lobby", 1), [6]);
      const page = await store.log.readForDevice("lobby", "alice/laptop", 0, 100);
      assertEquals(seqsOf(page.entries), range(2, 6));
      assertEquals(page.missed, 1);
      await appendMany(store, "lobby", 3);
      assertEquals(await read(store, "alice/laptop"), range(5, 9));
      assertEquals((await store.log.readForDevice("lobby", "alice/laptop", 2, 100)).missed, 2);
      assertEquals((await store.log.readForDevice("lobby", "alice/laptop", 4, 100)).missed, 0);
    },
  },
  {
    name: "a room keeps DEFAULT_MAX_ROOM_MESSAGES entries by default and drops one past it",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", DEFAULT_MAX_ROOM_MESSAGES);
      const first = await store.log.readForDevice("lobby", "alice/laptop", 0, 1);
      assertEquals([seqsOf(first.entries), first.missed], [[1], 0]);
      await appendMany(store, "lobby", 1);
      const after = await store.log.readForDevice("lobby", "alice/laptop", 0, 1);
      assertEquals([seqsOf(after.entries), after.missed], [[2], 1]);
      assertEquals(await store.log.lastSeq("lobby"), DEFAULT_MAX_ROOM_MESSAGES + 1);
    },
  },
  {
    name: "prune() removes entries older than retentionMs, reports them as missed, never reuses",
    options: { retentionMs: 1000 },
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 2, T0);
      await store.log.openInterval("lobby", "bob/phone");
      await appendMany(store, "lobby", 2, T0 + 500);
      assertEquals((await store.prune(T0 + 1000)).roomEntries, 0); // exactly retentionMs old
      assertEquals(await read(store, "alice/laptop"), [1, 2, 3, 4]);
      assertEquals((await store.prune(T0 + 1001)).roomEntries, 2);
      const alice = await store.log.readForDevice("lobby", "alice/laptop", 0, 10);
      assertEquals([seqsOf(alice.entries), alice.missed], [[3, 4], 2]);
      // bob's device was not there for 1 and 2: it missed nothing.
      const bob = await store.log.readForDevice("lobby", "bob/phone", 0, 10);
      assertEquals([seqsOf(bob.entries), bob.missed], [[3, 4], 0]);
      assertEquals((await store.prune(T0 + 1501)).roomEntries, 2);
      assertEquals(await read(store, "alice/laptop"), []);
      assertEquals(await appendMany(store, "lobby", 1, T0 + 2000), [5]);
      assertEquals(await read(store, "alice/laptop"), [5]);
    },
  },
  {
    name: "prune() keeps entries DEFAULT_RETENTION_MS old by default and removes older ones",
    async fn(store) {
      await roomWith(store, "lobby", "alice");
      await store.log.openInterval("lobby", "alice/laptop");
      await appendMany(store, "lobby", 1, T0);
      await appendMany(store, "lobby", 1, T0 + 1);
      assertEquals((await store.prune(T0 + DEFAULT_RETENTION_MS)).roomEntries, 0);
      assertEquals((await store.prune(T0 + DEFAULT_RETENTION_MS + 1)).roomEntries, 1);
      assertEquals(await read(store, "alice/laptop"), [2]);
    },
  },
  {
    name: "closed intervals whose entries are all gone are dropped; open ones stay",
    options: { maxMessagesPerRoom: 2 },
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      await store.log.openInterval("lobby", "alice/laptop");
      await store.log.openInterval("lobby", "bob/phone");
      await appendMany(store, "lobby", 1);
      await store.members.leave("lobby", "bob");
      await appendMany(store, "lobby", 2);
      assertEquals(await store.log.intervals("lobby", "bob/phone"), []);
      assertEquals(await store.log.intervals("lobby", "alice/laptop"), [
        { fromSeq: 1, toSeq: null },
      ]);
    },
  },
];
