/**
 * Two well-behaved sessions in one room, and a check that they can still talk: the witness that
 * whatever a test does to another session disturbs nobody else.
 *
 * @module
 */

import { assert, assertEquals } from "./assert.ts";
import { joinedClient } from "./raw_client.ts";
import { type ServerFixture, startServer } from "./server_fixture.ts";
import type { ServerLimits } from "../../server/limits.ts";

/** Runs `fn` against a fresh in-process server with `limits`, and stops it afterwards. */
export async function withServer(
  limits: Partial<ServerLimits>,
  fn: (fx: ServerFixture) => Promise<void>,
) {
  const fx = await startServer(limits);
  try {
    await fn(fx);
  } finally {
    await fx.close();
  }
}

/** Logs alice and bob into `room`; `stillWorking` has alice send bob a message and checks it. */
export async function healthyPair(fx: ServerFixture, room = "lobby") {
  const alice = await joinedClient(fx.port, fx.caPem, await fx.issue("alice"), room);
  const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"), room);
  await alice.next("presence", (m) => m.user === "bob" && m.event === "join");
  let counter = 0;
  return {
    alice,
    bob,
    async stillWorking(context: string) {
      counter += 1;
      const payload = `healthy-${counter}`;
      await alice.send({ type: "msg", id: `h${counter}`, room, payload });
      const got = await bob.next("msg", (m) => m.payload === payload);
      assertEquals(got.from, "alice", context);
      const ack = await alice.next("ack", (m) => m.id === `h${counter}`);
      assert(ack.recipients >= 1, context);
      assert(!alice.ended && !bob.ended, `${context}: a healthy session was disturbed`);
    },
    close() {
      alice.close();
      bob.close();
    },
  };
}
