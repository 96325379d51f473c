/**
 * Every server limit at and past its edge, each with a healthy pair of sessions that must keep
 * working while another session hits the limit.
 */

import { healthyPair, withServer } from "./support/healthy_pair.ts";
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { RawClient } from "./support/raw_client.ts";
import { encodeFrame } from "../protocol/framing.ts";
import { RateLimiter } from "../server/rate_limiter.ts";

Deno.test("RateLimiter: a full burst passes, the next frame is refused, refills at the rate, floods at the edge", () => {
  const limiter = new RateLimiter({
    ratePerSecond: 10,
    burst: 5,
    floodMaxRefused: 3,
    floodWindowMs: 1_000,
  }, 0);
  for (let i = 0; i < 5; i++) assertEquals(limiter.take(0), "accept", `frame ${i}`);
  assertEquals(limiter.take(0), "refuse");
  assertEquals(limiter.take(99), "refuse"); // 0.99 tokens
  assertEquals(limiter.take(200), "accept"); // 0.99 + 1.01 tokens refilled at 10/s
  assertEquals(limiter.take(200), "accept");
  assertEquals(limiter.take(200), "refuse"); // third refusal in the window: still only refused
  assertEquals(limiter.take(200), "flood"); // the fourth is past floodMaxRefused
  const calm = new RateLimiter({
    ratePerSecond: 10,
    burst: 5,
    floodMaxRefused: 3,
    floodWindowMs: 1_000,
  }, 0);
  for (let i = 0; i < 5; i++) calm.take(0);
  for (let i = 0; i < 3; i++) assertEquals(calm.take(0), "refuse");
  // A new window: the bucket is full again and refusals are counted afresh.
  for (let i = 0; i < 5; i++) assertEquals(calm.take(1_500), "accept");
  assertEquals(calm.take(1_500), "refuse");
});

Deno.test("rate limit: the burst is served, the frame past it gets rate_limited, sustained flooding closes", async () => {
  const limits = { ratePerSecond: 1, rateBurst: 20, floodMaxRefused: 30, floodWindowMs: 60_000 };
  await withServer(limits, async (fx) => {
    const pair = await healthyPair(fx);
    const flooder = await RawClient.connect(fx.port, fx.caPem);
    await flooder.authenticate(fx.caPem, await fx.issue("mallory"));
    // Set-up frames are not counted; 20 pings fit the burst exactly.
    const ping = encodeFrame({ type: "ping" });
    await flooder.sendRaw(new Uint8Array(20 * ping.length).map((_, i) => ping[i % ping.length]!));
    for (let i = 0; i < 20; i++) await flooder.next("pong");
    await flooder.send({ type: "msg", id: "over", room: "lobby", payload: "x" });
    const limited = await flooder.next("error");
    assertEquals([limited.code, limited.fatal, limited.id], ["rate_limited", false, "over"]);
    assert(!flooder.ended);
    await pair.stillWorking("rate limited");
    // 29 more refusals stay refusals; the 31st in the window is a flood.
    for (let i = 0; i < 29; i++) await flooder.send({ type: "ping" });
    for (let i = 0; i < 29; i++) assertEquals((await flooder.next("error")).code, "rate_limited");
    assert(!flooder.ended, "closed before the flood threshold");
    await flooder.send({ type: "ping" });
    await flooder.expectRefusal("flood");
    await pair.stillWorking("flood");
    pair.close();
  });
});

Deno.test("a slow reader is closed with a reason once its queue passes the hard outbound bound; others get everything", async () => {
  // Below the behind mark (512 KiB by default), so the hard bound is met before back-pressure
  // or the slow-reader deadline comes into play (tests/backpressure_test.ts covers those).
  const maxOutboundBytes = 256 * 1024;
  const limits = { maxOutboundBytes, slowReaderTimeoutMs: 120_000 };
  await withServer({ ...limits, ratePerSecond: 10_000, rateBurst: 10_000 }, async (fx) => {
    const pair = await healthyPair(fx);
    const slow = await RawClient.connect(fx.port, fx.caPem);
    await slow.authenticate(fx.caPem, await fx.issue("slow"));
    await slow.send({ type: "announce", payload: "k" });
    await slow.send({ type: "join", room: "lobby" });
    await pair.alice.next("presence", (m) => m.user === "slow" && m.event === "join");
    await slow.stopReading();
    const payload = "p".repeat(30_000);
    let sent = 0;
    // Bounded: at most 1000 messages (30 MB), stopping as soon as the slow reader is dropped.
    let dropped = false;
    const seen = pair.alice.next(
      "presence",
      (m) => m.user === "slow" && m.event === "leave",
      30_000,
    )
      .then((m) => {
        dropped = true;
        return m;
      });
    while (!dropped && sent < 1000) {
      sent += 1;
      await pair.alice.send({ type: "msg", id: `m${sent}`, room: "lobby", payload });
      await pair.alice.next("ack", (m) => m.id === `m${sent}`);
      await pair.bob.next("msg", (m) => m.payload === payload);
    }
    const leave = await seen;
    assertEquals(leave.reason, "slow_reader");
    assert(sent > maxOutboundBytes / payload.length, `dropped after only ${sent} messages`);
    // The server's own record says the same, and bob got every message alice sent.
    assert(
      fx.logs.some((l) =>
        l.event === "disconnect" && l.fields.user === "slow" && l.fields.code === "slow_reader"
      ),
    );
    await pair.stillWorking("slow reader");
    slow.close();
    pair.close();
  });
});

