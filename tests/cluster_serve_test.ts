/**
 * Two `openchat serve --cluster` processes and one `nats-server` on 127.0.0.1, with real
 * `openchat enroll` and `openchat join` clients: what users on different servers of one
 * cluster see, end to end.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir } from "./support/cli.ts";
import { startCluster } from "./support/cluster_processes.ts";
import { enroll } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";

const READY_MS = 20_000;

Deno.test({
  name:
    "cluster: alice on A and bob on B chat in a room and directly, verified; carol catches up on either; ca revoke --cluster closes bob on B within 2 s",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await inTempDir(async (dir) => {
      const cluster = await startCluster(dir);
      const clients: JoinProcess[] = [];
      try {
        // An invite made on A enrols on B (bob's names B first).
        const config = (name: string) => `${dir}/${name}-config`;
        for (
          const [name, order] of [["alice", [0, 1]], ["bob", [1, 0]], ["carol", [0, 1]]] as const
        ) {
          const result = await enroll(await cluster.invite(name, [...order]), config(name));
          assertEquals(result.code, 0, result.stderr);
          assertStringIncludes(result.stdout, `on ${cluster.address(order[0]!)}`);
        }
        const alice = JoinProcess.startWith(["--config-dir", config("alice")]);
        const bob = JoinProcess.startWith(["--config-dir", config("bob")]);
        clients.push(alice, bob);
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
        const carolA = JoinProcess.startWith([
          cluster.address(0),
          "--config-dir",
          config("carol"),
        ]);
        await carolA.next("ready", () => true, READY_MS);
        await alice.members("lobby", ["alice", "bob", "carol"]);
        await carolA.close();
        await alice.members("lobby", ["alice", "bob"]);
        await alice.say("while carol was away");
        const carolB = JoinProcess.startWith([
          cluster.address(1),
          "--config-dir",
          config("carol"),
        ]);
        clients.push(carolB);
        await carolB.next("ready", () => true, READY_MS);
        const caught = await carolB.next("message", (e) => e.text === "while carol was away");
        assertEquals([caught.from, caught.verified, caught.history], ["alice", true, true]);
        await carolB.close();

        // A revocation made through the cluster's records closes bob's session on B.
        const revoked = await cluster.ca(["revoke", "bob", "--yes"]);
        assertEquals(revoked.code, 0, revoked.stderr);
        const after = Date.now();
        const closed = await bob.next("error", (e) => e.code === "revoked", 5_000);
        const took = Date.now() - after;
        assert(took < 2_000, `bob's session ended ${took} ms after the revocation`);
        assertEquals(closed.code, "revoked");
        assertEquals((await bob.done).code, 1);
      } finally {
        for (const client of clients) await client.close().catch(() => {});
        await cluster.dispose();
      }
    });
  },
});
