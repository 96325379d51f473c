import { assert, assertEquals } from "../tests/support/assert.ts";
import { type ByteStream, FramedConnection } from "./transport.ts";

/** A stream whose writes complete only when the test says so, one at a time. */
class HeldStream implements ByteStream {
  readonly remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 1 };
  readonly writes: Uint8Array[] = [];
  #release: (() => void)[] = [];
  closed = false;

  read(): Promise<number | null> {
    return new Promise(() => {});
  }

  write(bytes: Uint8Array): Promise<number> {
    this.writes.push(bytes.slice());
    return new Promise((resolve) => this.#release.push(() => resolve(bytes.length)));
  }

  /** Completes the oldest write in progress, then lets the writer take the next piece. */
  async completeOne(): Promise<void> {
    while (this.#release.length === 0) await tick();
    this.#release.shift()!();
    await tick();
  }

  close(): void {
    this.closed = true;
  }
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
const bytes = (n: number) => new Uint8Array(n);

Deno.test("FramedConnection.send queues up to exactly maxOutboundBytes and refuses one byte more", () => {
  const conn = new FramedConnection(new HeldStream(), { maxOutboundBytes: 100 });
  assert(conn.send(bytes(60)));
  assert(conn.send(bytes(40)));
  assertEquals(conn.queuedBytes, 100);
  assertEquals(conn.send(bytes(1)), false);
  assertEquals(conn.queuedBytes, 100);
});

Deno.test("FramedConnection is behind past behindBytes, not at it, until it drains to caughtUpBytes", async () => {
  const stream = new HeldStream();
  const conn = new FramedConnection(stream, { behindBytes: 100, caughtUpBytes: 40 });
  conn.send(bytes(60));
  await tick(); // the writer takes the first 60 bytes
  conn.send(bytes(40));
  assertEquals([conn.queuedBytes, conn.behindSince], [100, undefined], "at the mark");
  conn.send(bytes(1));
  assert(conn.behindSince !== undefined, "one byte past the mark");
  let caughtUp = false;
  void conn.caughtUp().then(() => caughtUp = true);
  await stream.completeOne(); // 60 written: 41 left, one past the lower mark
  assertEquals([conn.queuedBytes, caughtUp], [41, false]);
  assert(conn.behindSince !== undefined);
  await stream.completeOne(); // the other 41 written
  assertEquals([conn.queuedBytes, conn.behindSince, caughtUp], [0, undefined, true]);

  // Exactly at the lower mark is caught up.
  conn.send(bytes(61));
  await tick();
  conn.send(bytes(40));
  assert(conn.behindSince !== undefined);
  await stream.completeOne();
  assertEquals([conn.queuedBytes, conn.behindSince], [40, undefined]);
  await stream.completeOne();
});

Deno.test("FramedConnection: caughtUp() resolves when the connection closes, and at once when not behind", async () => {
  const stream = new HeldStream();
  const conn = new FramedConnection(stream, { behindBytes: 10, caughtUpBytes: 0 });
  await conn.caughtUp();
  conn.send(bytes(11));
  const waiting = conn.caughtUp();
  await conn.close();
  await waiting;
  assert(stream.closed);
});

Deno.test("FramedConnection.sendFinal(frame, true) drops what waits and ends the behind state", async () => {
  const stream = new HeldStream();
  const conn = new FramedConnection(stream, { behindBytes: 10, caughtUpBytes: 5 });
  conn.send(bytes(8));
  await tick(); // 8 bytes in the write in progress
  conn.send(bytes(50));
  assert(conn.behindSince !== undefined);
  conn.sendFinal(bytes(2), true);
  // The write in progress stays counted until it completes; the 50 waiting bytes are gone.
  assertEquals(conn.queuedBytes, 10);
  await stream.completeOne();
  assertEquals([conn.queuedBytes, conn.behindSince], [2, undefined]);
  await stream.completeOne();
  assertEquals(stream.writes.map((w) => w.length), [8, 2]);
});

Deno.test("FramedConnection.sendFinal(frame) queues after everything else, past the bound", async () => {
  const stream = new HeldStream();
  const conn = new FramedConnection(stream, { maxOutboundBytes: 10 });
  conn.send(bytes(4));
  await tick();
  conn.send(bytes(6));
  conn.sendFinal(bytes(3));
  assertEquals(conn.queuedBytes, 13);
  await stream.completeOne();
  await stream.completeOne();
  assertEquals(stream.writes.map((w) => w.length), [4, 9]);
});
