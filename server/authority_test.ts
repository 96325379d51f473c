/**
 * The CA's bounds at and past their edges, in process on a real SQLite file: pending invites in
 * all and per user, devices per user, invite lifetimes, the renewal window, and an invite
 * redeemed at most once even when two redemptions race.
 */

import { assert, assertEquals, assertRejects } from "../tests/support/assert.ts";
import { createCertificateRequest } from "../crypto/csr.ts";
import { generateIdentityKeyPair } from "../crypto/keys.ts";
import {
  AuthorityError,
  CertificateAuthority,
  MAX_DEVICES_PER_USER,
  MAX_INVITE_TTL_MS,
  MAX_PENDING_INVITES,
  MAX_PENDING_INVITES_PER_USER,
  MIN_INVITE_TTL_MS,
  RENEWAL_GRACE_MS,
} from "./authority.ts";

async function withCA(fn: (ca: CertificateAuthority) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-authority-" });
  const ca = await CertificateAuthority.create(dir);
  try {
    await fn(ca);
  } finally {
    ca.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const refusedWith = async (promise: Promise<unknown>, code: string) => {
  const error = await assertRejects(() => promise, AuthorityError);
  assertEquals(error.code, code);
};

Deno.test("pending invites: at most MAX_PENDING_INVITES_PER_USER per user and MAX_PENDING_INVITES in all", async () => {
  await withCA(async (ca) => {
    for (let i = 0; i < MAX_PENDING_INVITES_PER_USER; i++) {
      await ca.createInvite({ name: "alice", device: `d${i}` });
    }
    await refusedWith(ca.createInvite({ name: "alice", device: "one-more" }), "too_many_invites");
    // A used or cancelled invite no longer counts.
    const [first] = ca.store.pendingInvites(new Date(), "alice");
    await ca.cancelInvite(first!.hash.slice(0, 12));
    await ca.createInvite({ name: "alice", device: "again" });

    let made = MAX_PENDING_INVITES_PER_USER;
    for (let user = 0; made < MAX_PENDING_INVITES; user++) {
      for (let i = 0; i < MAX_PENDING_INVITES_PER_USER && made < MAX_PENDING_INVITES; i++) {
        await ca.createInvite({ name: `user${user}`, device: `d${i}` });
        made++;
      }
    }
    assertEquals(ca.store.pendingInvites(new Date()).length, MAX_PENDING_INVITES);
    await refusedWith(ca.createInvite({ name: "zed" }), "too_many_invites");
  });
});

Deno.test("devices: a user holds at most MAX_DEVICES_PER_USER; a new invite for one more is refused, for an existing label it is not", async () => {
  await withCA(async (ca) => {
    for (let i = 0; i < MAX_DEVICES_PER_USER; i++) {
      await ca.issueUser("alice", 30, async () => {}, { device: `d${i}` });
    }
    await refusedWith(ca.createInvite({ name: "alice", device: "extra" }), "too_many_devices");
    await ca.createInvite({ name: "alice", device: "d0" }); // enrolling d0 again: a new key
    await ca.revoke("alice/d1", null);
    await ca.createInvite({ name: "alice", device: "extra" });
  });
});

Deno.test("invite lifetimes: MIN_INVITE_TTL_MS and MAX_INVITE_TTL_MS accepted, a millisecond outside refused", async () => {
  await withCA(async (ca) => {
    await ca.createInvite({ name: "alice", ttlMs: MIN_INVITE_TTL_MS });
    await ca.createInvite({ name: "alice", ttlMs: MAX_INVITE_TTL_MS });
    await refusedWith(ca.createInvite({ name: "alice", ttlMs: MIN_INVITE_TTL_MS - 1 }), "bad_ttl");
    await refusedWith(ca.createInvite({ name: "alice", ttlMs: MAX_INVITE_TTL_MS + 1 }), "bad_ttl");
  });
});

Deno.test("an invite is redeemed once, even by two requests at the same moment; the device's older key is revoked", async () => {
  await withCA(async (ca) => {
    const earlier = await ca.issueUser("alice", 30, async () => {}, { device: "laptop" });
    const { secret } = await ca.createInvite({ name: "alice", device: "laptop" });
    const requests = await Promise.all(
      [0, 1].map(async () =>
        await createCertificateRequest(await generateIdentityKeyPair(), "alice")
      ),
    );
    const results = await Promise.allSettled(
      requests.map((csr) => ca.redeemInvite(secret, csr)),
    );
    assertEquals(results.filter((r) => r.status === "fulfilled").length, 1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assertEquals((failed.reason as AuthorityError).code, "invalid_invite");
    const records = ca.store.byDevice("alice", "laptop");
    assertEquals(records.length, 2);
    assertEquals(ca.store.bySerial(earlier.record.serial)?.revokedAt !== null, true);
    await refusedWith(ca.redeemInvite(secret, requests[0]!), "invalid_invite");
  });
});

Deno.test("renewal: accepted up to RENEWAL_GRACE_MS after expiry, refused a millisecond later", async () => {
  await withCA(async (ca) => {
    const { issued } = await ca.issueUser("alice", 30, async () => {});
    const edge = new Date(issued.cert.notAfter.getTime() + RENEWAL_GRACE_MS);
    const renewed = await ca.renew(issued.cert, "alice", "main", edge);
    assert(renewed.cert.notAfter > edge);
    const past = new Date(edge.getTime() + 1);
    const error = await assertRejects(
      () => ca.renew(issued.cert, "alice", "main", past),
      AuthorityError,
    );
    assertEquals(error.message, "expired");
  });
});
