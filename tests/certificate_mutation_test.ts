/**
 * Hostile certificates from the attacker's side (issue 11, items 3 and 6): single-bit flips across
 * the whole DER of real certificates, and hand-made re-encodings of one, against the server's
 * check of client certificates and the client's check of the server certificate. Each is refused
 * with the right code, never as an internal error, and no certificate has a second encoding that
 * passes, bar the one ECDSA itself allows.
 */

import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { ECDSASigValue } from "@peculiar/asn1-ecc";
import { assert, assertEquals } from "./support/assert.ts";
import { withServer } from "./support/healthy_pair.ts";
import { RawClient } from "./support/raw_client.ts";
import type { TestIdentity } from "./support/server_fixture.ts";
import { checkServerCertificate } from "../client/server_certificate.ts";
import { SetupError } from "../client/setup_error.ts";
import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { ClientCertificates } from "../server/client_certificates.ts";
import { signLabelled } from "../crypto/sign.ts";
import {
  certificateFingerprint,
  certificateSerial,
  createCA,
  issueServerCertificate,
  issueUserCertificate,
  type KeyedCertificate,
  verifyCertificate,
} from "../crypto/x509.ts";
import { DEFAULT_DEVICE, deviceOf, deviceUri } from "../protocol/devices.ts";
import { CLIENT_PROOF_LABEL, clientProofData, RENEW_PROOF_LABEL } from "../protocol/handshake.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { NONCE_BYTES, PROTOCOL_VERSION } from "../protocol/messages.ts";
import { ServerSetup } from "../server/setup.ts";
import type { ServerIdentity } from "../server/server_identity.ts";

/**
 * Single-bit flips across the whole of `der`: all eight bits of every byte of the encoding that
 * the signature does not cover (the outer header, the second signature algorithm, the headers of
 * the signature's BIT STRING, SEQUENCE and INTEGERs: where a flip used to leave the certificate
 * valid), and one bit of every other byte, a different one from byte to byte: the signed part,
 * where each flip breaks the signature and the point is the parser, and the signature's two
 * integers, where each flip just breaks the signature.
 */
function* bitFlips(der: Uint8Array): Generator<{ at: string; der: Uint8Array }> {
  const parsed = AsnConvert.parse(der, Certificate);
  const signedLength = parsed.tbsCertificateRaw!.byteLength;
  const signedStart = der.indexOf(0x30, 1); // the tbsCertificate SEQUENCE after the outer header
  const pair = AsnConvert.parse(parsed.signatureValue, ECDSASigValue);
  const sLength = pair.s.byteLength;
  const rLength = pair.r.byteLength;
  // The signature ends the certificate: ... 02 len r 02 len s.
  const sStart = der.length - sLength;
  const rStart = sStart - 2 - rLength;
  const valueByte = (i: number) =>
    (i >= signedStart && i < signedStart + signedLength) ||
    (i >= rStart && i < rStart + rLength) || i >= sStart;
  for (let i = 0; i < der.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      if (valueByte(i) && bit !== (i * 5) % 8) continue;
      const mutated = der.slice();
      mutated[i]! ^= 1 << bit;
      yield { at: `${i}.${bit}`, der: mutated };
    }
  }
}

/** Counts of each outcome, for a readable failure. */
function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
  return counts;
}

/** A CA, a server identity, and the certificate and key of alice's device, all in memory. */
async function pki() {
  const ca = await createCA({ name: "Mutation CA" });
  const server = await issueServerCertificate(ca, { hostnames: ["localhost", "127.0.0.1"] });
  const alice = await issueUserCertificate(ca, {
    name: "alice",
    uris: [deviceUri("alice", DEFAULT_DEVICE)],
  });
  return { ca, server, alice };
}

function serverIdentity(server: KeyedCertificate): ServerIdentity {
  return {
    cert: server.cert,
    certDer: new Uint8Array(server.cert.rawData),
    certPem: server.certPem,
    keyPem: server.privateKeyPem,
    privateKey: server.privateKey,
  } as ServerIdentity;
}

/**
 * What the server's set-up makes of `certDer` presented with a proof by `key` (without a key, a
 * proof that cannot verify: the certificate is checked first, so a certificate that passes shows
 * as `bad_signature`): the user it lets in, the refusal code, or `internal` for anything that is
 * not a protocol refusal.
 */
