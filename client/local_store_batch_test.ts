import { assertEquals } from "../tests/support/assert.ts";
import { LocalStore } from "./local_store.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair } from "../crypto/keys.ts";
import { DatabaseSync } from "node:sqlite";

async function identity() {
  const keys = await generateIdentityKeyPair();
  return {
    user: "bob",
    device: "laptop",
    privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
  };
}

Deno.test("LocalStore commits a turn's writes together: once a write resolves, another connection sees it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/history.db`;
    const store = await LocalStore.open(path, await identity());
    const added = Array.from({ length: 50 }, (_, i) =>
      store.add({
        type: "message",
        room: "lobby",
        from: "alice",
        device: "phone",
        text: `m${i}`,
        ts: new Date(1_700_000_000_000 + i).toISOString(),
        verified: true,
        trust: "verified",
        seq: i + 1,
      }));
    const cursor = store.setLastSeq("lobby", 50);
    assertEquals((await Promise.all(added)).every(Boolean), true);
    await cursor;
    // Read by another connection: only committed rows are visible to it.
    const other = new DatabaseSync(path);
    try {
      const { n } = other.prepare("SELECT COUNT(*) AS n FROM messages").get() as { n: number };
      assertEquals(n, 50);
      const row = other.prepare("SELECT seq FROM cursors WHERE name = 'room:lobby'").get() as {
        seq: number;
      };
      assertEquals(row.seq, 50);
    } finally {
      other.close();
    }
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
