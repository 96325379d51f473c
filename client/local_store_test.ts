import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../tests/support/assert.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair } from "../crypto/keys.ts";
import {
  directConversation,
  historyPath,
  type HistoryRecord,
  LocalStore,
  LocalStoreError,
  MAX_MESSAGES_PER_CONVERSATION,
  MAX_SEARCH_SCAN,
  roomConversation,
  type RoomMessage,
  type StoreIdentity,
} from "./local_store.ts";

/** Where these tests keep a store (`openchat join` names it by identity). */
function storePath(dir: string): string {
  return `${dir}/history.db`;
}

async function identity(user = "alice", device = "laptop"): Promise<StoreIdentity> {
  const { privateKey } = await generateIdentityKeyPair();
  return { user, device, privateKeyPem: await exportPrivateKeyPem(privateKey) };
}

function roomMessage(text: string, overrides: Partial<RoomMessage> = {}): RoomMessage {
  return {
    type: "message",
    room: "lobby",
    from: "bob",
    device: "phone",
    text,
    ts: "2030-01-02T03:04:05.678Z",
    verified: true,
    trust: "verified",
    ...overrides,
  };
}

/** Runs `fn` with a fresh store in a temporary directory, closed and removed afterwards. */
async function withStore(
  fn: (store: LocalStore, dir: string, me: StoreIdentity) => Promise<void>,
  options: { maxPerConversation?: number } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-history-" });
  const me = await identity();
  const store = await LocalStore.open(storePath(dir), me, options);
  try {
    await fn(store, dir, me);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Every byte of the database and its WAL and shared-memory files. */
async function rawBytes(dir: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith("history.db")) {
      parts.push(await Deno.readFile(`${dir}/${entry.name}`));
    }
  }
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

function contains(haystack: Uint8Array, needle: string): boolean {
  const bytes = new TextEncoder().encode(needle);
  outer: for (let i = 0; i + bytes.length <= haystack.length; i++) {
    for (let j = 0; j < bytes.length; j++) if (haystack[i + j] !== bytes[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("local store: messages round-trip with every field, oldest first", async () => {
  await withStore(async (store) => {
    const first = roomMessage("first", { seq: 7, history: true, action: true });
    const second = roomMessage("second", { from: "carol", device: "desk", trust: "first_seen" });
    const dm: HistoryRecord = {
      type: "dm",
      from: "bob",
      device: "phone",
      to: "alice",
      text: "psst",
      ts: "2030-01-02T03:04:06.000Z",
      verified: false,
      trust: "not_accepted",
      late: true,
    };
    assertEquals(await store.add(first), true);
    assertEquals(await store.add(second), true);
    assertEquals(await store.add(dm), true);
    const lobby = await store.page(roomConversation("lobby"), { limit: 10 });
    assertEquals(lobby.map((m) => m.event), [first, second]);
    assert(lobby[0]!.id < lobby[1]!.id);
    assertEquals(lobby[0]!.conversation, "#lobby");
    const direct = await store.page(directConversation("bob"), { limit: 10 });
    assertEquals(direct.map((m) => m.event), [dm]);
    assertEquals(await store.get(lobby[1]!.id), lobby[1]);
    assertEquals(store.conversations().sort(), ["#lobby", "@bob"]);
  });
});

Deno.test("local store: reopened with the same identity, everything is still there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openchat-history-" });
  try {
    const me = await identity();
    const path = storePath(dir);
    let store = await LocalStore.open(path, me);
    await store.add(roomMessage("kept"));
    await store.setLastSeq("lobby", 41);
    await store.setInboxCursor(9);
    await store.putSecret("prekey/o/1", new Uint8Array([1, 2, 3]));
    await store.close();
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
    store = await LocalStore.open(path, me);
    try {
      const [message] = await store.page(roomConversation("lobby"), { limit: 5 });
      assertEquals(message?.event.text, "kept");
      assertEquals(store.lastSeq("lobby"), 41);
      assertEquals(store.lastSeq("dev"), 0);
      assertEquals(store.inboxCursor(), 9);
      assertEquals(await store.getSecret("prekey/o/1"), new Uint8Array([1, 2, 3]));
      assertEquals(store.unread(roomConversation("lobby")), 1);
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local store: the files hold no plaintext of any message, name or secret", async () => {
  await withStore(async (store, dir) => {
    const markers = {
      text: "MARKER-TEXT-6f1c2a",
      sender: "quentinsender",
      device: "devicemarker",
      peer: "dmpeermarker",
      secret: "SECRET-MARKER-99",
    };
    for (let i = 0; i < 50; i++) {
      await store.add(
        roomMessage(`${markers.text} number ${i}`, {
          from: markers.sender,
          device: markers.device,
          seq: i + 1,
        }),
      );
    }
    await store.add({
      type: "dm",
      from: markers.peer,
      device: markers.device,
      to: "alice",
      text: `${markers.text} direct`,
      ts: new Date().toISOString(),
      verified: true,
      trust: "verified",
    });
    await store.putSecret("prekey/s/1", new TextEncoder().encode(markers.secret));
    store.markRead(directConversation(markers.peer));
    await store.flush();
    const raw = await rawBytes(dir);
    assert(raw.length > 4096, "the database has content");
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert(names.includes("history.db-wal"), `the WAL is there and was read: ${names}`);
    for (const [what, marker] of Object.entries(markers)) {
      assert(!contains(raw, marker), `the ${what} marker is in the database files`);
    }
    // What is meant to be in clear is (the test would not notice a missing file otherwise).
    assert(contains(raw, "#lobby"), "room names are in clear");
    for (const entry of names.filter((name) => name.startsWith("history.db"))) {
      assertEquals((await Deno.stat(`${dir}/${entry}`)).mode! & 0o777, 0o600, entry);
    }
    // Closing checkpoints the WAL into the main file: still nothing in clear.
    await store.close();
    const checkpointed = await rawBytes(dir);
    assert(contains(checkpointed, "#lobby"));
    for (const [what, marker] of Object.entries(markers)) {
      assert(!contains(checkpointed, marker), `the ${what} marker is in the checkpointed file`);
    }
  });
});

Deno.test("local store: another identity cannot open it, and it is left untouched", async () => {
  await withStore(async (store, dir) => {
    await store.add(roomMessage("mine"));
    await store.close();
    const before = await Deno.readFile(storePath(dir));
    const other = await identity("mallory", "desk");
    const wrong = await assertRejects(
      () => LocalStore.open(storePath(dir), other),
      LocalStoreError,
    );
    assertEquals(wrong.code, "wrong_identity");
    assertStringIncludes(wrong.message, "another identity");
    assertStringIncludes(wrong.message, "mallory/desk");
    assertEquals(await Deno.readFile(storePath(dir)), before);
  });
});

Deno.test("local store: a SQLite file that is not a history is refused untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openchat-history-" });
  try {
    const path = storePath(dir);
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path);
    db.exec("CREATE TABLE other (x)");
    db.close();
    const before = await Deno.readFile(path);
    const error = await assertRejects(
      () => identity().then((me) => LocalStore.open(path, me)),
      LocalStoreError,
    );
    assertEquals(error.code, "not_history");
    assertEquals(await Deno.readFile(path), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local store: a value moved to another row does not open", async () => {
  await withStore(async (store, dir, me) => {
    await store.add(roomMessage("one"));
    await store.add(roomMessage("two"));
    await store.close();
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(storePath(dir));
    db.exec(
      "UPDATE messages SET body = (SELECT body FROM messages ORDER BY id LIMIT 1) WHERE id = (SELECT MAX(id) FROM messages)",
    );
    db.close();
    const reopened = await LocalStore.open(storePath(dir), me);
    try {
      const error = await assertRejects(
        () => reopened.page(roomConversation("lobby"), { limit: 5 }),
        LocalStoreError,
      );
      assertEquals(error.code, "damaged");
    } finally {
      await reopened.close();
    }
  });
});

Deno.test("local store: the same message stored twice is stored once", async () => {
  await withStore(async (store) => {
    const live = roomMessage("hello");
    assertEquals(await store.add(live), true);
    assertEquals(await store.add({ ...live }), false, "the same content again");
    assertEquals(await store.add({ ...live, seq: 12, history: true }), false, "then with its seq");
    const [stored] = await store.page(roomConversation("lobby"), { limit: 5 });
    assertEquals(stored?.event.type === "message" && stored.event.seq, 12, "the seq filled in");
    assertEquals(await store.add({ ...live, seq: 12 }), false);
    assertEquals(await store.add({ ...live, seq: 13 }), true, "same words, another message");
    assertEquals(await store.add({ ...live, seq: 13 }), false);
    assertEquals(await store.add({ ...live, text: "hello!" }), true);
    assertEquals(await store.add({ ...live, ts: "2030-01-02T03:04:05.679Z" }), true);
    assertEquals(await store.add({ ...live, device: "desk" }), true);
    assertEquals(await store.add({ ...live, room: "dev" }), true);
    assertEquals(await store.add({ ...live, key: "s1|lobby|0|1" }), true, "a caller's key");
    assertEquals(await store.add({ ...live, key: "s1|lobby|0|1", seq: 99 }), false);
    assertEquals((await store.page(roomConversation("lobby"), { limit: 50 })).length, 6);
  });
});

Deno.test("local store: search matches text case-insensitively, newest first, bounded", async () => {
  await withStore(async (store) => {
    for (let i = 0; i < 30; i++) {
      await store.add(roomMessage(`note ${i}${i % 10 === 0 ? " about the Deploy" : ""}`));
    }
    await store.add({
      type: "dm",
      from: "bob",
      device: "phone",
      to: "alice",
      text: "deploy tonight?",
      ts: new Date().toISOString(),
      verified: true,
      trust: "verified",
    });
    const all = await store.search("DEPLOY", { limit: 10 });
    assertEquals(all.matches.map((m) => m.event.text), [
      "deploy tonight?",
      "note 20 about the Deploy",
      "note 10 about the Deploy",
      "note 0 about the Deploy",
    ]);
    assertEquals(all.complete, true);
    assertEquals(all.scanned, 31);
    const limited = await store.search("deploy", { limit: 2 });
    assertEquals(limited.matches.length, 2);
    const inLobby = await store.search("deploy", { limit: 10, conversation: "#lobby" });
    assertEquals(inLobby.matches.length, 3);
    const bounded = await store.search("note 0", { limit: 10, maxScan: 20 });
    assertEquals(bounded.matches, [], "note 0 is older than the 20 newest");
    assertEquals(bounded.scanned, 20);
    assertEquals(bounded.complete, false);
    assertEquals((await store.search("nothing like it", { limit: 5 })).matches, []);
    assert(MAX_SEARCH_SCAN >= 1000);
  });
});

Deno.test("local store: pages go back and forth by id", async () => {
  await withStore(async (store) => {
    for (let i = 1; i <= 25; i++) await store.add(roomMessage(`m${i}`));
    const conversation = roomConversation("lobby");
    const newest = await store.page(conversation, { limit: 10 });
    assertEquals(
      newest.map((m) => m.event.text),
      Array.from({ length: 10 }, (_, i) => `m${16 + i}`),
    );
    const older = await store.page(conversation, { before: newest[0]!.id, limit: 10 });
    assertEquals(older.map((m) => m.event.text)[0], "m6");
    assertEquals(older.at(-1)?.event.text, "m15");
    const oldest = await store.page(conversation, { before: older[0]!.id, limit: 10 });
    assertEquals(oldest.map((m) => m.event.text), ["m1", "m2", "m3", "m4", "m5"]);
    assertEquals(await store.page(conversation, { before: oldest[0]!.id, limit: 10 }), []);
    const after = await store.page(conversation, { after: oldest.at(-1)!.id, limit: 3 });
    assertEquals(after.map((m) => m.event.text), ["m6", "m7", "m8"]);
    assertEquals(await store.page(roomConversation("nowhere"), { limit: 10 }), []);
  });
});

Deno.test("local store: unread counts per conversation; our own message reads the conversation", async () => {
  await withStore(async (store) => {
    const lobby = roomConversation("lobby");
    const dev = roomConversation("dev");
    const bob = directConversation("bob");
    assertEquals(store.unreadCounts(), new Map());
    assertEquals(store.unread(lobby), 0);
    await store.add(roomMessage("a"));
    await store.add(roomMessage("b"));
    await store.add(roomMessage("c", { room: "dev" }));
    await store.add({
      type: "dm",
      from: "bob",
      device: "phone",
      to: "alice",
      text: "hi",
      ts: new Date().toISOString(),
      verified: true,
      trust: "verified",
    });
    assertEquals(store.unread(lobby), 2);
    assertEquals(store.unreadCounts(), new Map([[lobby, 2], [dev, 1], [bob, 1]]));
    const [first] = await store.page(lobby, { limit: 1, after: 0 });
    store.markRead(lobby, first!.id);
    assertEquals(store.unread(lobby), 1);
    store.markRead(lobby);
    assertEquals(store.unread(lobby), 0);
    store.markRead(lobby, 1); // never goes back
    assertEquals(store.unread(lobby), 0);
    // Our answer (from any of our devices) means we read what came before it.
    await store.add({
      type: "dm",
      from: "alice",
      device: "laptop",
      to: "bob",
      text: "hello back",
      ts: new Date().toISOString(),
      verified: true,
      trust: "verified",
    });
    assertEquals(store.unread(bob), 0);
    await store.add(roomMessage("d", { room: "dev" }));
    assertEquals(store.unreadCounts(), new Map([[dev, 2]]));
    store.markRead(directConversation("nobody"));
  });
});

Deno.test("local store: each conversation keeps at most its bound, dropping the oldest", async () => {
  const max = 5;
  await withStore(async (store) => {
    const lobby = roomConversation("lobby");
    for (let i = 1; i <= max; i++) await store.add(roomMessage(`m${i}`, { seq: i }));
    await store.add(roomMessage("other room", { room: "dev" }));
    let texts = (await store.page(lobby, { limit: 100 })).map((m) => m.event.text);
    assertEquals(texts, ["m1", "m2", "m3", "m4", "m5"], "at the bound: all kept");
    assertEquals(await store.add(roomMessage("m6", { seq: 6 })), true);
    texts = (await store.page(lobby, { limit: 100 })).map((m) => m.event.text);
    assertEquals(texts, ["m2", "m3", "m4", "m5", "m6"], "one past: the oldest dropped");
    for (let i = 7; i <= 12; i++) await store.add(roomMessage(`m${i}`, { seq: i }));
    texts = (await store.page(lobby, { limit: 100 })).map((m) => m.event.text);
    assertEquals(texts, ["m8", "m9", "m10", "m11", "m12"]);
    assertEquals(
      (await store.page(roomConversation("dev"), { limit: 100 })).length,
      1,
      "other conversations keep theirs",
    );
    // A dropped message fetched again is not stored as if it were the newest.
    assertEquals(await store.add(roomMessage("m3", { seq: 3, history: true })), false);
    assertEquals(store.unread(lobby), max);
  }, { maxPerConversation: max });
  assertEquals(MAX_MESSAGES_PER_CONVERSATION, 10_000);
});

Deno.test("local store: cursors are written after the messages added before them", async () => {
  await withStore(async (store, dir, me) => {
    const adding = store.add(roomMessage("before the cursor", { seq: 5 }));
    const cursor = store.setLastSeq("lobby", 5);
    assertEquals(store.lastSeq("lobby"), 5, "readable at once");
    await cursor;
    assertEquals(await adding, true);
    await store.setInboxCursor(3);
    await assertRejects(() => store.setLastSeq("lobby", -1), RangeError);
    await store.close();
    const again = await LocalStore.open(storePath(dir), me);
    try {
      assertEquals(again.lastSeq("lobby"), 5);
      assertEquals(again.inboxCursor(), 3);
    } finally {
      await again.close();
    }
  });
});

Deno.test("local store: secrets are put, listed by prefix, read and deleted", async () => {
  await withStore(async (store) => {
    await store.putSecret("prekey/o/2", new Uint8Array([2]));
    await store.putSecret("prekey/o/1", new Uint8Array([1]));
    await store.putSecret("prekey/s/1", new Uint8Array(32).fill(7));
    await store.putSecret("prekey/o/1", new Uint8Array([11])); // replaces
    assertEquals(store.secretNames("prekey/o/"), ["prekey/o/1", "prekey/o/2"]);
    assertEquals(store.secretNames(), ["prekey/o/1", "prekey/o/2", "prekey/s/1"]);
    assertEquals(await store.getSecret("prekey/o/1"), new Uint8Array([11]));
    assertEquals(await store.getSecret("prekey/s/1"), new Uint8Array(32).fill(7));
    assertEquals(await store.getSecret("missing"), undefined);
    assertEquals(await store.deleteSecret("prekey/o/1"), true);
    assertEquals(await store.deleteSecret("prekey/o/1"), false);
    assertEquals(await store.getSecret("prekey/o/1"), undefined);
    assertEquals(store.secretNames("prekey/"), ["prekey/o/2", "prekey/s/1"]);
    await assertRejects(() => store.putSecret("", new Uint8Array()), RangeError);
  });
});

Deno.test("local store: listeners hear each new message once; closed stores refuse", async () => {
  await withStore(async (store) => {
    const heard: string[] = [];
    const stop = store.onAdded((message) => heard.push(message.event.text));
    await store.add(roomMessage("x"));
    await store.add(roomMessage("x"));
    stop();
    await store.add(roomMessage("y"));
    assertEquals(heard, ["x"]);
    await store.close();
    const error = await assertRejects(() => store.add(roomMessage("z")), LocalStoreError);
    assertEquals(error.code, "closed");
  });
});

Deno.test("local store: each identity's file is named from its private key, saying nothing else", async () => {
  const alice = await identity("alice", "laptop");
  const again = await historyPath("/config", alice);
  assertEquals(await historyPath("/config", alice), again, "stable");
  assert(/^\/config\/history-[0-9a-f]{16}\.db$/.test(again), again);
  const other = await historyPath("/config", await identity("alice", "laptop"));
  assert(other !== again, "another key, another file");
  const der = alice.privateKeyPem.replace(/-----[A-Z ]+-----|\s/g, "");
  assert(!again.includes(der.slice(0, 8)));
});
