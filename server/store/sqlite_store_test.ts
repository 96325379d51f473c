import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "../../tests/support/assert.ts";
import { CaStore, DATABASE_FILE } from "../ca_store.ts";
import { InvalidInputError, StoreUnavailableError } from "./errors.ts";
import { DEFAULT_MAX_ROOM_MESSAGES, DEFAULT_RETENTION_MS, STORE_FILE } from "./limits.ts";
import { SqliteStore, type SqliteStoreOptions } from "./sqlite_store.ts";
import { storeSuite } from "./store_suite.ts";
import { inboxItem, logEntry, range, T0 } from "./store_suite_support.ts";
import type { ChatStore } from "./types.ts";

/** A fresh store file in its own temp dir, closed and deleted by `dispose`. */
async function tempStore(options: SqliteStoreOptions = {}) {
  const dir = await Deno.makeTempDir({ prefix: "openchat-store-" });
  const path = join(dir, STORE_FILE);
  const opened: ChatStore[] = [];
  const open = async () => {
    const store = await SqliteStore.open(path, options);
    opened.push(store);
    return store;
  };
  return {
    path,
    store: await open(),
    openPeer: open,
    atomicBatches: true,
    async dispose() {
      for (const store of opened) await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

storeSuite("sqlite", tempStore);

const CHILD = new URL("./_sqlite_child.ts", import.meta.url).pathname;

/** Starts `_sqlite_child.ts` on `path`. */
function child(path: string, ...args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", CHILD, path, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Reads one line of `process`'s stdout. */
async function readLine(reader: ReadableStreamDefaultReader<string>): Promise<string> {
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  return text.trim();
}

/** Runs children that each print `ready`, starts them together, and returns their JSON output. */
async function race(path: string, runs: string[][]): Promise<unknown[]> {
  const processes = runs.map((args) => child(path, ...args));
  const errors = processes.map((p) => new Response(p.stderr).text());
  const readers = processes.map((p) => p.stdout.pipeThrough(new TextDecoderStream()).getReader());
  for (const reader of readers) assertEquals(await readLine(reader), "ready");
  const go = new TextEncoder().encode("go\n");
  for (const p of processes) {
    const writer = p.stdin.getWriter();
    await writer.write(go);
    await writer.close();
  }
  const results = [];
  for (const [i, p] of processes.entries()) {
    const line = await readLine(readers[i]!);
    while (!(await readers[i]!.read()).done) { /* drain */ }
    const status = await p.status;
    assert(status.success, `child ${i} failed: ${await errors[i]}`);
    results.push(JSON.parse(line));
  }
  return results;
}

Deno.test("SqliteStore.open() uses its own file, apart from the CA's", () => {
  assertNotEquals(STORE_FILE, DATABASE_FILE);
  assertEquals(STORE_FILE, "openchat-store.db");
});

Deno.test("SqliteStore.open() defaults to DEFAULT_RETENTION_MS and DEFAULT_MAX_ROOM_MESSAGES", async () => {
  const fixture = await tempStore();
  try {
    const store = fixture.store as SqliteStore;
    assertEquals(store.options.retentionMs, DEFAULT_RETENTION_MS);
    assertEquals(store.options.maxMessagesPerRoom, DEFAULT_MAX_ROOM_MESSAGES);
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore.open() refuses bad options", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, STORE_FILE);
    for (
      const options of [
        { retentionMs: 0 },
        { retentionMs: 1.5 },
        { maxMessagesPerRoom: -1 },
        { maxInboxItems: Number.POSITIVE_INFINITY },
        { synchronous: "off" as "full" },
      ]
    ) {
      await assertRejects(() => SqliteStore.open(path, options), InvalidInputError);
    }
    const store = await SqliteStore.open(path, { synchronous: "full", maxMessagesPerRoom: 1 });
    assertEquals(store.options.maxMessagesPerRoom, 1);
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore.open() refuses a file that is not a store, or another schema", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const junk = join(dir, "junk.db");
    await Deno.writeTextFile(junk, "not a database at all, not even close to one".repeat(40));
    await assertRejects(() => SqliteStore.open(junk), StoreUnavailableError, "not a usable");
    const future = join(dir, "future.db");
    const db = new DatabaseSync(future);
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    db.exec("INSERT INTO meta VALUES ('store_schema', '99')");
    db.close();
    await assertRejects(() => SqliteStore.open(future), StoreUnavailableError, "schema 99");
    // The CA's database, given by mistake, is refused and left as it was.
    const ca = CaStore.open(join(dir, DATABASE_FILE), { create: true });
    ca.close();
    const tables = () => {
      const check = new DatabaseSync(join(dir, DATABASE_FILE));
      const names = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
      check.close();
      return names.map((t) => t.name).sort();
    };
    const before = tables();
    await assertRejects(
      () => SqliteStore.open(join(dir, DATABASE_FILE)),
      StoreUnavailableError,
      "not an openchat store",
    );
    assertEquals(tables(), before);
    assertEquals(before.includes("certificates"), true);
    await assertRejects(
      () => SqliteStore.open(join(dir, "missing", "dir", STORE_FILE)),
      StoreUnavailableError,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore keeps everything across close and reopen", async () => {
  const fixture = await tempStore({ maxInboxItems: 2 });
  try {
    let store: ChatStore = fixture.store;
    await store.rooms.create("lobby", "alice", T0);
    await store.rooms.setTopic("lobby", "hello");
    await store.rooms.setModes("lobby", "mi");
    await store.members.join("lobby", "alice", T0);
    await store.members.join("lobby", "bob", T0 + 1);
    await store.moderation.setRole("lobby", "bob", "operator");
    await store.moderation.putListEntry("lobby", "ban", "mallory", {
      by: "alice",
      reason: "spam",
      at: T0,
      until: T0 + 5000,
    });
    await store.log.openInterval("lobby", "bob/phone");
    for (const i of range(1, 3)) await store.log.append("lobby", logEntry(`m${i}`));
    await store.members.leave("lobby", "bob");
    for (const i of range(1, 3)) await store.inbox.append("bob/phone", inboxItem(`i${i}`));
    await store.inbox.ack("bob/phone", 1);
    await store.prekeys.setSigned("bob/phone", { id: "s", payload: "c2ln", createdAt: T0 });
    await store.prekeys.addOneTime("bob/phone", [{ id: "a", payload: "YQ" }, {
      id: "b",
      payload: "Yg",
    }]);
    await store.prekeys.take("bob/phone");
    await store.close();

    store = await fixture.openPeer();
    assertEquals(await store.rooms.get("lobby"), {
      name: "lobby",
      createdAt: T0,
      createdBy: "alice",
      topic: "hello",
      modes: "im",
    });
    assertEquals(await store.members.membersOf("lobby"), [
      { user: "alice", joinedAt: T0, role: "owner" },
    ]);
    assertEquals(await store.moderation.roleOf("lobby", "bob"), "operator");
    assertEquals(
      (await store.moderation.getListEntry("lobby", "ban", "mallory", T0))?.reason,
      "spam",
    );
    assertEquals(await store.log.intervals("lobby", "bob/phone"), [{ fromSeq: 1, toSeq: 4 }]);
    const log = await store.log.readForDevice("lobby", "bob/phone", 0, 10);
    assertEquals(log.entries.map((e) => e.payload), ["m1", "m2", "m3"]);
    const inbox = await store.inbox.read("bob/phone", 0, 10);
    assertEquals([inbox.items.map((i) => i.payload), inbox.dropped], [["i2", "i3"], 0]);
    assertEquals(await store.inbox.append("bob/phone", inboxItem("i4")), 4);
    assertEquals((await store.inbox.read("bob/phone", 1, 10)).dropped, 1);
    assertEquals((await store.prekeys.take("bob/phone"))?.oneTime?.id, "b");
    assertEquals(await store.log.append("lobby", logEntry()), 4);
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore keeps an append when the process is killed right after it returns", async () => {
  const fixture = await tempStore();
  try {
    await fixture.store.rooms.create("lobby", "alice", T0);
    await fixture.store.members.join("lobby", "alice", T0);
    await fixture.store.log.openInterval("lobby", "alice/laptop");
    const { code, signal, stdout } = await child(fixture.path, "append-and-die", "lobby", "bGFzdA")
      .output();
    assertEquals(signal, "SIGKILL", `child exited with ${code} instead`);
    assertEquals(new TextDecoder().decode(stdout).trim(), "1");
    await fixture.store.close();
    const reopened = await fixture.openPeer();
    const page = await reopened.log.readForDevice("lobby", "alice/laptop", 0, 10);
    assertEquals(page.entries.map((e) => [e.seq, e.payload]), [[1, "bGFzdA"]]);
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore sees another process's writes, and version() says so", async () => {
  const fixture = await tempStore();
  try {
    const before = await fixture.store.version();
    const { success } = await child(fixture.path, "create-room", "elsewhere").output();
    assert(success);
    assertNotEquals(await fixture.store.version(), before);
    assertEquals((await fixture.store.rooms.get("elsewhere"))?.createdBy, "carol");
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore appends from two processes at once get 1..n without gap or repeat", async () => {
  const fixture = await tempStore();
  try {
    await fixture.store.rooms.create("lobby", "alice", T0);
    const [a, b] = await race(fixture.path, [
      ["race-append", "lobby", "100"],
      ["race-append", "lobby", "100"],
    ]) as number[][];
    assertEquals([...a!, ...b!].sort((x, y) => x - y), range(1, 200));
    assertEquals(await fixture.store.log.lastSeq("lobby"), 200);
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore hands each one-time pre-key to one of two processes only", async () => {
  const fixture = await tempStore();
  try {
    await fixture.store.prekeys.setSigned("bob/phone", { id: "s", payload: "c2ln", createdAt: T0 });
    const keys = range(1, 100).map((i) => ({ id: `k${i}`, payload: `a2V5${i}` }));
    await fixture.store.prekeys.addOneTime("bob/phone", keys);
    const [a, b] = await race(fixture.path, [
      ["race-take", "bob/phone", "70"],
      ["race-take", "bob/phone", "70"],
    ]) as (string | null)[][];
    const taken = [...a!, ...b!].filter((id) => id !== null);
    assertEquals(taken.length, 100);
    assertEquals(new Set(taken).size, 100);
    assertEquals([...a!, ...b!].filter((id) => id === null).length, 40);
  } finally {
    await fixture.dispose();
  }
});

Deno.test("SqliteStore.open() upgrades a schema 1 file in place: its data stays, sessions work", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, STORE_FILE);
    const first = await SqliteStore.open(path);
    await first.rooms.create("lobby", "alice", T0);
    await first.log.append("lobby", logEntry("b2xk"));
    await first.close();
    // Back to what schema 1 had: no session descriptions, no indexes for them.
    const db = new DatabaseSync(path);
    db.exec("DROP TABLE sessions");
    db.exec("UPDATE meta SET value = '1' WHERE key = 'store_schema'");
    db.close();
    const store = await SqliteStore.open(path);
    try {
      assertEquals(await store.log.lastSeq("lobby"), 1);
      const record = {
        session: "c2Vzc2lvbg",
        user: "alice",
        device: "laptop",
        announce: "YQ",
        agreement: null,
        link: null,
      };
      await store.sessions.put(record, T0);
      assertEquals(await store.sessions.get([record.session]), [record]);
    } finally {
      await store.close();
    }
    assertEquals(schemaOf(path), { version: "3", closedIntervalsIndex: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The schema version a store file records, and whether it has the index version 3 added. */
function schemaOf(path: string): { version: unknown; closedIntervalsIndex: boolean } {
  const db = new DatabaseSync(path);
  try {
    const row = db.prepare("SELECT value FROM meta WHERE key = 'store_schema'").get();
    const index = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'intervals_closed'",
    ).get();
    return { version: row?.value, closedIntervalsIndex: index !== undefined };
  } finally {
    db.close();
  }
}

Deno.test("SqliteStore.open() upgrades a schema 2 file in place: its data stays, retention uses the new index", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, STORE_FILE);
    const first = await SqliteStore.open(path);
    assertEquals(schemaOf(path), { version: "3", closedIntervalsIndex: true });
    await first.rooms.create("lobby", "alice", T0);
    await first.log.append("lobby", logEntry("b2xk"));
    await first.close();
    // Back to what schema 2 had: no index of closed intervals.
    const db = new DatabaseSync(path);
    db.exec("DROP INDEX intervals_closed");
    db.exec("UPDATE meta SET value = '2' WHERE key = 'store_schema'");
    db.close();
    assertEquals(schemaOf(path), { version: "2", closedIntervalsIndex: false });
    const store = await SqliteStore.open(path);
    try {
      assertEquals(await store.log.lastSeq("lobby"), 1);
    } finally {
      await store.close();
    }
    assertEquals(schemaOf(path), { version: "3", closedIntervalsIndex: true });
    // The retention query finds the index.
    const check = new DatabaseSync(path);
    const plan = check.prepare(
      "EXPLAIN QUERY PLAN DELETE FROM intervals WHERE room = ? AND to_seq IS NOT NULL AND to_seq <= ?",
    ).all("lobby", 5).map((row) => String(row.detail));
    check.close();
    assert(plan.some((detail) => detail.includes("intervals_closed")), plan.join("; "));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
