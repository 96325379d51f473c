/**
 * One member's burst against everyone else in the room (issue 11, item 1): the burst must reach
 * every honest reader, in order, without anyone being cut as a slow reader; and a reader that
 * really stops reading must still be cut, without holding the room back for more than the
 * slow-reader deadline.
 */

import { withServer } from "./support/healthy_pair.ts";
import { assert, assertEquals } from "./support/assert.ts";
import { concatFrames, joinedClient, RawClient } from "./support/raw_client.ts";
import { encodeFrame } from "../protocol/framing.ts";
import { MAX_PAYLOAD_CHARS } from "../protocol/messages.ts";

/** The attack as found: 20 messages of 60,000 characters in one write (1.14 MiB). */
const BURST_MESSAGES = 20;

/** 20 full-size messages as one buffer, so they reach the server in as few reads as it likes. */
function burst(tag: string): Uint8Array {
  return concatFrames(Array.from({ length: BURST_MESSAGES }, (_, i) =>
    encodeFrame({
      type: "msg",
      id: `${tag}${i}`,
      room: "lobby",
      payload: `${tag}${i}:`.padEnd(MAX_PAYLOAD_CHARS, "x"),
    })));
}

/** The `msg` payload prefixes `reader` received from `tag`, in arrival order. */
async function receivedInOrder(reader: RawClient, tag: string): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < BURST_MESSAGES; i++) {
    const msg = await reader.next("msg", (m) => m.payload.startsWith(tag), 30_000);
    got.push(msg.payload.slice(0, msg.payload.indexOf(":")));
  }
  return got;
}

Deno.test("one member's burst of 20 full messages reaches every honest reader in order; nobody is cut", async () => {
  // Default limits: the burst fits the rate limit's burst of 100 frames.
  await withServer({}, async (fx) => {
    const readers: RawClient[] = [];
    for (const name of ["alice", "bob", "carol"]) {
      readers.push(await joinedClient(fx.port, fx.caPem, await fx.issue(name)));
    }
    const mallory = await joinedClient(fx.port, fx.caPem, await fx.issue("mallory"));
    const expected = Array.from({ length: BURST_MESSAGES }, (_, i) => `b${i}`);
    // Twice: the attack can be repeated at will, so the fix must hold on the second go too.
    for (const round of ["b", "c"]) {
      await mallory.sendRaw(burst(round));
      const results = await Promise.all(readers.map((reader) => receivedInOrder(reader, round)));
      for (const [i, got] of results.entries()) {
        assertEquals(got, expected.map((id) => id.replace("b", round)), `reader ${i}`);
      }
      for (let i = 0; i < BURST_MESSAGES; i++) {
        const ack = await mallory.next("ack", (m) => m.id === `${round}${i}`, 30_000);
        assertEquals(ack.recipients, readers.length);
      }
    }
    const cut = fx.logs.filter((l) => l.event === "disconnect" && l.fields.code === "slow_reader");
    assertEquals(cut.map((l) => l.fields.user), []);
    assert(readers.every((r) => !r.ended) && !mallory.ended);
    for (const client of [...readers, mallory]) client.close();
  });
});

Deno.test("a reader that stops reading is still cut as slow_reader, and the room goes on", async () => {
  const slowReaderTimeoutMs = 2_000;
  await withServer({ slowReaderTimeoutMs }, async (fx) => {
    const alice = await joinedClient(fx.port, fx.caPem, await fx.issue("alice"));
    const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"));
    const stuck = await joinedClient(fx.port, fx.caPem, await fx.issue("stuck"));
    await alice.next("presence", (m) => m.user === "stuck" && m.event === "join");
    await stuck.stopReading();
    const left = alice.next("presence", (m) => m.user === "stuck" && m.event === "leave", 60_000);
    // Bounded: at most 20 bursts (23 MiB), stopping as soon as the stuck reader is gone. Loopback
    // socket buffers take a few MiB before anything waits in the server's own queue.
    let rounds = 0;
    let gone = false;
    void left.then(() => gone = true, () => {});
    while (!gone && rounds < 20) {
      const tag = `r${rounds}x`;
      rounds += 1;
      await alice.sendRaw(burst(tag));
      const [fromBob] = await Promise.all([
        receivedInOrder(bob, tag),
        alice.next("ack", (m) => m.id === `${tag}${BURST_MESSAGES - 1}`, 60_000),
      ]);
      assertEquals(fromBob.length, BURST_MESSAGES);
    }
    const leave = await left;
    assertEquals(leave.reason, "slow_reader");
    assert(
      fx.logs.some((l) =>
        l.event === "disconnect" && l.fields.user === "stuck" && l.fields.code === "slow_reader"
      ),
    );
    assert(!alice.ended && !bob.ended, "an honest member was closed");
    await alice.send({ type: "msg", id: "after", room: "lobby", payload: "after" });
    assertEquals((await bob.next("msg", (m) => m.payload === "after")).from, "alice");
    // Stored for bob and for stuck's device, which stays a member while offline.
    assertEquals((await alice.next("ack", (m) => m.id === "after")).recipients, 2);
    for (const client of [alice, bob, stuck]) client.close();
  });
});