Deno.test("idle: a session that answers pings stays, one that says nothing is closed at the idle deadline", async () => {
  await withServer({ pingIntervalMs: 200, idleTimeoutMs: 1_000 }, async (fx) => {
    const pair = await healthyPair(fx);
    const mute = await RawClient.connect(fx.port, fx.caPem);
    await mute.authenticate(fx.caPem, await fx.issue("mute"), { autoPong: false });
    await mute.next("ping", () => true, 2_000);
    const error = await mute.expectRefusal("idle_timeout", 3_000);
    assertStringIncludes(error.message, "Nothing received for 1000 ms");
    // The pair has been silent apart from answering pings all along, and is still here.
    assert(pair.alice.received.length >= 0 && !pair.alice.ended && !pair.bob.ended);
    await pair.stillWorking("idle");
    pair.close();
  });
});

Deno.test("max sessions: at the limit the next user gets server_full; a re-login still replaces", async () => {
  await withServer({ maxSessions: 3 }, async (fx) => {
    const pair = await healthyPair(fx);
    const carol = await fx.issue("carol");
    const third = await RawClient.connect(fx.port, fx.caPem);
    await third.authenticate(fx.caPem, carol);
    const fourth = await RawClient.connect(fx.port, fx.caPem);
    await fourth.hello(fx.caPem);
    await fourth.sendAuth(await fx.issue("dave"));
    await fourth.expectRefusal("server_full");
    const again = await RawClient.connect(fx.port, fx.caPem);
    await again.authenticate(fx.caPem, carol);
    await third.expectRefusal("replaced");
    assertEquals(fx.server.stats().sessions, 3);
    await pair.stillWorking("max sessions");
    again.close();
    pair.close();
  });
});

Deno.test("pending set-ups: past the limit a new connection gets server_full", async () => {
  await withServer({ maxPendingSetups: 2 }, async (fx) => {
    const pair = await healthyPair(fx);
    const a = await RawClient.connect(fx.port, fx.caPem);
    const b = await RawClient.connect(fx.port, fx.caPem);
    await a.hello(fx.caPem);
    await b.hello(fx.caPem);
    const c = await RawClient.connect(fx.port, fx.caPem);
    await c.expectRefusal("server_full");
    await pair.stillWorking("pending set-ups");
    a.close();
    b.close();
    pair.close();
  });
});

Deno.test("rooms: a full room and a session in too many rooms are refused without closing anything", async () => {
  await withServer({ maxRoomMembers: 2, maxRoomsPerSession: 2 }, async (fx) => {
    const pair = await healthyPair(fx); // lobby now has 2 members: full
    const carol = await RawClient.connect(fx.port, fx.caPem);
    await carol.authenticate(fx.caPem, await fx.issue("carol"));
    await carol.send({ type: "announce", payload: "k" });
    await carol.send({ type: "join", room: "lobby" });
    const full = await carol.next("error");
    assertEquals([full.code, full.fatal], ["room_full", false]);
    await carol.send({ type: "join", room: "one" });
    await carol.send({ type: "join", room: "two" });
    await carol.next("joined", (m) => m.room === "one");
    await carol.next("joined", (m) => m.room === "two");
    await carol.send({ type: "join", room: "three" });
    const tooMany = await carol.next("error");
    assertEquals([tooMany.code, tooMany.fatal], ["too_many_rooms", false]);
    assert(!carol.ended);
    await pair.stillWorking("rooms");
    carol.close();
    pair.close();
  });
});
