/**
 * Suite cases for rooms, memberships and moderation.
 *
 * @module
 */

import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import {
  InvalidInputError,
  LimitError,
  RoomExistsError,
  StoreError,
  UnknownRoomError,
} from "./errors.ts";
import { MAX_LIST_ENTRIES, MAX_REASON_CHARS, MAX_ROOM_PAGE, MAX_TOPIC_CHARS } from "./limits.ts";
import type { StoreCase } from "./store_suite.ts";
import { appendMany, logEntry, roomWith, T0 } from "./store_suite_support.ts";
import { LIST_KINDS, type ListEntryInput } from "./types.ts";

const ban = (overrides: Partial<ListEntryInput> = {}): ListEntryInput => ({
  by: "alice",
  reason: "flooding",
  at: T0,
  until: null,
  ...overrides,
});

/** Rooms, memberships, roles and lists. */
export const ROOM_CASES: StoreCase[] = [
  {
    name: "rooms.create() records the room and makes its creator owner, not member",
    async fn(store) {
      const created = await store.rooms.create("lobby", "alice", T0);
      const expected = { name: "lobby", createdAt: T0, createdBy: "alice", topic: "", modes: "" };
      assertEquals(created, expected);
      assertEquals(await store.rooms.get("lobby"), expected);
      assertEquals(await store.rooms.get("nowhere"), undefined);
      assertEquals(await store.moderation.roleOf("lobby", "alice"), "owner");
      assertEquals(await store.members.isMember("lobby", "alice"), false);
      assertEquals(await store.log.lastSeq("lobby"), 0);
    },
  },
  {
    name: "rooms.create() refuses a duplicate name and changes nothing",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      const error = await assertRejects(
        () => store.rooms.create("lobby", "bob", T0 + 1),
        RoomExistsError,
        "lobby",
      );
      assertEquals(error.code, "room_exists");
      assertEquals((await store.rooms.get("lobby"))?.createdBy, "alice");
      assertEquals(await store.moderation.roleOf("lobby", "bob"), null);
    },
  },
  {
    name: "rooms.create() and others refuse malformed names",
    async fn(store) {
      for (const name of ["", "Lobby", "-x", "a".repeat(33), "a/b", "lob by"]) {
        await assertRejects(() => store.rooms.create(name, "alice", T0), InvalidInputError);
        await assertRejects(() => store.rooms.get(name), InvalidInputError);
      }
      await assertRejects(() => store.rooms.create("lobby", "Alice", T0), InvalidInputError);
      await assertRejects(() => store.rooms.create("lobby", "alice", -1), InvalidInputError);
      await assertRejects(() => store.rooms.create("lobby", "alice", 1.5), InvalidInputError);
      assertEquals(await store.rooms.list(), []);
      assertEquals((await store.rooms.create("a".repeat(32), "alice", T0)).name, "a".repeat(32));
    },
  },
  {
    name: "rooms.list() pages in name order and lowers its limit to MAX_ROOM_PAGE",
    async fn(store) {
      const names = Array.from({ length: MAX_ROOM_PAGE + 1 }, (_, i) => `r${i + 10_000}`);
      for (const name of names) await store.rooms.create(name, "alice", T0);
      const all = await store.rooms.list({ limit: MAX_ROOM_PAGE + 1 });
      assertEquals(all.length, MAX_ROOM_PAGE);
      assertEquals(all.map((r) => r.name), names.slice(0, MAX_ROOM_PAGE));
      assertEquals((await store.rooms.list()).length, MAX_ROOM_PAGE);
      const rest = await store.rooms.list({ after: all.at(-1)!.name });
      assertEquals(rest.map((r) => r.name), names.slice(MAX_ROOM_PAGE));
      assertEquals((await store.rooms.list({ after: "r10004", limit: 2 })).map((r) => r.name), [
        "r10005",
        "r10006",
      ]);
      await assertRejects(() => store.rooms.list({ limit: 0 }), InvalidInputError);
    },
  },
  {
    name: "rooms.delete() removes members, roles, lists, intervals and log; numbers go on",
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      await store.moderation.setRole("lobby", "bob", "operator");
      await store.moderation.putListEntry("lobby", "ban", "mallory", ban());
      await store.log.openInterval("lobby", "bob/phone");
      await appendMany(store, "lobby", 3);
      assertEquals(await store.rooms.delete("lobby"), true);
      assertEquals(await store.rooms.delete("lobby"), false);
      assertEquals(await store.rooms.get("lobby"), undefined);
      assertEquals(await store.members.roomsOf("bob"), []);
      assertEquals(await store.log.intervals("lobby", "bob/phone"), []);
      await assertRejects(() => store.log.append("lobby", logEntry()), UnknownRoomError);

      await roomWith(store, "lobby", "carol", "bob");
      assertEquals(await store.moderation.roleOf("lobby", "alice"), null);
      assertEquals(await store.moderation.roleOf("lobby", "bob"), null);
      assertEquals(await store.moderation.getListEntry("lobby", "ban", "mallory", T0), undefined);
      assertEquals(await store.members.membersOf("lobby"), [
        { user: "bob", joinedAt: T0, role: null },
        { user: "carol", joinedAt: T0, role: "owner" },
      ]);
      // The recreated room continues the old numbering, so a client's "last seen" stays sound.
      assertEquals(await store.log.lastSeq("lobby"), 3);
      assertEquals(await store.log.openInterval("lobby", "bob/phone"), { fromSeq: 4, toSeq: null });
      assertEquals(await appendMany(store, "lobby", 1), [4]);
      const page = await store.log.readForDevice("lobby", "bob/phone", 0, 10);
      assertEquals(page.entries.map((e) => e.seq), [4]);
      assertEquals(page.missed, 0);
    },
  },
  {
    name: "rooms.setTopic() and setModes() change the room; unknown rooms are refused",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      await store.rooms.setTopic("lobby", "welcome, be kind");
      assertEquals(await store.rooms.setModes("lobby", "tmit"), "imt");
      assertEquals(await store.rooms.get("lobby"), {
        name: "lobby",
        createdAt: T0,
        createdBy: "alice",
        topic: "welcome, be kind",
        modes: "imt",
      });
      assertEquals(await store.rooms.setModes("lobby", ""), "");
      await store.rooms.setTopic("lobby", "");
      assertEquals((await store.rooms.get("lobby"))?.topic, "");
      await assertRejects(() => store.rooms.setTopic("nowhere", "x"), UnknownRoomError, "nowhere");
      await assertRejects(() => store.rooms.setModes("nowhere", "i"), UnknownRoomError);
      for (const modes of ["+i", "I", "i m", "é"]) {
        await assertRejects(() => store.rooms.setModes("lobby", modes), InvalidInputError);
      }
    },
  },
  {
    name: "rooms.setTopic() takes MAX_TOPIC_CHARS characters and refuses one more",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      const longest = "t".repeat(MAX_TOPIC_CHARS);
      await store.rooms.setTopic("lobby", longest);
      await assertRejects(
        () => store.rooms.setTopic("lobby", longest + "t"),
        InvalidInputError,
        `at most ${MAX_TOPIC_CHARS}`,
      );
      assertEquals((await store.rooms.get("lobby"))?.topic, longest);
    },
  },
  {
    name: "members.join() and leave() keep memberships per user, with roles",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      await store.rooms.create("dev", "bob", T0);
      assertEquals(await store.members.join("lobby", "alice", T0), true);
      assertEquals(await store.members.join("lobby", "alice", T0 + 5), false);
      assertEquals(await store.members.join("lobby", "bob", T0 + 1), true);
      assertEquals(await store.members.join("dev", "bob", T0 + 2), true);
      assertEquals(await store.members.isMember("lobby", "bob"), true);
      assertEquals(await store.members.membersOf("lobby"), [
        { user: "alice", joinedAt: T0, role: "owner" },
        { user: "bob", joinedAt: T0 + 1, role: null },
      ]);
      assertEquals(await store.members.roomsOf("bob"), ["dev", "lobby"]);
      assertEquals(await store.members.leave("lobby", "bob"), true);
      assertEquals(await store.members.leave("lobby", "bob"), false);
      assertEquals(await store.members.isMember("lobby", "bob"), false);
      assertEquals(await store.members.roomsOf("bob"), ["dev"]);
      assertEquals(await store.members.membersOf("nowhere"), []);
      await assertRejects(() => store.members.join("nowhere", "bob", T0), UnknownRoomError);
      await assertRejects(() => store.members.join("lobby", "Bob", T0), InvalidInputError);
    },
  },
  {
    name: "members are seen by another instance on the same data",
    async fn(store, fixture) {
      await roomWith(store, "lobby", "alice", "bob");
      const peer = await fixture.openPeer();
      assertEquals((await peer.members.membersOf("lobby")).map((m) => m.user), ["alice", "bob"]);
      await peer.members.leave("lobby", "bob");
      assertEquals(await store.members.isMember("lobby", "bob"), false);
    },
  },
  {
    name: "moderation.setRole() gives and takes roles; bad roles and unknown rooms are refused",
    async fn(store) {
      await roomWith(store, "lobby", "alice", "bob");
      for (const role of ["operator", "voiced", "owner"] as const) {
        await store.moderation.setRole("lobby", "bob", role);
        assertEquals(await store.moderation.roleOf("lobby", "bob"), role);
      }
      await store.moderation.setRole("lobby", "bob", null);
      assertEquals(await store.moderation.roleOf("lobby", "bob"), null);
      // Roles attach to the user and outlive a leave; the server decides whether to keep them.
      await store.moderation.setRole("lobby", "bob", "operator");
      await store.members.leave("lobby", "bob");
      assertEquals(await store.moderation.roleOf("lobby", "bob"), "operator");
      await assertRejects(
        // @ts-expect-error: not a role
        () => store.moderation.setRole("lobby", "bob", "admin"),
        InvalidInputError,
        "role",
      );
      await assertRejects(
        () => store.moderation.setRole("nowhere", "bob", "operator"),
        UnknownRoomError,
      );
    },
  },
  {
    name: "moderation lists: put, get, list, remove, for bans, mutes and invites",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      for (const kind of LIST_KINDS) {
        await store.moderation.putListEntry("lobby", kind, "mallory", ban());
        await store.moderation.putListEntry("lobby", kind, "eve", ban({ reason: "" }));
        const mallory = { room: "lobby", kind, user: "mallory", ...ban() };
        assertEquals(await store.moderation.getListEntry("lobby", kind, "mallory", T0), mallory);
        assertEquals(
          (await store.moderation.listEntries("lobby", kind, T0)).map((e) => e.user),
          ["eve", "mallory"],
        );
        // Putting again replaces: a new reason and a duration.
        await store.moderation.putListEntry("lobby", kind, "mallory", ban({ until: T0 + 60_000 }));
        assertEquals(
          (await store.moderation.getListEntry("lobby", kind, "mallory", T0))?.until,
          T0 + 60_000,
        );
        assertEquals(await store.moderation.removeListEntry("lobby", kind, "eve"), true);
        assertEquals(await store.moderation.removeListEntry("lobby", kind, "eve"), false);
        assertEquals(await store.moderation.getListEntry("lobby", kind, "eve", T0), undefined);
      }
      // The kinds are separate lists.
      await store.moderation.removeListEntry("lobby", "ban", "mallory");
      assert(await store.moderation.getListEntry("lobby", "mute", "mallory", T0));
      await assertRejects(
        () => store.moderation.putListEntry("nowhere", "ban", "mallory", ban()),
        UnknownRoomError,
      );
      await assertRejects(
        // @ts-expect-error: not a list kind
        () => store.moderation.putListEntry("lobby", "kick", "mallory", ban()),
        InvalidInputError,
      );
      await assertRejects(
        () => store.moderation.putListEntry("lobby", "ban", "mallory", ban({ by: "A" })),
        InvalidInputError,
      );
    },
  },
  {
    name: "a timed list entry is in force until its end and lifted from then on; prune deletes it",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      const until = T0 + 10 * 60_000;
      await store.moderation.putListEntry("lobby", "ban", "mallory", ban({ until }));
      await store.moderation.putListEntry("lobby", "mute", "eve", ban({ until }));
      await store.moderation.putListEntry("lobby", "ban", "trent", ban());
      assert(await store.moderation.getListEntry("lobby", "ban", "mallory", until - 1));
      assertEquals(
        await store.moderation.getListEntry("lobby", "ban", "mallory", until),
        undefined,
      );
      assertEquals(
        (await store.moderation.listEntries("lobby", "ban", until)).map((e) => e.user),
        ["trent"],
      );
      assertEquals((await store.prune(until - 1)).listEntries, 0);
      assertEquals((await store.prune(until)).listEntries, 2);
      assertEquals(await store.moderation.removeListEntry("lobby", "ban", "mallory"), false);
      assert(await store.moderation.getListEntry("lobby", "ban", "trent", until * 2));
    },
  },
  {
    name: "a room's list takes MAX_LIST_ENTRIES entries in force and refuses one more",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      for (let i = 0; i < MAX_LIST_ENTRIES - 1; i++) {
        await store.moderation.putListEntry("lobby", "ban", `u${i}`, ban());
      }
      await store.moderation.putListEntry("lobby", "ban", "last", ban({ until: T0 + 1000 }));
      const error = await assertRejects(
        () => store.moderation.putListEntry("lobby", "ban", "onemore", ban()),
        LimitError,
        String(MAX_LIST_ENTRIES),
      );
      assert(error instanceof StoreError && error.code === "limit");
      assertEquals(await store.moderation.getListEntry("lobby", "ban", "onemore", T0), undefined);
      // Replacing an entry already there is no new entry; other kinds have their own bound.
      await store.moderation.putListEntry("lobby", "ban", "u0", ban({ reason: "again" }));
      await store.moderation.putListEntry("lobby", "mute", "onemore", ban());
      // An entry that has lifted no longer counts.
      await store.moderation.putListEntry("lobby", "ban", "onemore", ban({ at: T0 + 1000 }));
      assertEquals((await store.moderation.listEntries("lobby", "ban", T0 + 1000)).length, 1000);
    },
  },
  {
    name: "a list entry's reason takes MAX_REASON_CHARS characters and refuses one more",
    async fn(store) {
      await store.rooms.create("lobby", "alice", T0);
      const reason = "r".repeat(MAX_REASON_CHARS);
      await store.moderation.putListEntry("lobby", "ban", "mallory", ban({ reason }));
      await assertRejects(
        () => store.moderation.putListEntry("lobby", "ban", "eve", ban({ reason: reason + "r" })),
        InvalidInputError,
        "reason",
      );
      assertEquals(await store.moderation.getListEntry("lobby", "ban", "eve", T0), undefined);
    },
  },
];
