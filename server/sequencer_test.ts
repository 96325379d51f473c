import { assertEquals } from "../tests/support/assert.ts";
import { Sequencer } from "./sequencer.ts";

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("Sequencer: tasks of one key run one at a time in order; other keys do not wait", async () => {
  const sequencer = new Sequencer();
  const log: string[] = [];
  const task = (name: string, ms: number) => async () => {
    log.push(`${name}+`);
    await later(ms);
    log.push(`${name}-`);
    return name;
  };
  const a1 = sequencer.run("a", task("a1", 30));
  const a2 = sequencer.run("a", task("a2", 1));
  const b1 = sequencer.run("b", task("b1", 1));
  assertEquals(await Promise.all([a1, a2, b1]), ["a1", "a2", "b1"]);
  assertEquals(log.indexOf("a2+") > log.indexOf("a1-"), true);
  assertEquals(log.indexOf("b1-") < log.indexOf("a1-"), true);
  await later(0);
  assertEquals(sequencer.pending, 0);
});

Deno.test("Sequencer: a failing task rejects its caller only; the next one still runs", async () => {
  const sequencer = new Sequencer();
  const failed = sequencer.run("a", () => {
    throw new Error("boom");
  });
  const next = sequencer.run("a", () => 42);
  let caught = "";
  await failed.catch((error) => caught = error.message);
  assertEquals([caught, await next], ["boom", 42]);
});

Deno.test("Sequencer: a task queued on an idle key starts in the caller's task", () => {
  const sequencer = new Sequencer();
  let ran = false;
  void sequencer.run("a", () => ran = true);
  assertEquals(ran, true);
});
