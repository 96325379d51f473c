/**
 * Two `openchat serve --cluster` processes and one `nats-server` on 127.0.0.1, with real
 * `openchat enroll` and `openchat join` clients: what users on different servers of one
 * cluster see, end to end.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { clusterTest } from "./support/cluster_processes.ts";
import { enroll } from "./support/enrolment.ts";
import { storedText } from "./support/nats_server.ts";

const READY_MS = 20_000;

Deno.test(clusterTest(
  "cluster: alice on A and bob on B chat in a room and directly, verified; carol catches up on either; ca revoke --cluster closes bob on B within 2 s",
  async ({ cluster, config, join }) => {
    // An invite made on A enrols on B (bob's names B first).
    for (
      const [name, order] of [["alice", [0, 1]], ["bob", [1, 0]], ["carol", [0, 1]]] as const
    ) {
      const result = await enroll(await cluster.invite(name, [...order]), config(name));
      assertEquals(result.code, 0, result.stderr);
      assertStringIncludes(result.stdout, `on ${cluster.address(order[0]!)}`);
    }
    const alice = join(["--config-dir", config("alice")]);
    const bob = join(["--config-dir", config("bob")]);
    await alice.next("ready", () => true, READY_MS);
    await bob.next("ready", () => true, READY_MS);
    assertStringIncludes((await alice.next("status")).message, cluster.address(0));
    assertStringIncludes((await bob.next("status")).message, cluster.address(1));
    await alice.members("lobby", ["alice", "bob"]);
    await bob.members("lobby", ["alice", "bob"]);

    await alice.say("hi bob, from A");
    const got = await bob.next("message", (e) => e.text === "hi bob, from A");
    assertEquals([got.from, got.verified], ["alice", true]);
    await bob.say("hello alice, from B");
    const back = await alice.next("message", (e) => e.text === "hello alice, from B");
    assertEquals([back.from, back.verified], ["bob", true]);
    assert(back.seq! > got.seq!, "one order for the room");

    await alice.type("/msg bob psst, across servers");
    const dm = await bob.next("dm", (e) => e.text === "psst, across servers");
    assertEquals([dm.from, dm.verified], ["alice", true]);

    // carol becomes a member on A, leaves, and catches up on B.
    const carolA = join([
      cluster.address(0),
      "--config-dir",
      config("carol"),
    ]);
    await carolA.next("ready", () => true, READY_MS);
    await alice.members("lobby", ["alice", "bob", "carol"]);
    await carolA.close();
    await alice.members("lobby", ["alice", "bob"]);
    await alice.say("while carol was away");
    const carolB = join([
      cluster.address(1),
      "--config-dir",
      config("carol"),
    ]);
    await carolB.next("ready", () => true, READY_MS);
    const caught = await carolB.next("message", (e) => e.text === "while carol was away");
    assertEquals([caught.from, caught.verified, caught.history], ["alice", true, true]);
    await carolB.close();

    // What NATS keeps on disk (room logs, inboxes, records, the CA's journal) holds the
    // chat's metadata but none of its plaintext.
    const stored = await storedText(cluster.nats.storeDir);
    assertStringIncludes(stored, '"user":"alice"'); // it was written to disk
    for (const text of ["hi bob, from A", "hello alice, from B", "psst, across servers"]) {
      assert(!stored.includes(text), `NATS stored the plaintext ${JSON.stringify(text)}`);
    }
    assert(!stored.includes("while carol was away"));

    // A revocation made through the cluster's records closes bob's session on B.
    const revoked = await cluster.ca(["revoke", "bob", "--yes"]);
    assertEquals(revoked.code, 0, revoked.stderr);
    const after = Date.now();
    const closed = await bob.next("error", (e) => e.code === "revoked", 5_000);
    const took = Date.now() - after;
    assert(took < 2_000, `bob's session ended ${took} ms after the revocation`);
    assertEquals(closed.code, "revoked");
    assertEquals((await bob.done).code, 1);
  },
));

Deno.test(clusterTest(
  "cluster: kill -9 of A moves alice to B by herself, and no acknowledged message is lost",
  async ({ cluster, config, join }) => {
    for (const [name, order] of [["alice", [0, 1]], ["bob", [1, 0]]] as const) {
      const result = await enroll(await cluster.invite(name, [...order]), config(name));
      assertEquals(result.code, 0, result.stderr);
    }
    const alice = join(["--config-dir", config("alice")]);
    const bobFirst = join(["--config-dir", config("bob")]);
    await alice.next("ready", () => true, READY_MS);
    await bobFirst.next("ready", () => true, READY_MS);
    await alice.members("lobby", ["alice", "bob"]);
    await bobFirst.close();
    await alice.members("lobby", ["alice"]);

    // Acknowledged by A (stored in the shared log), then A dies without a word.
    const sent = ["one", "two", "three"];
    for (const text of sent) await alice.say(text);
    assertEquals((await cluster.servers[0]!.stop("SIGKILL")).signal, "SIGKILL");
    const moved = await alice.next(
      "status",
      (e) => e.state === "connected" && e.message.includes(cluster.address(1)),
      READY_MS,
    );
    assertStringIncludes(moved.message, "alice/main");
    await alice.next("ready", () => true, READY_MS).catch(() => {});

    // bob, back on B, reads all three from the shared store; then they chat live on B.
    const bob = join(["--config-dir", config("bob")]);
    await bob.next("ready", () => true, READY_MS);
    for (const text of sent) {
      const caught = await bob.next("message", (e) => e.text === text, READY_MS);
      assertEquals([caught.from, caught.verified, caught.history], ["alice", true, true]);
    }
    await alice.members("lobby", ["alice", "bob"], READY_MS);
    await alice.say("four, through B");
    assertEquals(
      (await bob.next("message", (e) => e.text === "four, through B")).from,
      "alice",
    );
  },
));

Deno.test(clusterTest(
  "cluster: NATS stopped for a few seconds: clear refusals and logs, then recovery by itself",
  async ({ cluster, config, join }) => {
    for (const [name, order] of [["alice", [0, 1]], ["bob", [1, 0]]] as const) {
      const result = await enroll(await cluster.invite(name, [...order]), config(name));
      assertEquals(result.code, 0, result.stderr);
    }
    const alice = join(["--config-dir", config("alice")]);
    const bob = join(["--config-dir", config("bob")]);
    await alice.next("ready", () => true, READY_MS);
    await bob.next("ready", () => true, READY_MS);
    await alice.members("lobby", ["alice", "bob"]);
    await alice.say("before the outage");
    await bob.next("message", (e) => e.text === "before the outage");

    await cluster.nats.stop();
    const [a, b] = cluster.servers;
    await waitFor(() => a!.stderr().includes("event=nats_down"), "A logs that NATS is down");
    await waitFor(() => b!.stderr().includes("event=nats_down"), "B logs that NATS is down");
    await alice.type("during the outage");
    const queued = await alice.next("queued", (e) => e.text === "during the outage");
    const refused = await alice.next("undelivered", (e) => e.id === queued.id);
    assertStringIncludes(refused.reason, "could not store");
    // The server says whose request it refused, and why.
    await waitFor(
      () => /event=store_refused user=alice device=\S+ id=\S+ room=lobby error=/.test(a!.stderr()),
      "A logs the refusal",
    );

    await cluster.nats.restart();
    await waitFor(() => a!.stderr().includes("event=nats_up"), "A logs that NATS is back");
    await waitFor(() => b!.stderr().includes("event=nats_up"), "B logs that NATS is back");
    // Both sessions stayed connected; the room goes on where it was.
    const text = "after the outage";
    await alice.say(text);
    const got = await bob.next("message", (e) => e.text === text, READY_MS);
    assertEquals([got.from, got.verified], ["alice", true]);
    await bob.say("and back");
    assertEquals((await alice.next("message", (e) => e.text === "and back")).from, "bob");
  },
));

/** Polls `check` every 50 ms for up to 15 s. */
async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
