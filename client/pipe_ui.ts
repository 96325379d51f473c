/**
 * The client when standard input or output is not a terminal: each input line is a message to
 * the current room or a /command; each event is one output line (a JSON object with `--json`).
 * End of input delivers what is queued and quits. This is how scripts, bots and tests drive it.
 *
 * @module
 */

import type { ChatClient } from "./chat_client.ts";
import { type CommandContext, commandErrorCode, commands } from "./commands/mod.ts";
import type { ClientEvent } from "./events.ts";
import { formatEvent } from "./format.ts";

/** Options of the pipe interface. */
export interface PipeOptions {
  json: boolean;
  room: string;
  input?: ReadableStream<Uint8Array>;
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStdout(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let offset = 0;
  while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
}

/** Runs the pipe interface until the client stops; returns its exit code. */
export async function runPipe(client: ChatClient, options: PipeOptions): Promise<number> {
  const write = options.write ?? writeStdout;
  const print = (event: ClientEvent) => {
    if (options.json) return write(JSON.stringify(event));
    const line = formatEvent(event);
    if (line !== undefined) write(line);
  };
  client.on(print);
  let room: string | undefined = options.room;
  let quitting = false;
  const context: CommandContext = {
    client,
    currentRoom: () => room,
    setCurrentRoom: (next) => room = next,
    notice: (message) => print({ type: "notice", message }),
    quit: () => {
      quitting = true;
      void client.quit();
    },
  };
  // Input is read alongside: the client may stop on its own (revoked, say) while input is open.
  void readLines(options.input ?? Deno.stdin.readable, async (line) => {
    if (quitting) return false;
    await handleLine(context, line, print);
    return !quitting;
  }).then(() => {
    if (!quitting) context.quit();
  });
  return await client.finished;
}

/** Calls `onLine` for each line of `input` until it returns false or the input ends. */
async function readLines(
  input: ReadableStream<Uint8Array>,
  onLine: (line: string) => Promise<boolean>,
): Promise<void> {
  let pending = "";
  try {
    for await (const chunk of input.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        if (!await onLine(line.replace(/\r$/, ""))) return;
      }
    }
  } catch {
    // An unreadable input ends like end of input.
  }
  if (pending.trim()) await onLine(pending);
}

async function handleLine(
  context: CommandContext,
  line: string,
  print: (event: ClientEvent) => void,
) {
  if (line.trim() === "") return;
  try {
    await commands.execute(context, line);
  } catch (error) {
    print({ type: "error", code: commandErrorCode(error), message: (error as Error).message });
  }
}
