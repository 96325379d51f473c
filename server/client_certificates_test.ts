import { assert, assertEquals, assertRejects } from "../tests/support/assert.ts";
import {
  CertificateError,
  certificateFingerprint,
  certificateSerial,
  createCA,
  issueUserCertificate,
} from "../crypto/x509.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { ClientCertificates } from "./client_certificates.ts";

const ca = await createCA({ name: "Test CA" });
const NOW = new Date();
const issue = (name: string, uris = [`openchat:${name}/laptop`], days = 30) =>
  issueUserCertificate(ca, { name, uris, days, now: NOW });

Deno.test("ClientCertificates.verify() gives what set-up needs, and remembers it", async () => {
  const alice = await issue("alice");
  const der = new Uint8Array(alice.cert.rawData);
  const certificates = new ClientCertificates(ca.cert);
  const facts = await certificates.verify(der, NOW);
  assertEquals(facts.commonName, "alice");
  assertEquals(facts.device, "laptop");
  assertEquals(facts.serial, certificateSerial(alice.cert));
  assertEquals(facts.fingerprint, await certificateFingerprint(alice.cert));
  assertEquals(facts.publicKey.algorithm.name, "ECDSA");
  assertEquals(facts.notAfter, alice.cert.notAfter.getTime());
  // The same bytes again: the same facts, not verified again.
  assert(await certificates.verify(der.slice(), NOW) === facts, "the remembered facts");
  assertEquals(certificates.size, 1);
});

Deno.test("ClientCertificates.verify() checks the dates of a remembered certificate on every use", async () => {
  const bob = await issue("bob", undefined, 1);
  const der = new Uint8Array(bob.cert.rawData);
  const certificates = new ClientCertificates(ca.cert);
  await certificates.verify(der, NOW);
  const later = new Date(bob.cert.notAfter.getTime() + 1);
  const error = await assertRejects(() => certificates.verify(der, later), CertificateError);
  assertEquals(error.code, "expired");
  const before = new Date(bob.cert.notBefore.getTime() - 1);
  assertEquals(
    (await assertRejects(() => certificates.verify(der, before), CertificateError)).code,
    "not_yet_valid",
  );
});

Deno.test("ClientCertificates.verify() refuses, and forgets nothing wrongly: other CA, bad name, no device", async () => {
  const certificates = new ClientCertificates(ca.cert);
  const other = await createCA({ name: "Other CA" });
  const foreign = await issueUserCertificate(other, {
    name: "mallory",
    uris: ["openchat:mallory/laptop"],
  });
  assertEquals(
    (await assertRejects(
      () => certificates.verify(new Uint8Array(foreign.cert.rawData), NOW),
      CertificateError,
    )).code,
    "wrong_ca",
  );
  const badName = await issue("Not A Name", ["openchat:Not A Name/laptop"]);
  assertEquals(
    (await assertRejects(
      () => certificates.verify(new Uint8Array(badName.cert.rawData), NOW),
      ProtocolError,
    )).code,
    "bad_name",
  );
  const noDevice = await issue("carol", []);
  assertEquals(
    (await assertRejects(
      () => certificates.verify(new Uint8Array(noDevice.cert.rawData), NOW),
      CertificateError,
    )).code,
    "malformed",
  );
  assertEquals(certificates.size, 0);
});

Deno.test("ClientCertificates forgets the least recently used past its capacity", async () => {
  const certificates = new ClientCertificates(ca.cert, 2);
  const [a, b, c] = await Promise.all(["ann", "ben", "cat"].map((name) => issue(name)));
  const der = (cert: typeof a) => new Uint8Array(cert!.cert.rawData);
  const first = await certificates.verify(der(a), NOW);
  await certificates.verify(der(b), NOW);
  await certificates.verify(der(a), NOW); // ann is used again: ben is now the oldest
  await certificates.verify(der(c), NOW);
  assertEquals(certificates.size, 2);
  assert(await certificates.verify(der(a), NOW) === first, "ann is still remembered");
  const again = await certificates.verify(der(b), NOW); // ben was forgotten: verified again
  assertEquals(again.commonName, "ben");
});
