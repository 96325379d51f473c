/**
 * Renewal keeps the key: by hand with `openchat renew` (also for a certificate expired less than
 * 60 days ago, never for a revoked or unrecorded one), and by itself in a connected client once
 * two thirds of the lifetime have passed, with peers seeing no key change.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { ChatPeer } from "./support/chat_peer.ts";
import { enrolled } from "./support/enrolment.ts";
import { withServer } from "./support/healthy_pair.ts";
import { JoinProcess } from "./support/join_process.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { loadIdentity } from "../client/identity.ts";
import { renewalDue } from "../client/renewal.ts";
import { issueUserCertificate } from "../crypto/x509.ts";
import { deviceUri } from "../protocol/devices.ts";
import { formatIdentityFile } from "../protocol/identity_file.ts";
import { CertificateAuthority, RENEWAL_GRACE_MS } from "../server/authority.ts";

const DAY = 86_400_000;
const WAIT_MS = 20_000;

/** Issues `name` a 30-day certificate dated `ageDays` ago and writes its identity file. */
async function backdated(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  ageMs: number,
  record = true,
): Promise<string> {
  const path = `${dir}/${name}.pem`;
  const now = new Date(Date.now() - ageMs);
  const write = (certPem: string, keyPem: string) =>
    Deno.writeTextFile(path, formatIdentityFile(certPem, keyPem, ca.certPem), { mode: 0o600 });
  if (record) {
    await ca.issueUser(name, 30, (issued) => write(issued.certPem, issued.privateKeyPem), { now });
  } else {
    const issued = await issueUserCertificate(ca.issuer, {
      name,
      uris: [deviceUri(name, "main")],
      days: 30,
      now,
    });
    await write(issued.certPem, issued.privateKeyPem);
  }
  return path;
}

Deno.test("openchat renew: same key, later expiry; expired within 60 days renews, past it and revoked or unrecorded ones are refused", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    const ca = await CertificateAuthority.load(data);
    const address = `127.0.0.1:${serve.port}`;
    const renew = (path: string) =>
      openchat(["renew", address, "--identity", path, "--config-dir", `${dir}/config`]);
    try {
      const cases: [string, number, boolean, number, string][] = [
        ["fresh", 10 * DAY, true, 0, "Renewed fresh/main"],
        ["lapsed", 40 * DAY, true, 0, "Renewed lapsed/main"], // expired 10 days ago
        ["edge", 30 * DAY + RENEWAL_GRACE_MS - DAY, true, 0, "Renewed edge/main"],
        ["ancient", 30 * DAY + RENEWAL_GRACE_MS + DAY, true, 1, "(expired)"],
        ["ghost", 10 * DAY, false, 1, "(unknown_certificate)"],
      ];
      for (const [name, age, record, code, message] of cases) {
        const path = await backdated(ca, dir, name, age, record);
        const before = await loadIdentity(path);
        const text = await Deno.readTextFile(path);
        const result = await renew(path);
        assertEquals(result.code, code, `${name}: ${result.stderr}`);
        assertStringIncludes(result.stdout + result.stderr, message);
        if (code !== 0) {
          assertEquals(await Deno.readTextFile(path), text, `${name}: the file changed`);
          continue;
        }
        const after = await loadIdentity(path);
        assertEquals(after.keyFingerprint, before.keyFingerprint);
        assertEquals(after.device, "main");
        assert(after.cert.notAfter.getTime() > before.cert.notAfter.getTime());
        assert(after.cert.notAfter.getTime() > Date.now() + 29 * DAY);
        assert(after.cert.serialNumber !== before.cert.serialNumber);
        assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
        assertStringIncludes(result.stdout, `Same key: ${before.keyFingerprint}`);
      }
      // A revoked certificate never renews.
      const path = await backdated(ca, dir, "gone", 5 * DAY);
      await ca.revoke("gone", "stolen");
      const revoked = await renew(path);
      assertEquals(revoked.code, 1);
      assertStringIncludes(revoked.stderr, "(revoked)");
      const list = JSON.parse(
        (await openchat(["ca", "list", "--json", "--data-dir", data])).stdout,
      ) as { name: string; renewed_from: string | null }[];
      assertEquals(list.filter((r) => r.renewed_from !== null).map((r) => r.name), [
        "fresh",
        "lapsed",
        "edge",
      ]);
    } finally {
      ca.close();
      await serve.stop();
    }
  });
});

