/**
 * A second process on a store file, for `sqlite_store_test.ts`: it appends and kills itself, or
 * races the parent's other child at appends or pre-key takes. Not part of the server.
 *
 * Usage: `deno run --allow-read --allow-write _sqlite_child.ts PATH COMMAND ARG...`
 * - `append-and-die ROOM PAYLOAD`: appends, prints the number, and SIGKILLs itself at once.
 * - `race-append ROOM N` / `race-take DEVICE N`: prints `ready`, waits for a line on stdin, then
 *   appends (takes) N times, yielding between calls, and prints the results as JSON.
 * - `create-room ROOM`: creates the room and prints `done`.
 *
 * @module
 */

import { SqliteStore } from "./sqlite_store.ts";
import { logEntry, T0 } from "./store_suite_support.ts";

const say = (line: string): void => {
  const bytes = new TextEncoder().encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
};

const waitForGo = async (): Promise<void> => {
  say("ready");
  const reader = Deno.stdin.readable.getReader();
  await reader.read();
  reader.releaseLock();
};

const yieldTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

const [path, command, arg, count] = Deno.args;
if (!path || !command || !arg) throw new Error("usage: PATH COMMAND ARG [N]");
const store = await SqliteStore.open(path);

switch (command) {
  case "append-and-die": {
    const seq = await store.log.append(arg, logEntry(count ?? "ZHVyYWJsZQ"));
    say(String(seq));
    // No close, no exit handlers: the process dies the instant the append has returned.
    Deno.kill(Deno.pid, "SIGKILL");
    break;
  }
  case "race-append": {
    await waitForGo();
    const seqs: number[] = [];
    for (let i = 0; i < Number(count); i++) {
      seqs.push(await store.log.append(arg, logEntry(`p${Deno.pid}-${i}`)));
      await yieldTurn();
    }
    say(JSON.stringify(seqs));
    break;
  }
  case "race-take": {
    await waitForGo();
    const ids: (string | null)[] = [];
    for (let i = 0; i < Number(count); i++) {
      ids.push((await store.prekeys.take(arg))?.oneTime?.id ?? null);
      await yieldTurn();
    }
    say(JSON.stringify(ids));
    break;
  }
  case "create-room":
    await store.rooms.create(arg, "carol", T0);
    say("done");
    break;
  default:
    throw new Error(`unknown command ${command}`);
}
await store.close();
