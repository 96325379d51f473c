/**
 * The local history with a real server: a ChatClient with a LocalStore keeps what it shows and
 * its own delivered messages; `openchat join` keeps each identity's history in its own file of the
 * config directory, which no other identity opens, and keeps none with `--no-history`.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { JoinProcess } from "./support/join_process.ts";
import { startServer } from "./support/server_fixture.ts";
import { ChatClient } from "../client/chat_client.ts";
import { parseEndpoint } from "../client/connection.ts";
import type { ClientEvent } from "../client/events.ts";
import { loadIdentity } from "../client/identity.ts";
import {
  directConversation,
  HISTORY_FILE_PREFIX,
  historyPath,
  LocalStore,
  LocalStoreError,
  roomConversation,
  type StoredMessage,
} from "../client/local_store.ts";
import { TrustStore } from "../client/trust_store.ts";

const WAIT_MS = 10_000;

/** Resolves with the `count`-th message stored from now on. */
function stored(store: LocalStore, count: number): Promise<StoredMessage[]> {
  const seen: StoredMessage[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`only ${seen.length} of ${count} messages stored`)),
      WAIT_MS,
    );
    const stop = store.onAdded((message) => {
      seen.push(message);
      if (seen.length < count) return;
      clearTimeout(timer);
      stop();
      resolve(seen);
    });
  });
}

Deno.test("a client with a local store keeps messages, dms and its own delivered messages", async () => {
  const fx = await startServer();
  const dir = await Deno.makeTempDir({ prefix: "openchat-local-history-" });
  const peers: ChatPeer[] = [];
  let alice: ChatClient | undefined;
  let store: LocalStore | undefined;
  try {
    const bob = await ChatPeer.join(fx, "bob");
    peers.push(bob);
    const identity = await loadIdentity(await fx.identityFile(await fx.issue("alice")));
    store = await LocalStore.open(await historyPath(dir, identity), identity);
    alice = new ChatClient({
      endpoint: parseEndpoint(`127.0.0.1:${fx.port}`),
      identity,
      trustStore: await TrustStore.open(dir, identity.caFingerprint),
      rooms: ["lobby"],
      reconnect: false,
      localStore: store,
    });
    assertEquals(alice.localStore, store);
    const events: ClientEvent[] = [];
    alice.on((event) => events.push(event));
    await alice.start();
    await bob.waitFor(
      "keys with alice",
      (event) => event.type === "members" && event.members.includes("alice"),
    );

    const fromBob = stored(store, 2);
    bob.client.send("lobby", "hello from bob");
    bob.client.sendDirect("alice", "a secret for alice");
    const [first, second] = await fromBob;
    assertEquals(
      [first!.conversation, first!.event.text, second!.conversation, second!.event.text].join("|"),
      "#lobby|hello from bob|@bob|a secret for alice",
    );
    assertEquals(store.unread(roomConversation("lobby")), 1);
    assertEquals(store.unread(directConversation("bob")), 1);

    const own = stored(store, 2);
    alice.send("lobby", "alice answers");
    alice.sendDirect("bob", "alice whispers");
    const mine = await own;
    for (const message of mine) {
      assertEquals(message.event.from, "alice");
      assertEquals(message.event.device, identity.device);
      assertEquals(message.event.verified, true);
    }
    const queued = events.filter((e): e is Extract<ClientEvent, { type: "queued" }> =>
      e.type === "queued"
    );
    assertEquals(
      mine.map((m) => m.event.ts).sort(),
      queued.map((e) => e.ts!).sort(),
      "our messages keep the time they carry",
    );
    assertEquals(store.unreadCounts(), new Map(), "answering reads the conversation");
    const lobby = await store.page(roomConversation("lobby"), { limit: 10 });
    assertEquals(lobby.map((m) => `${m.event.from}: ${m.event.text}`), [
      "bob: hello from bob",
      "alice: alice answers",
    ]);
    const direct = await store.page(directConversation("bob"), { limit: 10 });
    assertEquals(direct.map((m) => `${m.event.from}: ${m.event.text}`), [
      "bob: a secret for alice",
      "alice: alice whispers",
    ]);
    assert(!events.some((e) => e.type === "error"), JSON.stringify(events));
  } finally {
    await alice?.quit(2_000);
    await store?.close();
    for (const peer of peers) await peer.close().catch(() => {});
    await fx.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The history files in `dir`. */
async function historyFiles(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(HISTORY_FILE_PREFIX) && entry.name.endsWith(".db")) {
      names.push(entry.name);
    }
  }
  return names.sort();
}

Deno.test("openchat join: each identity's history in its own file, which no other opens", async () => {
  const fx = await startServer();
  const dir = await Deno.makeTempDir({ prefix: "openchat-local-history-" });
  const address = `127.0.0.1:${fx.port}`;
  try {
    const aliceFile = await fx.identityFile(await fx.issue("alice"));
    const config = `${dir}/config`;
    const alice = JoinProcess.start(address, aliceFile, config);
    await alice.next("ready");
    assertEquals((await alice.close()).code, 0);
    const alicePath = await historyPath(config, await loadIdentity(aliceFile));
    assertEquals((await Deno.stat(alicePath)).mode! & 0o777, 0o600);

    // Another identity in the same directory (or this device enrolled again, with a new key):
    // its own history; alice's is left alone and does not open with its key.
    const before = await Deno.readFile(alicePath);
    const carolFile = await fx.identityFile(await fx.issue("carol"));
    const carol = JoinProcess.start(address, carolFile, config);
    await carol.next("ready");
    assertEquals((await carol.close()).code, 0);
    assertEquals((await historyFiles(config)).length, 2);
    assertEquals(await Deno.readFile(alicePath), before);
    const wrong = await LocalStore.open(alicePath, await loadIdentity(carolFile)).then(
      () => undefined,
      (error) => error,
    );
    assert(wrong instanceof LocalStoreError, String(wrong));
    assertEquals(wrong.code, "wrong_identity");
    assertStringIncludes(wrong.message, "holds the history of another identity");
    assertStringIncludes(wrong.message, "carol/main");

    // --no-history keeps none.
    const bare = `${dir}/bare`;
    const quiet = JoinProcess.start(address, carolFile, bare, ["--no-history"]);
    await quiet.next("ready");
    assertEquals((await quiet.close()).code, 0);
    assertEquals(await historyFiles(bare), []);
  } finally {
    await fx.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
