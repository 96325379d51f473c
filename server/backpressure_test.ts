import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { deliverWhenCaughtUp } from "./backpressure.ts";
import type { Session } from "./session.ts";

/** Just what back-pressure reads of a session: whether it is behind, and when it catches up. */
function fakeSession(behind: boolean) {
  let caughtUp: () => void = () => {};
  const conn = {
    closed: false,
    behindSince: behind ? 0 : undefined as number | undefined,
    caughtUp: () => new Promise<void>((resolve) => caughtUp = resolve),
  };
  return {
    session: { closed: false, conn } as unknown as Session,
    catchUp() {
      conn.behindSince = undefined;
      caughtUp();
    },
  };
}

Deno.test("deliverWhenCaughtUp runs at once when nobody is behind, and hands back what deliver returns", async () => {
  const { session } = fakeSession(false);
  let ran = 0;
  assertEquals(deliverWhenCaughtUp(() => [session], () => void ran++, () => true), undefined);
  assertEquals(ran, 1);
  // Asynchronous work (a device request) is awaited by the caller, and its failure reaches it.
  const failing = deliverWhenCaughtUp(
    () => [session],
    () => Promise.reject(new Error("refused")),
    () => true,
  );
  await assertRejects(() => failing as Promise<void>, Error, "refused");
});

Deno.test("deliverWhenCaughtUp waits for a session that is behind, then delivers, failures included", async () => {
  const slow = fakeSession(true);
  let ran = 0;
  const pending = deliverWhenCaughtUp(() => [slow.session], () => {
    ran++;
    return Promise.reject(new Error("refused after the wait"));
  }, () => true);
  await Promise.resolve();
  assertEquals(ran, 0);
  slow.catchUp();
  await assertRejects(() => pending as Promise<void>, Error, "refused after the wait");
  assertEquals(ran, 1);
});

Deno.test("deliverWhenCaughtUp drops the frame when its sender closed while it waited", async () => {
  const slow = fakeSession(true);
  let wanted = true;
  let ran = 0;
  const pending = deliverWhenCaughtUp(() => [slow.session], () => void ran++, () => wanted);
  wanted = false;
  slow.catchUp();
  await pending;
  assertEquals(ran, 0);
});