Deno.test("a connected openchat join renews by itself at two thirds of the lifetime; bob sees no key change, before or after a restart", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    const serve = await startServeProcess(data);
    const processes: JoinProcess[] = [];
    try {
      const address = `127.0.0.1:${serve.port}`;
      await enrolled(data, "bob", "main", `${dir}/bob`);
      const bob = JoinProcess.startWith(["--config-dir", `${dir}/bob`]);
      processes.push(bob);
      await bob.next("ready", () => true, WAIT_MS);

      const ca = await CertificateAuthority.load(data);
      const path = await backdated(ca, dir, "alice", 21 * DAY); // past 20 of 30 days
      ca.close();
      const before = await loadIdentity(path);
      let alice = JoinProcess.start(address, path, `${dir}/alice-config`);
      processes.push(alice);
      const notice = await alice.next(
        "notice",
        (e) => e.message.includes("Renewed this device's certificate (same key)"),
        WAIT_MS,
      );
      assertStringIncludes(notice.message, "valid until");
      const after = await loadIdentity(path);
      assertEquals(after.keyFingerprint, before.keyFingerprint);
      assert(after.cert.notAfter.getTime() > Date.now() + 29 * DAY);

      await bob.members("lobby", ["alice", "bob"], WAIT_MS);
      await alice.say("after renewal");
      const heard = await bob.next("message", (e) => e.text === "after renewal", WAIT_MS);
      assertEquals(heard.verified, true);

      // Back with the renewed file: the same key, so still no change for bob.
      await alice.close();
      alice = JoinProcess.start(address, path, `${dir}/alice-config`);
      processes.push(alice);
      await bob.members("lobby", ["alice", "bob"], WAIT_MS);
      await alice.say("after a restart");
      const again = await bob.next("message", (e) => e.text === "after a restart", WAIT_MS);
      assertEquals(again.verified, true);
      assertEquals(bob.events.filter((e) => e.type === "key_changed"), []);
      assert(!alice.events.some((e) => e.type === "notice" && e.message.includes("Renewed")));
    } finally {
      await Promise.all(processes.map((p) => p.kill()));
      await serve.stop();
    }
  });
});

Deno.test("renewal follows an injected clock: due at two thirds of the lifetime, done without waiting", async () => {
  await withServer({}, async (fx) => {
    const start = Date.now();
    let now = start;
    const bob = await ChatPeer.join(fx, "bob");
    const alice = await ChatPeer.join(fx, "alice", ["lobby"], { clock: () => new Date(now) });
    try {
      const identity = alice.client.identity;
      const lifetime = identity.cert.notAfter.getTime() - identity.cert.notBefore.getTime();
      const due = identity.cert.notBefore.getTime() + lifetime * 2 / 3;
      assert(!renewalDue(identity, new Date(due - 1)));
      assert(renewalDue(identity, new Date(due)));
      await alice.waitFor("ready", (e) => e.type === "ready");
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assertEquals(alice.client.identity, identity, "renewed before it was due");
      now = due + 1;
      await alice.waitFor(
        "the renewal notice",
        (e) => e.type === "notice" && e.message.startsWith("Renewed"),
      );
      assertEquals(alice.client.identity.keyFingerprint, identity.keyFingerprint);
      assert(alice.client.identity.cert.notAfter > identity.cert.notAfter);
      assertEquals(bob.events.filter((e) => e.type === "key_changed"), []);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });
});
