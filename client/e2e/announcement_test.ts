import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { CertificateCache } from "../../crypto/certificate_cache.ts";
import { createCA, issueUserCertificate } from "../../crypto/x509.ts";
import { deviceOf, deviceUri } from "../../protocol/devices.ts";
import { OwnAgreementKeys } from "./agreement.ts";
import {
  ANNOUNCE_MAX_AGE_MS,
  buildAnnouncement,
  createSigningKeys,
  verifyAnnouncement,
} from "./announcement.ts";
import { E2EError } from "./errors.ts";

const ca = await createCA({ name: "Test CA" });
const verifier = new CertificateCache(ca.cert, "client");
const verify = (der: Uint8Array, now: Date) => verifier.verify(der, now);
const issue = (name: string, device: string, issuer = ca) =>
  issueUserCertificate(issuer, { name, uris: [deviceUri(name, device)] });
const alice = await issue("alice", "laptop");
const aliceDer = new Uint8Array(alice.cert.rawData);
const signing = await createSigningKeys();
const agreement = await OwnAgreementKeys.create(Date.now());
const SESSION = "S".repeat(22);
const WHO = { user: "alice", device: "laptop", session: SESSION };

function announce(options: {
  who?: typeof WHO;
  certDer?: Uint8Array;
  deviceKey?: CryptoKey;
  agreementPublic?: Uint8Array;
  ts?: number;
} = {}) {
  return buildAnnouncement({
    who: options.who ?? WHO,
    certDer: options.certDer ?? aliceDer,
    deviceKey: options.deviceKey ?? alice.privateKey,
    agreementPublic: options.agreementPublic ?? agreement.current.publicKey,
    signingPublic: signing.publicKey,
    ts: options.ts ?? Date.now(),
  });
}

Deno.test("verifyAnnouncement() accepts a fresh announcement and returns the session's keys and device", async () => {
  const verified = await verifyAnnouncement(await announce(), WHO, verify, deviceOf);
  assertEquals([verified.user, verified.device, verified.session], ["alice", "laptop", SESSION]);
  assertEquals(verified.agreementPublic, agreement.current.publicKey);
  assertEquals(verified.keyFingerprint.length, 95);
  assertEquals(verified.keyDigest.length, 32);
});

Deno.test("verifyAnnouncement() refuses every forgery and replay with its own reason", async () => {
  const payload = await announce();
  const mallory = await issue("mallory", "main");
  const foreignCA = await createCA({ name: "Test CA" });
  const foreign = await issue("alice", "laptop", foreignCA);
  const otherKeys = await OwnAgreementKeys.create(Date.now());
  const swapped = payload.split(".");
  swapped[2] = (await announce({ agreementPublic: otherKeys.current.publicKey })).split(".")[2]!;
  const cases: [string, () => Promise<unknown>, string, string][] = [
    [
      "another session's announcement replayed into this one",
      () => verifyAnnouncement(payload, { ...WHO, session: "T".repeat(22) }, verify, deviceOf),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "the server claiming it is someone else's",
      () => verifyAnnouncement(payload, { ...WHO, user: "bob" }, verify, deviceOf),
      "bad_announcement",
      "the certificate names alice/laptop",
    ],
    [
      "the server claiming it is another device",
      () => verifyAnnouncement(payload, { ...WHO, device: "phone" }, verify, deviceOf),
      "bad_announcement",
      "the certificate names alice/laptop",
    ],
    [
      "an agreement key swapped in by the server",
      () => verifyAnnouncement(swapped.join("."), WHO, verify, deviceOf),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "signed by another user's key",
      async () =>
        verifyAnnouncement(
          await announce({ deviceKey: mallory.privateKey }),
          WHO,
          verify,
          deviceOf,
        ),
      "bad_announcement",
      "signature does not verify",
    ],
    [
      "a certificate from another CA",
      async () =>
        verifyAnnouncement(
          await announce({
            certDer: new Uint8Array(foreign.cert.rawData),
            deviceKey: foreign.privateKey,
          }),
          WHO,
          verify,
          deviceOf,
        ),
      "bad_announcement",
      "certificate was refused",
    ],
    [
      "older than the maximum age",
      async () =>
        verifyAnnouncement(
          await announce({ ts: Date.now() - ANNOUNCE_MAX_AGE_MS - 1000 }),
          WHO,
          verify,
          deviceOf,
        ),
      "stale_announcement",
      "announcement is dated",
    ],
    [
      "dated in the future",
      async () =>
        verifyAnnouncement(await announce({ ts: Date.now() + 3_600_000 }), WHO, verify, deviceOf),
      "stale_announcement",
      "announcement is dated",
    ],
    [
      "a timestamp spelled with a leading zero",
      () => verifyAnnouncement(payload.replace(/^2\./, "2.0"), WHO, verify, deviceOf),
      "bad_announcement",
      "Malformed",
    ],
    [
      "the first format",
      () => verifyAnnouncement(payload.replace(/^2\./, "1."), WHO, verify, deviceOf),
      "bad_announcement",
      "Malformed",
    ],
    [
      "garbage",
      () => verifyAnnouncement("2.2.3", WHO, verify, deviceOf),
      "bad_announcement",
      "Malformed",
    ],
    [
      "bad base64 in a field",
      () => verifyAnnouncement(payload.replace(/\.[^.]+$/, ".***"), WHO, verify, deviceOf),
      "bad_announcement",
      "Malformed",
    ],
  ];
  for (const [what, attempt, code, message] of cases) {
    const error = await assertRejects(attempt, E2EError, message, what);
    assertEquals(error.code, code, what);
  }
});
