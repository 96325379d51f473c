import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { E2EError } from "./errors.ts";
import { KEPT_EPOCHS, ReceivedChains } from "./received_chains.ts";

const key = () => new Uint8Array(32).fill(7);
const S = "S".repeat(22);

Deno.test("a sender's epochs only go up, even after it left (its chains dropped) and came back", () => {
  const chains = new ReceivedChains();
  chains.add(S, 1, key(), "carol");
  chains.add(S, 2, key(), "carol");
  chains.drop(S); // carol left the room
  assertEquals(chains.get(S, 2), undefined);
  for (const epoch of [1, 2]) {
    const error = assertThrows(() => chains.add(S, epoch, key(), "carol"), E2EError);
    assertEquals(error.code, "replay");
  }
  chains.add(S, 3, key(), "carol"); // rejoined: she carries on from where she was
  assertEquals(chains.highest(S), 3);
});

Deno.test("KEPT_EPOCHS chains are kept per sender, the previous one is returned for its gap report", () => {
  const chains = new ReceivedChains();
  assertEquals(chains.add(S, 1, key(), "x"), undefined);
  assertEquals(chains.add(S, 2, key(), "x")?.epoch, 1);
  for (let epoch = 3; epoch <= KEPT_EPOCHS + 1; epoch++) chains.add(S, epoch, key(), "x");
  assertEquals(chains.get(S, 1), undefined); // the oldest went first
  assertEquals(chains.get(S, 2) !== undefined, true);
  assertEquals(chains.get(S, KEPT_EPOCHS + 1) !== undefined, true);
  assertEquals(chains.add(S, KEPT_EPOCHS + 3, key(), "x"), undefined); // one never came
});
