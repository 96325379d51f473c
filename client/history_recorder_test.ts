import { assertEquals, assertStringIncludes } from "../tests/support/assert.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair } from "../crypto/keys.ts";
import type { ClientEvent } from "./events.ts";
import { HistoryRecorder } from "./history_recorder.ts";
import { directConversation, LocalStore, roomConversation } from "./local_store.ts";

async function withRecorder(
  fn: (recorder: HistoryRecorder, store: LocalStore, errors: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-recorder-" });
  const { privateKey } = await generateIdentityKeyPair();
  const store = await LocalStore.open(`${dir}/history.db`, {
    user: "alice",
    device: "laptop",
    privateKeyPem: await exportPrivateKeyPem(privateKey),
  });
  const errors: string[] = [];
  try {
    await fn(
      new HistoryRecorder(store, { user: "alice", device: "laptop" }, (m) => errors.push(m)),
      store,
      errors,
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const TS = "2030-01-02T03:04:05.000Z";

Deno.test("the recorder keeps messages and dms as shown, with seq and history", async () => {
  await withRecorder(async (recorder, store) => {
    const live: ClientEvent = {
      type: "message",
      room: "lobby",
      from: "bob",
      device: "main",
      text: "live",
      ts: TS,
      verified: true,
      trust: "first_seen",
      seq: 4,
    };
    const caughtUp: ClientEvent = { ...live, text: "caught up", seq: 3, history: true };
    const dm: ClientEvent = {
      type: "dm",
      from: "bob",
      device: "main",
      to: "alice",
      text: "psst",
      ts: TS,
      verified: true,
      trust: "first_seen",
      history: true,
      seq: 17,
    };
    for (const event of [live, caughtUp, dm, { type: "notice", message: "x" } as const]) {
      recorder.observe(event);
    }
    await store.flush();
    const lobby = await store.page(roomConversation("lobby"), { limit: 10 });
    assertEquals(lobby.map((m) => m.event), [live, caughtUp]);
    const direct = await store.page(directConversation("bob"), { limit: 10 });
    assertEquals(direct.map((m) => m.event), [dm]);
  });
});

Deno.test("the recorder keeps our own messages once delivered, never undelivered ones", async () => {
  await withRecorder(async (recorder, store) => {
    recorder.observe({ type: "queued", id: "m1", room: "lobby", text: "mine", ts: TS });
    recorder.observe({ type: "queued", id: "m2", to: "bob", text: "waves", action: true, ts: TS });
    recorder.observe({ type: "queued", id: "m3", room: "lobby", text: "lost", ts: TS });
    await store.flush();
    assertEquals(store.conversations(), [], "nothing before the server confirmed it");
    recorder.observe({ type: "delivered", id: "m1", recipients: 2 });
    recorder.observe({ type: "delivered", id: "m2", recipients: 1 });
    recorder.observe({ type: "undelivered", id: "m3", reason: "no keys" });
    recorder.observe({ type: "delivered", id: "m3", recipients: 1 });
    recorder.observe({ type: "delivered", id: "m1", recipients: 2 });
    await store.flush();
    const lobby = await store.page(roomConversation("lobby"), { limit: 10 });
    assertEquals(lobby.map((m) => m.event), [{
      type: "message",
      room: "lobby",
      from: "alice",
      device: "laptop",
      text: "mine",
      ts: TS,
      verified: true,
      trust: "verified",
    }]);
    const direct = await store.page(directConversation("bob"), { limit: 10 });
    assertEquals(direct.map((m) => m.event), [{
      type: "dm",
      to: "bob",
      from: "alice",
      device: "laptop",
      text: "waves",
      ts: TS,
      verified: true,
      trust: "verified",
      action: true,
    }]);
    assertEquals(store.unreadCounts(), new Map(), "our own messages are read");
  });
});

Deno.test("the recorder reports the first failure to store, once", async () => {
  await withRecorder(async (recorder, store, errors) => {
    await store.close();
    const event: ClientEvent = {
      type: "message",
      room: "lobby",
      from: "bob",
      device: "main",
      text: "x",
      ts: TS,
      verified: true,
      trust: "verified",
    };
    recorder.observe(event);
    recorder.observe({ ...event, text: "y" });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assertEquals(errors.length, 1);
    assertStringIncludes(errors[0]!, "Cannot keep the local history");
  });
});
