/**
 * A kicked member reads nothing said after the kick, shown the hard way: a real `openchat serve`,
 * and between it and the members a relay run by an attacker who records every frame (the
 * server's operator, `support/malicious_relay.ts`). bob runs in-process so that his keys can be
 * copied at every moment of his life; after alice kicks him, her next message is captured on
 * the wire and none of bob's keys, from any moment, opens it, while a copy of the same keys does
 * open what was said before (so the test can tell).
 */

import { assert, assertEquals } from "./support/assert.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { JoinProcess } from "./support/join_process.ts";
import { MaliciousRelay } from "./support/malicious_relay.ts";
import { WAIT_MS, withStage } from "./support/moderation_stage.ts";
import { acted } from "./support/moderation_steps.ts";
import type { ClientEvent } from "../client/events.ts";

Deno.test("moderation: a kicked member cannot read the next message: the server sends him nothing, and none of his keys opens the frame the relay captured", async () => {
  await withStage(async (stage) => {
    const relay = await MaliciousRelay.start(stage.data, stage.serve.port);
    const address = `127.0.0.1:${relay.port}`;
    const joined: JoinProcess[] = [];
    const join = async (name: string) => {
      const process = JoinProcess.start(
        address,
        await stage.identityFile(name),
        `${stage.dir}/config-${name}`,
        ["--no-history"],
      );
      joined.push(process);
      return process;
    };
    let bob: ChatPeer | undefined;
    try {
      const mark = `PLAINTEXT-${crypto.randomUUID().slice(0, 8)}`;
      const alice = await join("alice");
      await alice.next("ready", () => true, WAIT_MS);
      bob = await ChatPeer.start(address, await stage.identityFile("bob"), {
        configDir: `${stage.dir}/config-bob`,
      });
      relay.watch(() => bob!.client.engine, 50); // bob's keys, all his life
      const carol = await join("carol");
      for (const p of [alice, carol]) {
        await p.members("lobby", ["alice", "bob", "carol"], WAIT_MS);
      }
      await bob.waitFor(
        "everyone's keys",
        (e) => e.type === "members" && e.members.length === 3,
        WAIT_MS,
      );
      const bobConn = await relay.connection("bob");
      const bobSession = relay.sessionOf(bobConn);
      const aliceConn = await relay.connection("alice");

      // A control: with a copy of bob's keys now, the thief opens what alice says next.
      relay.keep(bob.client.engine!.keySnapshot());
      await alice.say(`${mark} before the kick`);
      await bob.waitFor(
        "before",
        (e) => e.type === "message" && e.text === `${mark} before the kick`,
        WAIT_MS,
      );
      relay.keep(bob.client.engine!.keySnapshot()); // and his very last keys before the kick

      const kickedAt = relay.frames.length;
      const kick = await acted(alice, "/kick bob", "kick", [carol], (e) => e.target === "bob");
      await bob.waitFor(
        "his kick",
        (e) => e.type === "moderation" && e.action === "kick" && e.target === "bob",
        WAIT_MS,
      );
      assertEquals(kick.actor, "alice");
      for (const p of [alice, carol]) await p.members("lobby", ["alice", "carol"], WAIT_MS);
      const id = await alice.say(`${mark} after the kick`);
      await carol.next("message", (e) => e.text === `${mark} after the kick`, WAIT_MS);

      // The server stored it for carol's device alone and relayed nothing of lobby to bob.
      const ack = alice.events.find((e) => e.type === "delivered" && e.id === id);
      assertEquals(ack?.type === "delivered" && ack.recipients, 1);
      const toBob = relay.framesOf(bobConn, "to_client").filter((f) =>
        relay.frames.indexOf(f) >= kickedAt
      );
      assertEquals(
        toBob.filter((f) => f.message.type === "msg" || f.message.type === "keys").length,
        0,
        "the server sent bob a message or a key of lobby after the kick",
      );
      // alice's new chain went to carol only: no key package of hers named bob after the kick.
      const packagesToBob = relay.framesOf(aliceConn, "to_server", "keys")
        .filter((f) => relay.frames.indexOf(f) >= kickedAt)
        .flatMap((f) => f.message.items as { to: string }[])
        .filter((item) => item.to === bobSession || item.to.startsWith("bob/"));
      assertEquals(packagesToBob, []);
      // The frame alice sent is on the wire; every key bob ever held is tried on everything.
      assert(
        relay.framesOf(aliceConn, "to_server", "msg").some((f) =>
          relay.frames.indexOf(f) >= kickedAt
        ),
        "the relay captured no message after the kick",
      );
      const opened = await relay.loot();
      assert(opened.includes(`${mark} before the kick`), "the thief cannot even read the control");
      assert(
        !opened.includes(`${mark} after the kick`),
        "bob's keys opened a message sent after his kick",
      );
      const shown = (e: ClientEvent) => e.type === "message" && e.text.includes("after the kick");
      assert(!bob.events.some(shown), "bob was shown the message");
    } finally {
      await Promise.all(joined.map((p) => p.kill()));
      await bob?.client.quit(100).catch(() => {});
      relay.close();
    }
  });
});
