/**
 * Two chat servers in one process sharing a real `nats-server`: rooms, messages, direct
 * messages and lookups across them, in one order.
 */

import { assert, assertEquals } from "../../tests/support/assert.ts";
import { clusterCa, startMember } from "../../tests/support/cluster_fixture.ts";
import { NatsServer } from "../../tests/support/nats_server.ts";
import { historyOf, join, online } from "../../tests/support/offline_client.ts";
import { toIdentity } from "../../tests/support/server_fixture.ts";
import type { CertificateAuthority } from "../authority.ts";

async function issue(ca: CertificateAuthority, name: string, device = "main") {
  const { issued } = await ca.issueUser(name, 30, async () => {}, { device });
  return await toIdentity(name, issued, device);
}

Deno.test({
  name: "cluster: alice on A and bob on B share a room, in order, and reach each other directly",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const nats = await NatsServer.start();
    const { ca, identity, dir } = await clusterCa();
    const a = await startMember(ca, identity, nats.url, "c1");
    const b = await startMember(ca, identity, nats.url, "c1");
    try {
      const alice = await online({ port: a.port, caPem: ca.certPem }, await issue(ca, "alice"));
      const bob = await online({ port: b.port, caPem: ca.certPem }, await issue(ca, "bob"));
      const aliceJoined = await join(alice.client, "lobby");
      assertEquals(aliceJoined.members, []);
      const bobJoined = await join(bob.client, "lobby");
      assertEquals(bobJoined.members.map((m) => m.user), ["alice"]);
      const presence = await alice.client.next("presence", (m) => m.event === "join");
      assertEquals([presence.user, presence.version], ["bob", bobJoined.version]);

      for (let i = 1; i <= 5; i++) {
        await alice.client.send({
          type: "msg",
          id: `a${i}`,
          room: "lobby",
          payload: `from-a-${i}`,
        });
        await bob.client.send({ type: "msg", id: `b${i}`, room: "lobby", payload: `from-b-${i}` });
      }
      const seen = { alice: [] as number[], bob: [] as number[] };
      for (let i = 0; i < 5; i++) {
        seen.bob.push((await bob.client.next("msg", (m) => m.from === "alice")).seq);
        seen.alice.push((await alice.client.next("msg", (m) => m.from === "bob")).seq);
      }
      const acks = [];
      for (let i = 1; i <= 5; i++) {
        acks.push(await alice.client.next("ack", (m) => m.id === `a${i}`));
      }
      assert(acks.every((ack) => ack.recipients === 1));
      const all = [...seen.alice, ...seen.bob].sort((x, y) => x - y);
      assertEquals(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert(seen.bob.every((seq, i) => i === 0 || seq > seen.bob[i - 1]!));

      // Direct: lookup finds bob on the other server, a dm reaches him, a key package too.
      await alice.client.send({ type: "lookup", id: "l1", user: "bob" });
      const peer = await alice.client.next("peer");
      assertEquals(peer.sessions.map((s) => s.session), [bob.welcome.session]);
      await alice.client.send({
        type: "dm",
        id: "d1",
        to: "bob",
        session: bob.welcome.session,
        payload: "psst",
      });
      assertEquals((await alice.client.next("ack", (m) => m.id === "d1")).recipients, 1);
      const dm = await bob.client.next("dm");
      assertEquals([dm.from, dm.payload], ["alice", "psst"]);
      await alice.client.send({
        type: "keys",
        items: [{ to: bob.welcome.session, payload: "k1" }],
      });
      assertEquals((await bob.client.next("keys", (m) => m.room === undefined)).payload, "k1");

      // carol, joining later on B, reads the whole history from the shared store.
      const carol = await online({ port: b.port, caPem: ca.certPem }, await issue(ca, "carol"));
      const carolJoined = await join(carol.client, "lobby");
      assertEquals(carolJoined.members.map((m) => m.user).sort(), ["alice", "bob"]);
      assertEquals(carolJoined.seq, 10);

      // bob quits: alice on A sees him leave, as an ended session.
      bob.client.close();
      const left = await alice.client.next(
        "presence",
        (m) => m.event === "leave" && m.user === "bob",
      );
      assertEquals(left.reason, "quit");
      const history = await historyOf(carol.client, "lobby");
      assertEquals(history.entries.length, 0); // carol's device was not a member before it joined
      alice.client.close();
      carol.client.close();
    } finally {
      await a.stop();
      await b.stop();
      ca.close();
      await Deno.remove(dir, { recursive: true });
      await nats.dispose();
    }
  },
});
