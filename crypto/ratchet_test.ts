import { createHmac } from "node:crypto";
import { assertEquals, assertNotEquals, assertRejects } from "../tests/support/assert.ts";
import { stepChain } from "./ratchet.ts";

const reference = (key: Uint8Array, byte: number) =>
  new Uint8Array(createHmac("sha256", key).update(Uint8Array.of(byte)).digest());

Deno.test("stepChain() is HMAC-SHA256 with 0x01 for the message key and 0x02 for the next chain key", async () => {
  let chain = crypto.getRandomValues(new Uint8Array(32));
  const seen = new Set<string>();
  for (let n = 0; n < 5; n++) {
    const step = await stepChain(chain);
    assertEquals(step.messageKey, reference(chain, 1));
    assertEquals(step.nextChainKey, reference(chain, 2));
    assertNotEquals(step.messageKey, step.nextChainKey);
    for (const key of [step.messageKey, step.nextChainKey]) seen.add(key.toHex());
    chain = step.nextChainKey;
  }
  assertEquals(seen.size, 10);
});

Deno.test("stepChain() refuses a chain key of the wrong length", async () => {
  await assertRejects(() => stepChain(new Uint8Array(31)), RangeError, "received 31");
});
