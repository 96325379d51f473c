/**
 * The last frame before a close (issue 11, item 2): under write load in both directions, the
 * fatal error that says why the server closes a connection must arrive before the connection
 * ends, every time. Each case is repeated, since a lost frame used to be the common outcome.
 */

import { withServer } from "./support/healthy_pair.ts";
import { assertEquals } from "./support/assert.ts";
import { concatFrames, joinedClient, RawClient } from "./support/raw_client.ts";
import { encodeFrame } from "../protocol/framing.ts";

const TRIALS = 8;

/** `count` copies of `frame` back to back. */
function repeated(frame: Uint8Array, count: number): Uint8Array {
  return concatFrames(Array.from({ length: count }, () => frame));
}

/** Keeps writing `bytes` (at most `times` times) while the connection is open. */
async function keepWriting(client: RawClient, bytes: Uint8Array, times: number): Promise<void> {
  for (let i = 0; i < times && !client.ended; i++) await client.sendRaw(bytes);
}

/** The fatal error codes `client` received, in order. */
function fatalCodes(client: RawClient): string[] {
  return client.received.flatMap((m) => m.type === "error" && m.fatal ? [m.code] : []);
}

Deno.test("a flooding client that keeps writing gets every pong of its burst, rate_limited and flood before the close", async () => {
  const limits = { ratePerSecond: 1, rateBurst: 20, floodMaxRefused: 30, floodWindowMs: 60_000 };
  await withServer(limits, async (fx) => {
    // 2,000 padded pings (2 MB) per write, written up to five times: the server reads and answers
    // far less than the client sends, and closes with unread data waiting.
    const pings = repeated(encodeFrame({ type: "ping", pad: "x".repeat(1000) }), 2000);
    const outcomes: string[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const client = await RawClient.connect(fx.port, fx.caPem);
      await client.authenticate(fx.caPem, await fx.issue(`flooder${trial}`));
      const writing = keepWriting(client, pings, 5);
      await client.whenEnded(20_000);
      await writing;
      const pongs = client.received.filter((m) => m.type === "pong").length;
      const limited = client.received.filter((m) => m.type === "error" && m.code === "rate_limited")
        .length;
      // The burst's 20 pongs, one more for each second the bucket refilled meanwhile.
      const burst = pongs >= 20 ? "20+" : String(pongs);
      outcomes.push(`${burst} pongs, ${limited} rate_limited, fatal ${fatalCodes(client)}`);
      client.close();
    }
    assertEquals(
      outcomes,
      Array.from({ length: TRIALS }, () => "20+ pongs, 30 rate_limited, fatal flood"),
    );
  });
});

Deno.test("a session receiving a stream of full-size messages gets 'replaced' before the close", async () => {
  await withServer({ ratePerSecond: 10_000, rateBurst: 10_000 }, async (fx) => {
    const sender = await joinedClient(fx.port, fx.caPem, await fx.issue("sender"));
    const victimId = await fx.issue("victim");
    const messages = repeated(
      encodeFrame({ type: "msg", id: "m", room: "lobby", payload: "p".repeat(60_000) }),
      20,
    );
    const outcomes: string[][] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const victim = await joinedClient(fx.port, fx.caPem, victimId);
      await sender.next("presence", (m) => m.user === "victim" && m.event === "join");
      // 1.2 MB on its way to the victim, and more behind it, when the same user logs in again.
      const writing = keepWriting(sender, messages, 3);
      await victim.next("msg", () => true, 10_000);
      const again = await RawClient.connect(fx.port, fx.caPem);
      await again.authenticate(fx.caPem, victimId);
      await victim.whenEnded(20_000);
      outcomes.push(fatalCodes(victim));
      await writing;
      again.close();
      await sender.next("presence", (m) => m.user === "victim" && m.event === "leave");
      victim.close();
    }
    assertEquals(outcomes, Array.from({ length: TRIALS }, () => ["replaced"]));
    sender.close();
  });
});

Deno.test("a client writing garbage during set-up gets frame_too_large before the close", async () => {
  await withServer({}, async (fx) => {
    const garbage = new Uint8Array(1024 * 1024).fill(0x47); // "GGGG": a 1.2 GB length
    const outcomes: string[][] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const client = await RawClient.connect(fx.port, fx.caPem);
      const writing = keepWriting(client, garbage, 4);
      await client.whenEnded(20_000);
      await writing;
      outcomes.push(fatalCodes(client));
      client.close();
    }
    assertEquals(outcomes, Array.from({ length: TRIALS }, () => ["frame_too_large"]));
  });
});
