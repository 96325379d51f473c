/**
 * Suite cases for device inboxes, pre-keys, and the store as a whole (forgetting a device,
 * noticing another instance's writes, closing).
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { InvalidInputError, LimitError, StoreUnavailableError } from "./errors.ts";
import {
  DEFAULT_MAX_INBOX_ITEMS,
  MAX_KIND_CHARS,
  MAX_ONE_TIME_PREKEYS,
  MAX_READ_BATCH,
} from "./limits.ts";
import type { StoreCase } from "./store_suite.ts";
import { inboxItem, logEntry, range, roomWith, seqsOf, T0 } from "./store_suite_support.ts";
import type { ChatStore, NewInboxItem, OneTimePrekey } from "./types.ts";

const BOB = "bob/phone";

const readSeqs = async (store: ChatStore, after = 0, limit = MAX_READ_BATCH) =>
  seqsOf((await store.inbox.read(BOB, after, limit)).items);

const appendItems = async (store: ChatStore, count: number, ts = T0): Promise<number[]> => {
  const seqs: number[] = [];
  for (let i = 1; i <= count; i++) {
    seqs.push(await store.inbox.append(BOB, inboxItem(`i${i}`, { ts })));
  }
  return seqs;
};

const oneTime = (from: number, to: number): OneTimePrekey[] =>
  range(from, to).map((i) => ({ id: `k${i}`, payload: `cHJla2V5${i}` }));

const signed = { id: "s1", payload: "c2lnbmVk", createdAt: T0 };

/** Malformed inbox items, each refused. */
const BAD_ITEMS: [string, Partial<NewInboxItem>][] = [
  ["kind", { kind: "" }],
  ["kind", { kind: "Keys" }],
  ["kind", { kind: "k".repeat(MAX_KIND_CHARS + 1) }],
  ["fromUser", { fromUser: "" }],
  ["fromDevice", { fromDevice: "a/b" }],
  ["fromSession", { fromSession: "" }],
  ["room", { room: "Lobby" }],
  ["ts", { ts: -5 }],
  ["payload", { payload: "" }],
];

