/**
 * Suite cases for session descriptions, the member devices of a room (open intervals) and the
 * pre-key status a server tells a device at set-up.
 *
 * @module
 */

import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { InvalidInputError } from "./errors.ts";
import { MAX_DESCRIPTION_CHARS, MAX_READ_BATCH } from "./limits.ts";
import type { StoreCase } from "./store_suite.ts";
import { logEntry, roomWith, T0 } from "./store_suite_support.ts";
import type { SessionRecord } from "./types.ts";

const ALICE_SESSION: SessionRecord = {
  session: "c2Vzc2lvbi1hbGljZS0x",
  user: "alice",
  device: "laptop",
  announce: "YW5ub3VuY2U",
  agreement: null,
  link: null,
};
const BOB_SESSION: SessionRecord = {
  session: "c2Vzc2lvbi1ib2ItMQ",
  user: "bob",
  device: "phone",
  announce: "Ym9iLWFubm91bmNl",
  agreement: "YWdyZWVtZW50",
  link: "bGluaw",
};

/** Session descriptions, open devices and pre-key status. */
export const SESSION_CASES: StoreCase[] = [
  {
    name: "sessions.put() keeps a description, a later put replaces it, get() answers in order",
    async fn(store) {
      await store.sessions.put(ALICE_SESSION, T0);
      await store.sessions.put(BOB_SESSION, T0);
      assertEquals(
        await store.sessions.get([BOB_SESSION.session, "dW5rbm93bg", ALICE_SESSION.session]),
        [BOB_SESSION, ALICE_SESSION],
      );
      const renewed = { ...ALICE_SESSION, agreement: "bmV3LWtleQ", link: "bGluay0y" };
      await store.sessions.put(renewed, T0 + 5);
      assertEquals(await store.sessions.get([ALICE_SESSION.session]), [renewed]);
      assertEquals(await store.sessions.get([]), []);
    },
  },
  {
    name: "sessions.put() and get() refuse malformed input and keep nothing",
    async fn(store) {
      const bad: Partial<SessionRecord>[] = [
        { session: "has space" },
        { user: "Alice" },
        { device: "" },
        { announce: "" },
        { announce: "a".repeat(MAX_DESCRIPTION_CHARS + 1) },
        { agreement: "" },
        { link: "l".repeat(MAX_DESCRIPTION_CHARS + 1) },
      ];
      for (const overrides of bad) {
        await assertRejects(
          () => store.sessions.put({ ...ALICE_SESSION, ...overrides }, T0),
          InvalidInputError,
        );
      }
      await assertRejects(() => store.sessions.put(ALICE_SESSION, -1), InvalidInputError);
      assertEquals(await store.sessions.get([ALICE_SESSION.session]), []);
      await assertRejects(() => store.sessions.get(["bad id"]), InvalidInputError);
      const tooMany = Array.from({ length: MAX_READ_BATCH + 1 }, (_, i) => `s${i}`);
      await assertRejects(() => store.sessions.get(tooMany), InvalidInputError);
      // At the edges: MAX_DESCRIPTION_CHARS is kept.
      const longest = { ...ALICE_SESSION, announce: "a".repeat(MAX_DESCRIPTION_CHARS) };
      await store.sessions.put(longest, T0);
      assertEquals(await store.sessions.get([ALICE_SESSION.session]), [longest]);
    },
  },
  {
    name: "prune() keeps a description 1.5 retentions after its last put, then removes it",
    options: { retentionMs: 1000 },
    async fn(store) {
      const renewed = { ...BOB_SESSION };
      await store.sessions.put(ALICE_SESSION, T0);
      await store.sessions.put(renewed, T0);
      await store.sessions.put(renewed, T0 + 400); // put again: kept from then on
      const ids = [ALICE_SESSION.session, renewed.session];
      assertEquals((await store.prune(T0 + 1500)).sessions, 0); // exactly 1.5 retentions: kept
      assertEquals((await store.prune(T0 + 1501)).sessions, 1);
      assertEquals(await store.sessions.get(ids), [renewed]);
      assertEquals((await store.prune(T0 + 1901)).sessions, 1);
      assertEquals(await store.sessions.get(ids), []);
    },
  },
  {
    name: "log.openDevices() lists the devices with an open interval, not closed or forgotten ones",
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      assertEquals(await store.log.openDevices("lobby"), []);
      await store.log.openInterval("lobby", "bob/phone");
      await store.log.openInterval("lobby", "alice/laptop");
      await store.log.openInterval("lobby", "alice/phone");
      assertEquals(await store.log.openDevices("lobby"), [
        "alice/laptop",
        "alice/phone",
        "bob/phone",
      ]);
      await store.log.append("lobby", logEntry());
      await store.log.closeInterval("lobby", "alice/phone");
      await store.forgetDevice("bob/phone");
      assertEquals(await store.log.openDevices("lobby"), ["alice/laptop"]);
      await store.members.leave("lobby", "alice");
      assertEquals(await store.log.openDevices("lobby"), []);
      assertEquals(await store.log.openDevices("nowhere"), []);
      await assertRejects(() => store.log.openDevices("Bad Room"), InvalidInputError);
    },
  },
  {
    name: "prekeys.status() says whether a signed pre-key is held and how many one-time ones",
    async fn(store) {
      const device = "bob/phone";
      assertEquals(await store.prekeys.status(device), { signed: false, oneTime: 0 });
      await store.prekeys.addOneTime(device, [{ id: "o1", payload: "b25l" }]);
      assertEquals(await store.prekeys.status(device), { signed: false, oneTime: 1 });
      await store.prekeys.setSigned(device, { id: "s1", payload: "c2lnbmVk", createdAt: T0 });
      assertEquals(await store.prekeys.status(device), { signed: true, oneTime: 1 });
      await store.prekeys.take(device);
      assertEquals(await store.prekeys.status(device), { signed: true, oneTime: 0 });
      await assertRejects(() => store.prekeys.status("nobody"), InvalidInputError);
    },
  },
];
