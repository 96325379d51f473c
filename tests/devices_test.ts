/**
 * Several devices per user, with real processes: alice on a laptop and a phone (the phone added
 * from the laptop with `/device add`), bob on one device, all in one room of a real `openchat
 * serve`. Everyone reads everyone, alice's own messages reach her other device, a direct
 * message reaches every device, and revoking `alice/phone` ends that session within 2 s while
 * the laptop keeps chatting. Then the device frames against an in-process server.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { enroll, enrolled } from "./support/enrolment.ts";
import { JoinProcess } from "./support/join_process.ts";
import { expectPhoneVouched, heardVerified } from "./support/device_checks.ts";
import { joinedClient, RawClient } from "./support/raw_client.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { startServer } from "./support/server_fixture.ts";
import { withServer } from "./support/healthy_pair.ts";
import { decodeInviteToken } from "../protocol/invite_token.ts";

const WAIT_MS = 20_000;

Deno.test("alice on two devices and bob: everyone reads everyone, a DM reaches both of alice's devices, revoking alice/phone ends it within 2 s while the laptop chats on", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    const processes: JoinProcess[] = [];
    try {
      await enrolled(data, "alice", "laptop", `${dir}/laptop`);
      const laptop = JoinProcess.startWith(["--config-dir", `${dir}/laptop`]);
      processes.push(laptop);
      await laptop.next("ready", () => true, WAIT_MS);

      // The phone is added from the laptop: the server makes the invite and records who asked.
      await laptop.type("/device add phone");
      const offer = await laptop.next("device_invite", () => true, WAIT_MS);
      assertEquals([offer.user, offer.device], ["alice", "phone"]);
      assertEquals(decodeInviteToken(offer.token).device, "phone");
      const phoneEnrol = await enroll(offer.token, `${dir}/phone`);
      assertEquals(phoneEnrol.code, 0, phoneEnrol.stderr);
      const phone = JoinProcess.startWith(["--config-dir", `${dir}/phone`]);
      processes.push(phone);

      await enrolled(data, "bob", "main", `${dir}/bob`);
      const bob = JoinProcess.startWith(["--config-dir", `${dir}/bob`]);
      processes.push(bob);
      for (const member of [laptop, phone, bob]) {
        await member.members("lobby", ["alice", "bob"], WAIT_MS);
      }
      // The laptop vouched for the phone (its link request proved the key came with the token):
      // bob accepts the phone without a prompt, and the phone accepts the laptop that invited it.
      await expectPhoneVouched(laptop, phone, bob, WAIT_MS);

      const heard = (who: JoinProcess, from: string, text: string) =>
        heardVerified(who, from, text, WAIT_MS);
      await laptop.say("from the laptop");
      await heard(bob, "alice", "from the laptop");
      await heard(phone, "alice", "from the laptop"); // alice's own message, on her other device
      await bob.say("from bob");
      await heard(laptop, "bob", "from bob");
      await heard(phone, "bob", "from bob");
      await phone.say("from the phone");
      await heard(laptop, "alice", "from the phone");
      await heard(bob, "alice", "from the phone");

      // A direct message goes to every device of its recipient.
      await bob.type("/msg alice psst");
      const delivered = await bob.next("delivered", () => true, WAIT_MS);
      assertEquals(delivered.recipients, 2);
      for (const device of [laptop, phone]) {
        const dm = await device.next("dm", (e) => e.text === "psst", WAIT_MS);
        assertEquals([dm.from, dm.verified], ["bob", true]);
      }

      await laptop.type("/devices");
      const devices = await laptop.next("devices", () => true, WAIT_MS);
      const phoneEntry = devices.devices.find((d) => d.device === "phone");
      assertEquals([phoneEntry?.status, phoneEntry?.invitedBy], ["valid", "laptop"]);
      assert(devices.devices.some((d) => d.device === "laptop" && d.status === "valid"));

      // Revoking one device ends that device's session at once; the other stays.
      const revoke = await openchat(["ca", "revoke", "alice/phone", "--data-dir", data]);
      assertEquals(revoke.code, 0, revoke.stderr);
      assertStringIncludes(revoke.stdout, "Revoked alice/phone");
      const revokedAt = performance.now();
      const ended = await phone.next("error", (e) => e.code === "revoked", 2_000);
      assert(performance.now() - revokedAt <= 2_000);
      assertStringIncludes(ended.message, "revoked");
      assertEquals((await phone.exited(WAIT_MS)).code, 1);
      await laptop.next("leave", (e) => e.user === "alice" && e.reason === "revoked", WAIT_MS);
      await laptop.members("lobby", ["alice", "bob"], WAIT_MS);
      await laptop.say("the laptop carries on");
      await heard(bob, "alice", "the laptop carries on");

      // The revoked phone cannot come back.
      const again = JoinProcess.startWith(["--config-dir", `${dir}/phone`, "--no-reconnect"]);
      processes.push(again);
      assertEquals((await again.exited(WAIT_MS)).code, 1);
      assertStringIncludes(again.stderr, "revoked");
    } finally {
      await Promise.all(processes.map((p) => p.kill()));
      await serve.stop();
    }
  });
});

Deno.test("device frames: invite, list and revoke only the session's own user's devices; refusals name the request", async () => {
  await withServer({}, async (fx) => {
    const laptop = await joinedClient(
      fx.port,
      fx.caPem,
      await fx.issue("alice", { device: "laptop" }),
    );
    const phoneId = await fx.issue("alice", { device: "phone" });
    const phone = await joinedClient(fx.port, fx.caPem, phoneId);
    const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"));

    // Both of alice's devices are online at once; a lookup lists both.
    await bob.send({ type: "lookup", id: "l1", user: "alice" });
    const peer = await bob.next("peer");
    assert(peer.type === "peer");
    assertEquals(peer.sessions.map((s) => s.device).sort(), ["laptop", "phone"]);

    await laptop.send({ type: "device_invite", id: "i1", device: "tablet" });
    const offer = await laptop.next("device_invite");
    assert(offer.type === "device_invite");
    const token = decodeInviteToken(offer.token);
    assertEquals([token.user, token.device, token.addresses], ["alice", "tablet", [
      `127.0.0.1:${fx.port}`,
    ]]);
    const pending = fx.ca.store.pendingInvites(new Date(), "alice");
    assertEquals(pending.map((i) => [i.device, i.invitedBy]), [["tablet", "laptop"]]);

    await bob.send({ type: "devices", id: "l2" });
    const listed = await bob.next("devices");
    assert(listed.type === "devices");
    assertEquals(listed.devices.map((d) => d.device), ["main"]); // bob's own only

    // bob names "phone": it is his own device called phone, which he has not; alice's stays.
    await bob.send({ type: "device_revoke", id: "r1", device: "phone" });
    const refused = await bob.next("error", (m) => m.id === "r1");
    assertEquals([refused.code, refused.fatal], ["no_such_device", false]);
    assert(!phone.ended);

    await laptop.send({ type: "device_revoke", id: "r2", device: "phone" });
    assertEquals((await laptop.next("device_revoked")).type, "device_revoked");
    await phone.expectRefusal("revoked", 2_000);
    const again = await RawClient.connect(fx.port, fx.caPem);
    await again.hello(fx.caPem);
    await again.sendAuth(phoneId);
    await again.expectRefusal("revoked");
    await laptop.send({ type: "device_revoke", id: "r3", device: "phone" });
    assertEquals((await laptop.next("error", (m) => m.id === "r3")).code, "no_such_device");
    for (const client of [laptop, bob, again]) client.close();
  });
});

Deno.test("device frames to a server without device administration: refused as unexpected, after back-pressure, nothing internal", async () => {
  // Device requests are routed asynchronously; their refusal must reach the connection (and
  // close it with its code), not escape as an unhandled rejection.
  const fx = await startServer({}, { registrar: false });
  try {
    const alice = await joinedClient(fx.port, fx.caPem, await fx.issue("alice"));
    await alice.send({ type: "devices", id: "l1" });
    const refused = await alice.expectRefusal("unexpected");
    assertStringIncludes(refused.message, "does not manage devices");
    const bob = await joinedClient(fx.port, fx.caPem, await fx.issue("bob"));
    await bob.send({ type: "device_invite", id: "i1", device: "tablet" });
    await bob.expectRefusal("unexpected");
    assertEquals(fx.logs.filter((l) => l.level === "error"), []);
  } finally {
    await fx.close();
  }
});
