import { assertEquals, assertNotEquals, assertRejects } from "../../tests/support/assert.ts";
import { MAX_SKIPPED_KEYS, ReceivingChain, ROTATE_AFTER_MESSAGES, SendingChain } from "./chains.ts";
import { E2EError } from "./errors.ts";

Deno.test("a receiving chain derives the sender's keys, in order or not, and each only once", async () => {
  const { chain: sender, initialKey } = SendingChain.create(1);
  const receiver = new ReceivingChain(1, initialKey);
  const sent = [];
  for (let i = 0; i < 5; i++) sent.push(await sender.nextKey());
  assertEquals(await receiver.keyFor(2), sent[2]!.messageKey); // skips 0 and 1, keeping their keys
  assertEquals(receiver.skipped, 2);
  assertEquals(await receiver.keyFor(0), sent[0]!.messageKey);
  assertEquals(await receiver.keyFor(1), sent[1]!.messageKey);
  assertEquals(receiver.skipped, 0);
  for (const n of [0, 1, 2]) {
    const error = await assertRejects(() => receiver.keyFor(n), E2EError, "already received");
    assertEquals(error.code, "replay");
  }
  assertEquals(await receiver.keyFor(3), sent[3]!.messageKey);
  assertNotEquals(sent[3]!.messageKey, sent[4]!.messageKey);
});

Deno.test("a receiving chain refuses a step more than MAX_SKIPPED_KEYS ahead, and accepts exactly that far", async () => {
  const { initialKey } = SendingChain.create(1);
  const far = new ReceivingChain(1, initialKey.slice());
  const error = await assertRejects(() => far.keyFor(MAX_SKIPPED_KEYS + 1), E2EError, "more than");
  assertEquals(error.code, "no_key");
  const edge = new ReceivingChain(1, initialKey.slice());
  await edge.keyFor(MAX_SKIPPED_KEYS);
  assertEquals(edge.skipped, MAX_SKIPPED_KEYS);
});

Deno.test("a sending chain is due for rotation after ROTATE_AFTER_MESSAGES messages", async () => {
  const { chain } = SendingChain.create(7);
  for (let i = 0; i < ROTATE_AFTER_MESSAGES - 1; i++) await chain.nextKey();
  assertEquals(chain.due, false);
  await chain.nextKey();
  assertEquals(chain.due, true);
  assertEquals(chain.sent, ROTATE_AFTER_MESSAGES);
});

Deno.test("a receiving chain that has opened messages 0 and 1 can no longer produce their keys (forward secrecy)", async () => {
  const { chain: sender, initialKey } = SendingChain.create(1);
  const early = [await sender.nextKey(), await sender.nextKey()];
  const stolen = new ReceivingChain(1, initialKey);
  await stolen.keyFor(0);
  await stolen.keyFor(1); // a thief who copies the state now gets it past the first two messages
  for (const n of [0, 1]) await assertRejects(() => stolen.keyFor(n), E2EError, "already received");
  assertEquals(early.length, 2);
});