Deno.test("five members bursting at once beside a stopped reader: honest readers get it all in order, only the stopped one is cut", async () => {
  const limits = { slowReaderTimeoutMs: 2_000, ratePerSecond: 10_000, rateBurst: 10_000 };
  await withServer(limits, async (fx) => {
    const readers: RawClient[] = [];
    for (const name of ["alice", "bob"]) {
      readers.push(await joinedClient(fx.port, fx.caPem, await fx.issue(name)));
    }
    const senders: RawClient[] = [];
    for (let i = 0; i < 5; i++) {
      senders.push(await joinedClient(fx.port, fx.caPem, await fx.issue(`sender${i}`)));
    }
    const stuck = await joinedClient(fx.port, fx.caPem, await fx.issue("stuck"));
    await readers[0]!.next("presence", (m) => m.user === "stuck" && m.event === "join");
    await stuck.stopReading();
    let gone = false;
    const left = readers[0]!.next(
      "presence",
      (m) => m.user === "stuck" && m.event === "leave",
      60_000,
    );
    void left.then(() => gone = true, () => {});
    // Bounded: at most 10 rounds of five bursts (57 MiB), stopping once the stuck reader is gone.
    let rounds = 0;
    while (!gone && rounds < 10) {
      rounds += 1;
      const tags = senders.map((_, i) => `s${i}r${rounds}x`);
      await Promise.all(senders.map((sender, i) => sender.sendRaw(burst(tags[i]!))));
      await Promise.all([
        ...senders.map((sender, i) =>
          sender.next("ack", (m) => m.id === `${tags[i]}${BURST_MESSAGES - 1}`, 60_000)
        ),
        ...readers.flatMap((reader) =>
          tags.map(async (tag) => {
            const got = await receivedInOrder(reader, tag);
            assertEquals(got, Array.from({ length: BURST_MESSAGES }, (_, k) => `${tag}${k}`));
          })
        ),
      ]);
    }
    assertEquals((await left).reason, "slow_reader");
    const cut = fx.logs.filter((l) => l.event === "disconnect" && l.fields.code === "slow_reader");
    assertEquals(cut.map((l) => l.fields.user), ["stuck"]);
    assert([...readers, ...senders].every((client) => !client.ended));
    for (const client of [...readers, ...senders, stuck]) client.close();
  });
});

Deno.test("back-pressure follows devices: a stopped alice/phone holds back the room, not a dm to alice/laptop nor her device requests", async () => {
  // Long enough that the phone is not cut while the test looks at who is held back.
  await withServer({ slowReaderTimeoutMs: 30_000 }, async (fx) => {
    const laptop = await RawClient.connect(fx.port, fx.caPem);
    const welcome = await laptop.authenticate(
      fx.caPem,
      await fx.issue("alice", { device: "laptop" }),
    );
    await laptop.send({ type: "announce", payload: "announce-of-alice-laptop" });
    await laptop.send({ type: "join", room: "lobby" });
    await laptop.next("joined");
    const phone = await joinedClient(
      fx.port,
      fx.caPem,
      await fx.issue("alice", { device: "phone" }),
    );
    const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"));
    const carol = await joinedClient(fx.port, fx.caPem, await fx.issue("carol"), "elsewhere");
    await laptop.next("presence", (m) => m.user === "bob" && m.event === "join");
    assertEquals(welcome.device, "laptop");
    await phone.stopReading();
    // Bob bursts into the room until he is held back: his acks stop while the phone is behind.
    // Bounded: at most 12 bursts (14 MiB); loopback buffers take a few MiB first.
    let held = false;
    let bursts = 0;
    while (!held && bursts < 12) {
      const tag = `p${bursts}x`;
      bursts += 1;
      await bob.sendRaw(burst(tag));
      held = await bob.next("ack", (m) => m.id === `${tag}${BURST_MESSAGES - 1}`, 3_000).then(
        () => false,
        () => true,
      );
    }
    assert(held, `bob was never held back after ${bursts} bursts`);
    // Carol's dm reaches one session of alice, the laptop, which keeps reading: it is not held
    // back by alice's other device.
    await carol.send({
      type: "dm",
      id: "d1",
      to: "alice",
      session: welcome.session,
      payload: "psst",
    });
    assertEquals((await laptop.next("dm", (m) => m.payload === "psst")).from, "carol");
    assertEquals((await carol.next("ack", (m) => m.id === "d1")).recipients, 1);
    // A device request is answered to its sender alone.
    await laptop.send({ type: "devices", id: "l1" });
    const listed = await laptop.next("devices", (m) => m.id === "l1");
    assertEquals(listed.type === "devices" && listed.devices.map((d) => d.device).sort(), [
      "laptop",
      "phone",
    ]);
    // The phone reads again: everything bob sent reaches it, and nobody was cut.
    phone.startReading();
    const last = `p${bursts - 1}x${BURST_MESSAGES - 1}`;
    await bob.next("ack", (m) => m.id === last, 60_000);
    await phone.next("msg", (m) => m.payload.startsWith(`${last}:`), 60_000);
    const cut = fx.logs.filter((l) => l.event === "disconnect" && l.fields.code === "slow_reader");
    assertEquals(cut.map((l) => l.fields.user), []);
    for (const client of [laptop, phone, bob, carol]) client.close();
  });
});