/** Inboxes, pre-keys and the whole store. */
export const INBOX_CASES: StoreCase[] = [
  {
    name: "inbox.append() numbers each device's items; read() returns them in order",
    async fn(store) {
      assertEquals(await appendItems(store, 3), [1, 2, 3]);
      assertEquals(await store.inbox.append("bob/laptop", inboxItem()), 1);
      const dm = inboxItem("ZG0", { kind: "dm", room: undefined, ts: T0 + 3 });
      assertEquals(await store.inbox.append(BOB, dm), 4);
      const page = await store.inbox.read(BOB, 3, 10);
      assertEquals(page, {
        items: [{
          seq: 4,
          kind: "dm",
          fromUser: "bob",
          fromDevice: "phone",
          fromSession: dm.fromSession,
          room: null,
          ts: T0 + 3,
          payload: "ZG0",
        }],
        dropped: 0,
      });
      assertEquals(await readSeqs(store, 0, 2), [1, 2]);
      assertEquals(await readSeqs(store, 4), []);
      assertEquals(await store.inbox.read("carol/phone", 0, 10), { items: [], dropped: 0 });
      assertEquals(
        (await store.inbox.read(BOB, 0, 1)).items[0]?.kind,
        "keys",
      );
      assertEquals(
        await store.inbox.append(BOB, inboxItem("a", { kind: "k".repeat(MAX_KIND_CHARS) })),
        5,
      );
    },
  },
  {
    name: "inbox.append() refuses malformed items and appends nothing",
    async fn(store) {
      for (const [field, bad] of BAD_ITEMS) {
        await assertRejects(
          () => store.inbox.append(BOB, { ...inboxItem(), ...bad }),
          InvalidInputError,
          field,
        );
      }
      await assertRejects(() => store.inbox.append("bob", inboxItem()), InvalidInputError);
      assertEquals(await readSeqs(store), []);
      assertEquals(await store.inbox.append(BOB, inboxItem()), 1);
    },
  },
  {
    name: "inbox.ack() deletes what the device confirmed; numbers are never reused",
    async fn(store) {
      await appendItems(store, 4);
      assertEquals(await store.inbox.ack(BOB, 2), 2);
      assertEquals(await readSeqs(store), [3, 4]);
      assertEquals(await store.inbox.ack(BOB, 2), 0);
      assertEquals(await store.inbox.ack(BOB, 1), 0);
      assertEquals(await store.inbox.ack(BOB, 4), 2);
      assertEquals(await readSeqs(store), []);
      assertEquals(await appendItems(store, 1), [5]);
      await assertRejects(() => store.inbox.ack(BOB, 6), InvalidInputError, "past the last");
      await assertRejects(() => store.inbox.ack("carol/phone", 1), InvalidInputError);
      assertEquals(await store.inbox.ack("carol/phone", 0), 0);
      assertEquals(await readSeqs(store), [5]);
    },
  },
  {
    name: "an inbox keeps maxInboxItems; past it the oldest go and read() says how many",
    options: { maxInboxItems: 3 },
    async fn(store) {
      await appendItems(store, 3);
      assertEquals((await store.inbox.read(BOB, 0, 10)).dropped, 0);
      await appendItems(store, 2); // 4, 5: 1 and 2 are dropped
      let page = await store.inbox.read(BOB, 0, 10);
      assertEquals([seqsOf(page.items), page.dropped], [[3, 4, 5], 2]);
      // Repeated until the device acknowledges past them (a lost reply loses nothing).
      assertEquals((await store.inbox.read(BOB, 0, 10)).dropped, 2);
      assertEquals((await store.inbox.read(BOB, 1, 10)).dropped, 1);
      await store.inbox.ack(BOB, 3);
      page = await store.inbox.read(BOB, 0, 10);
      assertEquals([seqsOf(page.items), page.dropped], [[4, 5], 0]);
      // Acknowledged items do not count against the bound.
      await appendItems(store, 1);
      assertEquals((await store.inbox.read(BOB, 3, 10)).dropped, 0);
    },
  },
  {
    name: "an inbox keeps DEFAULT_MAX_INBOX_ITEMS by default and drops one past it",
    async fn(store) {
      await appendItems(store, DEFAULT_MAX_INBOX_ITEMS);
      let page = await store.inbox.read(BOB, 0, 1);
      assertEquals([seqsOf(page.items), page.dropped], [[1], 0]);
      await appendItems(store, 1);
      page = await store.inbox.read(BOB, 0, 1);
      assertEquals([seqsOf(page.items), page.dropped], [[2], 1]);
    },
  },
  {
    name: "inbox.read() lowers its limit to MAX_READ_BATCH and refuses bad arguments",
    async fn(store) {
      await appendItems(store, MAX_READ_BATCH + 1);
      assertEquals(await readSeqs(store, 0, MAX_READ_BATCH + 1), range(1, MAX_READ_BATCH));
      assertEquals(await readSeqs(store, MAX_READ_BATCH, MAX_READ_BATCH), [MAX_READ_BATCH + 1]);
      await assertRejects(() => store.inbox.read(BOB, 0, 0), InvalidInputError, "limit");
      await assertRejects(() => store.inbox.read(BOB, -1, 1), InvalidInputError, "afterSeq");
    },
  },
  {
    name: "prune() drops inbox items older than retentionMs and read() reports them",
    options: { retentionMs: 1000 },
    async fn(store) {
      await appendItems(store, 2, T0);
      await appendItems(store, 1, T0 + 600);
      assertEquals((await store.prune(T0 + 1000)).inboxItems, 0);
      assertEquals((await store.prune(T0 + 1001)).inboxItems, 2);
      const page = await store.inbox.read(BOB, 0, 10);
      assertEquals([seqsOf(page.items), page.dropped], [[3], 2]);
      await store.inbox.ack(BOB, 3);
      assertEquals(await store.inbox.read(BOB, 0, 10), { items: [], dropped: 0 });
    },
  },
  {
    name: "prekeys.take() hands out the signed pre-key and each one-time pre-key once",
    async fn(store) {
      assertEquals(await store.prekeys.take(BOB), undefined);
      await store.prekeys.addOneTime(BOB, oneTime(1, 2));
      // No signed pre-key yet: nothing is handed out, and no one-time key is spent.
      assertEquals(await store.prekeys.take(BOB), undefined);
      assertEquals(await store.prekeys.countOneTime(BOB), 2);
      await store.prekeys.setSigned(BOB, signed);
      assertEquals(await store.prekeys.take(BOB), { signed, oneTime: oneTime(1, 1)[0]! });
      const newer = { id: "s2", payload: "bmV3ZXI", createdAt: T0 + 7 };
      await store.prekeys.setSigned(BOB, newer);
      assertEquals(await store.prekeys.take(BOB), { signed: newer, oneTime: oneTime(2, 2)[0]! });
      // Out of one-time pre-keys: the signed one still lets senders reach the device.
      assertEquals(await store.prekeys.take(BOB), { signed: newer, oneTime: null });
      assertEquals(await store.prekeys.countOneTime(BOB), 0);
      assertEquals(await store.prekeys.take("bob/laptop"), undefined);
    },
  },
  {
    name: "prekeys.addOneTime() holds MAX_ONE_TIME_PREKEYS and refuses a batch past it whole",
    async fn(store) {
      await store.prekeys.addOneTime(BOB, oneTime(1, MAX_ONE_TIME_PREKEYS - 1));
      await store.prekeys.addOneTime(BOB, []);
      await assertRejects(
        () => store.prekeys.addOneTime(BOB, oneTime(1000, 1001)),
        LimitError,
        String(MAX_ONE_TIME_PREKEYS),
      );
      assertEquals(await store.prekeys.countOneTime(BOB), MAX_ONE_TIME_PREKEYS - 1);
      await store.prekeys.addOneTime(BOB, oneTime(1000, 1000));
      assertEquals(await store.prekeys.countOneTime(BOB), MAX_ONE_TIME_PREKEYS);
      await assertRejects(() => store.prekeys.addOneTime(BOB, oneTime(1001, 1001)), LimitError);
      // Another device has its own bound.
      await store.prekeys.addOneTime("bob/laptop", oneTime(1, 1));
    },
  },
  {
    name: "prekeys.addOneTime() refuses repeated ids and malformed keys, all or nothing",
    async fn(store) {
      await store.prekeys.addOneTime(BOB, oneTime(1, 2));
      await assertRejects(
        () => store.prekeys.addOneTime(BOB, oneTime(3, 4).concat(oneTime(3, 3))),
        InvalidInputError,
        "unique",
      );
      await assertRejects(
        () => store.prekeys.addOneTime(BOB, oneTime(3, 4).concat(oneTime(2, 2))),
        InvalidInputError,
        "k2",
      );
      for (const bad of [{ id: "", payload: "x" }, { id: "k9", payload: "" }]) {
        await assertRejects(() => store.prekeys.addOneTime(BOB, [bad]), InvalidInputError);
      }
      await assertRejects(
        () => store.prekeys.setSigned(BOB, { ...signed, createdAt: -1 }),
        InvalidInputError,
        "createdAt",
      );
      assertEquals(await store.prekeys.countOneTime(BOB), 2);
    },
  },
  {
    name: "prekeys.take() from two instances at once never hands out a key twice",
    async fn(store, fixture) {
      const peer = await fixture.openPeer();
      await store.prekeys.setSigned(BOB, signed);
      await store.prekeys.addOneTime(BOB, oneTime(1, 20));
      const bundles = await Promise.all(
        range(1, 30).map((i) => (i % 2 ? store : peer).prekeys.take(BOB)),
      );
      const ids = bundles.map((b) => b?.oneTime?.id).filter((id) => id !== undefined);
      assertEquals(ids.length, 20);
      assertEquals(new Set(ids).size, 20);
      assertEquals(bundles.filter((b) => b?.oneTime === null).length, 10);
      assertEquals(await peer.prekeys.countOneTime(BOB), 0);
    },
  },
  {
    name: "forgetDevice() deletes its inbox, pre-keys and intervals; a new device reads nothing",
    async fn(store) {
      await roomWith(store, "lobby", "bob");
      await store.log.openInterval("lobby", BOB);
      await store.log.append("lobby", logEntry());
      await appendItems(store, 2);
      await store.prekeys.setSigned(BOB, signed);
      await store.prekeys.addOneTime(BOB, oneTime(1, 3));
      await store.forgetDevice(BOB);
      assertEquals(await store.prekeys.take(BOB), undefined);
      assertEquals(await store.prekeys.countOneTime(BOB), 0);
      assertEquals(await store.inbox.read(BOB, 0, 10), { items: [], dropped: 0 });
      assertEquals(await store.log.intervals("lobby", BOB), []);
      assertEquals((await store.log.readForDevice("lobby", BOB, 0, 10)).entries, []);
      // Enrolled again under the same label: it starts after everything the old one had.
      assertEquals(await store.log.openInterval("lobby", BOB), { fromSeq: 2, toSeq: null });
      assertEquals(await appendItems(store, 1), [3]);
      const page = await store.inbox.read(BOB, 0, 10);
      assertEquals([seqsOf(page.items), page.dropped], [[3], 0]);
      assert(await store.members.isMember("lobby", "bob"));
    },
  },
  {
    name: "version() changes when another instance writes",
    async fn(store, fixture) {
      const peer = await fixture.openPeer();
      const before = await store.version();
      assertEquals(await store.version(), before);
      await peer.rooms.create("lobby", "alice", T0);
      const after = await store.version();
      assert(after !== before, "version() did not change after another instance wrote");
      assertEquals(await store.version(), after);
    },
  },
  {
    name: "a closed store rejects every call with StoreUnavailableError",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      await store.close();
      const error = await assertRejects(() => store.rooms.get("lobby"), StoreUnavailableError);
      assertEquals(error.code, "unavailable");
      await assertRejects(() => store.log.lastSeq("lobby"), StoreUnavailableError);
      await assertRejects(() => store.prune(T0), StoreUnavailableError);
      await store.close(); // closing twice is harmless
    },
  },
];
