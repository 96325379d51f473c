import { assertEquals } from "../tests/support/assert.ts";
import type { ChatClient } from "./chat_client.ts";
import type { ClientEvent } from "./events.ts";
import { runPipe } from "./pipe_ui.ts";

/** Just enough of a client for the pipe interface: it replays `events` to the listener. */
function fakeClient(events: ClientEvent[]): ChatClient {
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => finish = resolve);
  return {
    finished,
    on(listener: (event: ClientEvent) => void) {
      for (const event of events) listener(event);
      return () => {};
    },
    quit() {
      finish(0);
      return Promise.resolve();
    },
  } as unknown as ChatClient;
}

Deno.test("--json: message and dm events carry seq and history exactly as given", async () => {
  const ts = new Date(2001, 0, 2, 3, 4, 5).toISOString();
  const events: ClientEvent[] = [
    {
      type: "message",
      room: "lobby",
      from: "bob",
      device: "main",
      text: "caught up",
      ts,
      verified: true,
      trust: "verified",
      seq: 41,
      history: true,
    },
    {
      type: "message",
      room: "lobby",
      from: "bob",
      device: "main",
      text: "live",
      ts,
      verified: true,
      trust: "verified",
      seq: 42,
    },
    {
      type: "dm",
      from: "bob",
      device: "main",
      to: "alice",
      text: "from the inbox",
      ts,
      verified: true,
      trust: "verified",
      seq: 3,
      history: true,
    },
  ];
  const lines: string[] = [];
  const code = await runPipe(fakeClient(events), {
    json: true,
    room: "lobby",
    input: ReadableStream.from<Uint8Array>([]),
    write: (line) => lines.push(line),
  });
  assertEquals(code, 0);
  assertEquals(lines.map((line) => JSON.parse(line)), events);
  const text: string[] = [];
  await runPipe(fakeClient(events), {
    json: false,
    room: "lobby",
    input: ReadableStream.from<Uint8Array>([]),
    write: (line) => text.push(line),
  });
  assertEquals(text, [
    "[2001-01-02 03:04] ↶ #lobby <bob> caught up",
    "[03:04:05] #lobby <bob> live",
    "[2001-01-02 03:04] ↶ *bob* from the inbox",
  ]);
});
