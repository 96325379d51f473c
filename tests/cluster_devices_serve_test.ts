/**
 * A user's second device on the other server of a cluster (two `openchat serve --cluster`
 * processes and one `nats-server` on 127.0.0.1, real `openchat enroll` and `openchat join`
 * clients): the device is added from the first, vouched for across servers, reads and is read
 * verified, gets direct messages, and its revocation ends only its own session.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { clusterTest } from "./support/cluster_processes.ts";
import { enroll } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";
import { expectPhoneVouched, heardVerified } from "./support/device_checks.ts";

const WAIT_MS = 20_000;

Deno.test(clusterTest(
  "cluster: alice's laptop on A adds her phone, which joins on B: bob on A accepts it as vouched, everyone reads everyone verified, a DM reaches both devices, revoking the phone ends it on B within 2 s while the laptop chats on",
  async ({ cluster, config, join }) => {
    for (const name of ["alice", "bob"]) {
      const result = await enroll(await cluster.invite(name, [0, 1], "laptop"), config(name));
      assertEquals(result.code, 0, result.stderr);
    }
    const laptop = join([cluster.address(0), "--config-dir", config("alice")]);
    await laptop.next("ready", () => true, WAIT_MS);

    // The phone is invited from the laptop's session on A, and enrols through A.
    await laptop.type("/device add phone");
    const offer = await laptop.next("device_invite", () => true, WAIT_MS);
    assertEquals([offer.user, offer.device], ["alice", "phone"]);
    const phoneEnrol = await enroll(offer.token, config("phone"));
    assertEquals(phoneEnrol.code, 0, phoneEnrol.stderr);

    // ... and joins on B, while bob is on A.
    const phone = join([cluster.address(1), "--config-dir", config("phone")]);
    const bob = join([cluster.address(0), "--config-dir", config("bob")]);
    assertStringIncludes(
      (await phone.next("status", () => true, WAIT_MS)).message,
      cluster.address(1),
    );
    for (const member of [laptop, phone, bob]) {
      await member.members("lobby", ["alice", "bob"], WAIT_MS);
    }
    // The laptop's vouch, made on A, reaches bob for a phone on B: no prompt, no warning.
    await expectPhoneVouched(laptop, phone, bob, WAIT_MS);

    const heard = (who: JoinProcess, from: string, text: string) =>
      heardVerified(who, from, text, WAIT_MS);
    await laptop.say("from the laptop on A");
    await heard(bob, "alice", "from the laptop on A");
    await heard(phone, "alice", "from the laptop on A");
    await phone.say("from the phone on B");
    await heard(laptop, "alice", "from the phone on B");
    await heard(bob, "alice", "from the phone on B");
    await bob.say("from bob on A");
    await heard(phone, "bob", "from bob on A");

    // A direct message reaches both of alice's devices, one on each server.
    await bob.type("/msg alice psst");
    const delivered = await bob.next("delivered", () => true, WAIT_MS);
    assertEquals(delivered.recipients, 2);
    for (const device of [laptop, phone]) {
      const dm = await device.next("dm", (e) => e.text === "psst", WAIT_MS);
      assertEquals([dm.from, dm.verified], ["bob", true]);
    }

    // Revoking the phone through the cluster's records ends its session on B, only its.
    const revoked = await cluster.ca(["revoke", "alice/phone", "--yes"]);
    assertEquals(revoked.code, 0, revoked.stderr);
    const revokedAt = performance.now();
    const ended = await phone.next("error", (e) => e.code === "revoked", 5_000);
    const took = performance.now() - revokedAt;
    assert(took <= 2_000, `the phone's session ended ${Math.round(took)} ms after`);
    assertStringIncludes(ended.message, "revoked");
    await laptop.next("leave", (e) => e.user === "alice" && e.reason === "revoked", WAIT_MS);
    await laptop.members("lobby", ["alice", "bob"], WAIT_MS);
    await laptop.say("the laptop carries on");
    await heard(bob, "alice", "the laptop carries on");
    assert(
      !phone.events.some((e) => e.type === "message" && e.text === "the laptop carries on"),
    );
  },
));