async function serverOutcome(
  setupFor: () => ServerSetup,
  identity: ServerIdentity,
  certDer: Uint8Array,
  key?: CryptoKey,
): Promise<string> {
  const setup = setupFor();
  const clientNonce = randomBytes(NONCE_BYTES);
  const hello = await setup.handle({
    type: "hello",
    version: PROTOCOL_VERSION,
    nonce: toBase64Url(clientNonce, false),
  });
  const serverNonce = Uint8Array.fromBase64(
    (hello.reply as { nonce: string }).nonce,
    { alphabet: "base64url" },
  );
  const proof = await clientProofData(clientNonce, serverNonce, identity.certDer);
  const signature = key ? await signLabelled(key, CLIENT_PROOF_LABEL, proof) : new Uint8Array(64);
  try {
    const step = await setup.handle({
      type: "auth",
      cert: toBase64Url(certDer, false),
      signature: toBase64Url(signature, false),
    });
    return `accepted:${step.verified?.user}:${step.verified?.serial}`;
  } catch (error) {
    return error instanceof ProtocolError ? error.code : `internal:${String(error)}`;
  }
}

/**
 * The server's set-up over `pki()`, verifying through a certificate cache as the server does, and
 * admitting, as the CA's database does, only the `issued` certificates (by serial and SHA-256).
 */
async function serverSetups(
  ca: KeyedCertificate,
  identity: ServerIdentity,
  issued: KeyedCertificate[],
) {
  const cache = new ClientCertificates(ca.cert);
  const recorded = new Set(
    await Promise.all(
      issued.map(async (cert) =>
        `${certificateSerial(cert.cert)}:${await certificateFingerprint(cert.cert)}`
      ),
    ),
  );
  return () =>
    new ServerSetup({
      caCert: ca.cert,
      identity,
      certificateStatus: (serial, fingerprint) =>
        recorded.has(`${serial}:${fingerprint}`) ? "issued" : "unknown",
      verifyClientCertificate: (der, now) => cache.verify(der, now),
    });
}

Deno.test("single-bit flips across a client certificate are each refused by the server's set-up as bad_certificate or wrong_ca", async () => {
  const { ca, server, alice } = await pki();
  const identity = serverIdentity(server);
  const setups = await serverSetups(ca, identity, [alice]);
  const original = new Uint8Array(alice.cert.rawData);
  const control = await serverOutcome(setups, identity, original, alice.privateKey);
  assert(control.startsWith("accepted:alice:"), control);
  const outcomes: string[] = [];
  const unexpected: string[] = [];
  for (const flip of bitFlips(original)) {
    const outcome = await serverOutcome(setups, identity, flip.der);
    outcomes.push(outcome.split(":")[0]!);
    if (outcome !== "bad_certificate" && outcome !== "wrong_ca") {
      unexpected.push(`${flip.at} ${outcome}`);
    }
  }
  assert(outcomes.length > 500, `${outcomes.length} flips`);
  // Not even an "accepted, same meaning": a flipped bit is another encoding, and one certificate
  // has exactly one.
  assertEquals(unexpected, [], JSON.stringify(tally(outcomes)));
});

Deno.test("single-bit flips across the server certificate are each refused by the client's check as server_certificate", async () => {
  const { ca, server } = await pki();
  const original = new Uint8Array(server.cert.rawData);
  await checkServerCertificate(original, ca.cert, "localhost");
  const outcomes: string[] = [];
  const unexpected: string[] = [];
  for (const flip of bitFlips(original)) {
    let outcome: string;
    try {
      await checkServerCertificate(flip.der, ca.cert, "localhost");
      outcome = "accepted";
    } catch (error) {
      outcome = error instanceof SetupError ? error.code : `internal:${String(error)}`;
    }
    outcomes.push(outcome.split(":")[0]!);
    if (outcome !== "server_certificate") unexpected.push(`${flip.at} ${outcome}`);
  }
  assertEquals(unexpected, [], JSON.stringify(tally(outcomes)));
});

Deno.test("single-bit flips of a client certificate over TLS: each refused with its code, nothing logged as internal", async () => {
  await withServer({}, async (fx) => {
    const alice = await fx.issue("alice");
    const seen: string[] = [];
    // A sample across the whole DER: every tenth byte, a different bit each time.
    for (let i = 0; i < alice.certDer.length; i += 10) {
      const mutated = alice.certDer.slice();
      mutated[i]! ^= 1 << (i % 8);
      const client = await RawClient.connect(fx.port, fx.caPem);
      await client.hello(fx.caPem);
      await client.sendAuth({ ...alice, certDer: mutated });
      const error = await client.next("error");
      assert(error.fatal, `byte ${i}`);
      assert(["bad_certificate", "wrong_ca"].includes(error.code), `byte ${i}: ${error.code}`);
      seen.push(error.code);
      await client.whenEnded();
    }
    assert(seen.length > 30);
    assertEquals(fx.logs.filter((l) => l.level === "error"), []);
  });
});

