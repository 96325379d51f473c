import { assertEquals, assertNotEquals, assertRejects } from "../tests/support/assert.ts";
import { derivePairwiseKey, generateAgreementKeyPair, importAgreementPublicKey } from "./ecdh.ts";
import { exportRawPublicKey } from "./keys.ts";

async function party() {
  const keys = await generateAgreementKeyPair();
  return { keys, raw: await exportRawPublicKey(keys.publicKey) };
}

Deno.test("derivePairwiseKey() gives both sides the same 32 bytes, and other pairs other bytes", async () => {
  const [a, b, c] = [await party(), await party(), await party()];
  const ab = await derivePairwiseKey(a.keys.privateKey, a.raw, b.raw, "test");
  const ba = await derivePairwiseKey(b.keys.privateKey, b.raw, a.raw, "test");
  assertEquals(ab.length, 32);
  assertEquals(ab, ba);
  const ac = await derivePairwiseKey(a.keys.privateKey, a.raw, c.raw, "test");
  assertNotEquals(ab, ac);
});

Deno.test("derivePairwiseKey() gives unrelated keys under different labels", async () => {
  const [a, b] = [await party(), await party()];
  const wrap = await derivePairwiseKey(a.keys.privateKey, a.raw, b.raw, "openchat/v1 key-wrap");
  const dm = await derivePairwiseKey(a.keys.privateKey, a.raw, b.raw, "openchat/v1 direct");
  assertNotEquals(wrap, dm);
});

Deno.test("derivePairwiseKey() refuses low-order and malformed peer keys", async () => {
  const a = await party();
  for (const bad of [new Uint8Array(32), Uint8Array.of(1, ...new Uint8Array(31))]) {
    await assertRejects(
      () => derivePairwiseKey(a.keys.privateKey, a.raw, bad, "test"),
      TypeError,
      "X25519",
    );
  }
  await assertRejects(() => importAgreementPublicKey(new Uint8Array(31)), TypeError, "received 31");
  await assertRejects(() => importAgreementPublicKey(new Uint8Array(33)), TypeError, "received 33");
});
