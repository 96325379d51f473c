import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { endOfTurn, TurnBatches } from "./turn_batches.ts";

/** A batcher whose batches are handed over at the end of the turn and recorded. */
function recording(maxItems: number) {
  const batches = new TurnBatches<string>(maxItems);
  const handed: [string, string[]][] = [];
  const add = (key: string, item: string) =>
    batches.add(key, item, async (take) => {
      await endOfTurn();
      handed.push([key, [...take()]]);
    });
  return { batches, handed, add };
}

Deno.test("TurnBatches gathers one turn's items per key, in order, and settles them together", async () => {
  const { batches, handed, add } = recording(100);
  const done = [add("a", "1"), add("b", "x"), add("a", "2"), add("a", "3")];
  assertEquals(batches.open, 2);
  await Promise.all(done);
  assertEquals(handed, [["a", ["1", "2", "3"]], ["b", ["x"]]]);
  assertEquals(batches.open, 0);
  // The next turn opens new batches.
  await add("a", "4");
  assertEquals(handed.at(-1), ["a", ["4"]]);
});

Deno.test("TurnBatches closes a batch at maxItems; the next item opens another", async () => {
  const { handed, add } = recording(2);
  await Promise.all(["1", "2", "3", "4", "5"].map((item) => add("a", item)));
  assertEquals(handed, [["a", ["1", "2"]], ["a", ["3", "4"]], ["a", ["5"]]]);
});

Deno.test("TurnBatches: an item added after its batch was taken goes to a new batch", async () => {
  const batches = new TurnBatches<string>(100);
  const handed: string[][] = [];
  const schedule = async (take: () => string[]) => {
    await endOfTurn();
    handed.push(take());
  };
  const first = batches.add("a", "1", schedule);
  await first;
  await batches.add("a", "2", schedule);
  assertEquals(handed, [["1"], ["2"]]);
});

Deno.test("TurnBatches: a batch that fails rejects every item's promise", async () => {
  const batches = new TurnBatches<string>(100);
  const schedule = async () => {
    await endOfTurn();
    throw new RangeError("store down");
  };
  const a = batches.add("a", "1", schedule);
  const b = batches.add("a", "2", schedule);
  await assertRejects(() => a, RangeError, "store down");
  await assertRejects(() => b, RangeError, "store down");
});