// ---- non-canonical encodings ---------------------------------------------------------------

/** DER tag-length-value; `longForm` spends one more length byte than needed. */
function tlv(tag: number, content: Uint8Array, longForm = false): Uint8Array {
  const n = content.length;
  const minimal = n < 0x80
    ? [n]
    : n < 0x100
    ? [0x81, n]
    : n < 0x10000
    ? [0x82, n >> 8, n & 0xff]
    : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const length = longForm
    ? (n < 0x80 ? [0x81, n] : [minimal[0]! + 1, 0, ...minimal.slice(1)])
    : minimal;
  const out = new Uint8Array(1 + length.length + n);
  out[0] = tag;
  out.set(length, 1);
  out.set(content, 1 + length.length);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The order of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toHex()}`);
}

/** A positive INTEGER's minimal DER content. */
function integerContent(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const bytes = Uint8Array.fromHex(hex);
  return bytes[0]! >= 0x80 ? concat(Uint8Array.of(0), bytes) : bytes;
}

/** Re-encodings of `der` that carry the same signed contents and, bar the last, the same signature. */
function reencodings(der: Uint8Array): [string, Uint8Array][] {
  const parsed = AsnConvert.parse(der, Certificate);
  const tbs = new Uint8Array(parsed.tbsCertificateRaw!);
  const sigAlg = new Uint8Array(AsnConvert.serialize(parsed.signatureAlgorithm));
  const pair = AsnConvert.parse(parsed.signatureValue, ECDSASigValue);
  const r = toBigInt(new Uint8Array(pair.r));
  const s = toBigInt(new Uint8Array(pair.s));
  const ecdsa = (rContent: Uint8Array, sContent: Uint8Array, longForm = false) =>
    tlv(0x30, concat(tlv(0x02, rContent), tlv(0x02, sContent)), longForm);
  const bits = (signature: Uint8Array, longForm = false, unused = 0) =>
    tlv(0x03, concat(Uint8Array.of(unused), signature), longForm);
  const canonicalSig = ecdsa(integerContent(r), integerContent(s));
  const cert = (alg: Uint8Array, sig: Uint8Array, longForm = false) =>
    tlv(0x30, concat(tbs, alg, sig), longForm);
  // ecdsa-with-SHA256 with explicit NULL parameters (RFC 5758 says they must be absent).
  const sigAlgWithNull = tlv(0x30, concat(sigAlg.subarray(2), Uint8Array.of(0x05, 0x00)));
  return [
    ["the canonical encoding itself (control)", cert(sigAlg, bits(canonicalSig))],
    ["outer length in long form", cert(sigAlg, bits(canonicalSig), true)],
    ["a byte after the certificate", concat(cert(sigAlg, bits(canonicalSig)), Uint8Array.of(0))],
    ["signature algorithm with NULL parameters", cert(sigAlgWithNull, bits(canonicalSig))],
    ["signature BIT STRING length in long form", cert(sigAlg, bits(canonicalSig, true))],
    ["signature BIT STRING claiming an unused bit", cert(sigAlg, bits(canonicalSig, false, 1))],
    [
      "ECDSA SEQUENCE length in long form",
      cert(sigAlg, bits(ecdsa(integerContent(r), integerContent(s), true))),
    ],
    [
      "ECDSA r with a spare leading zero",
      cert(sigAlg, bits(ecdsa(concat(Uint8Array.of(0), integerContent(r)), integerContent(s)))),
    ],
    [
      "ECDSA s with a spare leading zero",
      cert(sigAlg, bits(ecdsa(integerContent(r), concat(Uint8Array.of(0), integerContent(s))))),
    ],
  ];
}

Deno.test("non-canonical encodings of a valid certificate are refused by the server (over TLS) and by the client", async () => {
  await withServer({}, async (fx) => {
    const alice = await fx.issue("alice");
    const variants = reencodings(alice.certDer);
    const [control, ...noncanonical] = variants;
    assertEquals(control![1], alice.certDer, "the test's own encoder reproduces the original");
    const outcomes: string[] = [];
    for (const [what, der] of noncanonical) {
      const client = await RawClient.connect(fx.port, fx.caPem);
      await client.hello(fx.caPem);
      await client.sendAuth({ ...alice, certDer: der as TestIdentity["certDer"] });
      const reply = await Promise.race([client.next("error"), client.next("welcome")]);
      outcomes.push(`${what}: ${reply.type === "error" ? reply.code : "welcome"}`);
      client.close();
    }
    assertEquals(outcomes, noncanonical.map(([what]) => `${what}: bad_certificate`));
  });
  const { ca, server } = await pki();
  const [, ...noncanonical] = reencodings(new Uint8Array(server.cert.rawData));
  const outcomes: string[] = [];
  for (const [what, der] of noncanonical) {
    const outcome = await checkServerCertificate(der, ca.cert, "localhost").then(
      () => "accepted",
      (error) => error instanceof SetupError ? error.code : `internal: ${error}`,
    );
    outcomes.push(`${what}: ${outcome}`);
  }
  assertEquals(outcomes, noncanonical.map(([what]) => `${what}: server_certificate`));
});

/** ECDSA's own twin of `der`: the same signed part, the signature `(r, n - s)`. */
function ecdsaTwin(der: Uint8Array): Uint8Array {
  const parsed = AsnConvert.parse(der, Certificate);
  const pair = AsnConvert.parse(parsed.signatureValue, ECDSASigValue);
  const twinPair = concat(
    tlv(0x02, integerContent(toBigInt(new Uint8Array(pair.r)))),
    tlv(0x02, integerContent(P256_N - toBigInt(new Uint8Array(pair.s)))),
  );
  return tlv(
    0x30,
    concat(
      new Uint8Array(parsed.tbsCertificateRaw!),
      new Uint8Array(AsnConvert.serialize(parsed.signatureAlgorithm)),
      tlv(0x03, concat(Uint8Array.of(0), tlv(0x30, twinPair))),
    ),
  );
}

Deno.test("the one twin no encoding rule can refuse, (r, n - s), carries the same name, device, serial and key, and the server refuses it as unknown_certificate", async () => {
  // ECDSA itself is malleable: anyone can turn a signature (r, s) into (r, n - s). The twin is a
  // valid certificate with another fingerprint and exactly the same contents. Peers trust keys
  // by their SubjectPublicKeyInfo fingerprint, which it shares; the server admits only the
  // encoding the CA recorded (serial and SHA-256 of the DER), so it refuses the twin at login
  // (docs/SECURITY.md).
  const { ca, server, alice } = await pki();
  const der = new Uint8Array(alice.cert.rawData);
  const twin = ecdsaTwin(der);
  const a = await verifyCertificate(der, ca.cert, { usage: "client" });
  const b = await verifyCertificate(twin, ca.cert, { usage: "client" });
  assertEquals([b.commonName, deviceOf(b.cert), b.serial], [a.commonName, "main", a.serial]);
  assertEquals(
    new Uint8Array(b.cert.publicKey.rawData),
    new Uint8Array(a.cert.publicKey.rawData),
  );
  const identity = serverIdentity(server);
  const setups = await serverSetups(ca, identity, [alice]);
  const accepted = await serverOutcome(setups, identity, der, alice.privateKey);
  assert(accepted.startsWith("accepted:alice:"), accepted);
  assertEquals(
    await serverOutcome(setups, identity, twin, alice.privateKey),
    "unknown_certificate",
  );
});

Deno.test("the ECDSA twin of a recorded certificate is refused over TLS as unknown_certificate, for login and for renewal", async () => {
  await withServer({}, async (fx) => {
    const alice = await fx.issue("alice");
    const twin = ecdsaTwin(alice.certDer) as TestIdentity["certDer"];
    const login = await RawClient.connect(fx.port, fx.caPem);
    await login.hello(fx.caPem);
    await login.sendAuth({ ...alice, certDer: twin });
    assertEquals((await login.next("error")).code, "unknown_certificate");
    await login.whenEnded();
    const renewal = await RawClient.connect(fx.port, fx.caPem);
    await renewal.hello(fx.caPem);
    await renewal.send({
      type: "renew",
      cert: toBase64Url(twin, false),
      signature: toBase64Url(
        await signLabelled(alice.privateKey, RENEW_PROOF_LABEL, await renewal.proof()),
        false,
      ),
    });
    assertEquals((await renewal.next("error")).code, "unknown_certificate");
    await renewal.whenEnded();
    assertEquals(fx.logs.filter((l) => l.level === "error"), []);
  });
});
