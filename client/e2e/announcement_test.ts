import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { CertificateCache } from "../../crypto/certificate_cache.ts";
import { createCA, issueUserCertificate } from "../../crypto/x509.ts";
import { deviceUri } from "../../protocol/devices.ts";
import {
  ANNOUNCE_MAX_AGE_MS,
  buildAnnouncement,
  createSessionKeys,
  verifyAnnouncement,
} from "./announcement.ts";
import { E2EError } from "./errors.ts";

const ca = await createCA({ name: "Test CA" });
const verifier = new CertificateCache(ca.cert, "client");
const verify = (der: Uint8Array, now: Date) => verifier.verify(der, now);
const alice = await issueUserCertificate(ca, { name: "alice", uris: [deviceUri("alice", "main")] });
const aliceDer = new Uint8Array(alice.cert.rawData);
const keys = await createSessionKeys();
const SESSION = "S".repeat(22);

Deno.test("verifyAnnouncement() accepts a fresh announcement and returns the session's keys", async () => {
  const payload = await buildAnnouncement("alice", SESSION, aliceDer, alice.privateKey, keys);
  const verified = await verifyAnnouncement(payload, "alice", SESSION, verify);
  assertEquals(verified.user, "alice");
  assertEquals(verified.agreementPublic, keys.agreementPublic);
  assertEquals(verified.keyFingerprint.length, 95);
});

Deno.test("verifyAnnouncement() refuses every forgery and replay with its own reason", async () => {
  const payload = await buildAnnouncement("alice", SESSION, aliceDer, alice.privateKey, keys);
  const mallory = await issueUserCertificate(ca, {
    name: "mallory",
    uris: [deviceUri("mallory", "main")],
  });
  const foreignCA = await createCA({ name: "Test CA" });
  const foreign = await issueUserCertificate(foreignCA, {
    name: "alice",
    uris: [deviceUri("alice", "main")],
  });
  const otherKeys = await createSessionKeys();
  const fields = payload.split(".");
  const swapKeys = [...fields];
  swapKeys[2] = (await buildAnnouncement("alice", SESSION, aliceDer, alice.privateKey, otherKeys))
    .split(".")[2]!;
  const cases: [string, () => Promise<unknown>, string, string][] = [
    [
      "another session's announcement replayed into this one",
      () => verifyAnnouncement(payload, "alice", "T".repeat(22), verify),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "the server claiming it is someone else's",
      () => verifyAnnouncement(payload, "bob", SESSION, verify),
      "bad_announcement",
      "the certificate names alice",
    ],
    [
      "an agreement key swapped in by the server",
      () => verifyAnnouncement(swapKeys.join("."), "alice", SESSION, verify),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "signed by another user's key",
      async () =>
        verifyAnnouncement(
          await buildAnnouncement("alice", SESSION, aliceDer, mallory.privateKey, keys),
          "alice",
          SESSION,
          verify,
        ),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "a certificate from another CA",
      async () =>
        verifyAnnouncement(
          await buildAnnouncement(
            "alice",
            SESSION,
            new Uint8Array(foreign.cert.rawData),
            foreign.privateKey,
            keys,
          ),
          "alice",
          SESSION,
          verify,
        ),
      "bad_announcement",
      "certificate was refused",
    ],
    [
      "older than the maximum age",
      async () =>
        verifyAnnouncement(
          await buildAnnouncement(
            "alice",
            SESSION,
            aliceDer,
            alice.privateKey,
            keys,
            Date.now() - ANNOUNCE_MAX_AGE_MS - 1000,
          ),
          "alice",
          SESSION,
          verify,
        ),
      "stale_announcement",
      "announcement is dated",
    ],
    [
      "dated in the future",
      async () =>
        verifyAnnouncement(
          await buildAnnouncement(
            "alice",
            SESSION,
            aliceDer,
            alice.privateKey,
            keys,
            Date.now() + 3_600_000,
          ),
          "alice",
          SESSION,
          verify,
        ),
      "stale_announcement",
      "announcement is dated",
    ],
    [
      "garbage",
      () => verifyAnnouncement("1.2.3", "alice", SESSION, verify),
      "bad_announcement",
      "Malformed",
    ],
    [
      "bad base64 in a field",
      () => verifyAnnouncement(payload.replace(/\.[^.]+$/, ".***"), "alice", SESSION, verify),
      "bad_announcement",
      "Malformed",
    ],
  ];
  for (const [what, attempt, code, message] of cases) {
    const error = await assertRejects(attempt, E2EError, message, what);
    assertEquals(error.code, code, what);
  }
});
