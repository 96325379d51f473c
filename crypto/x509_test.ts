import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../tests/support/assert.ts";
import { requireTool, run } from "../tests/support/tools.ts";
import { utf8 } from "./bytes.ts";
import { importIdentityPrivateKey } from "./keys.ts";
import {
  CertificateError,
  type CertificateProblem,
  certificateSerial,
  createCA,
  issueServerCertificate,
  issueUserCertificate,
  parseCertificate,
  privateKeyMatches,
  randomSerial,
  subjectAltNames,
  verifyCertificate,
} from "./x509.ts";

const ca = await createCA({ name: "Test CA" });
const DAY = 86_400_000;

async function withFiles<T>(files: Record<string, string>, fn: (dir: string) => Promise<T>) {
  const dir = await Deno.makeTempDir({ prefix: "openchat-x509-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openssl verify accepts CA-issued user and server certificates", async () => {
  await requireTool("openssl", ["version"]);
  const user = await issueUserCertificate(ca, { name: "alice" });
  const server = await issueServerCertificate(ca, { hostnames: ["localhost", "127.0.0.1", "::1"] });
  await withFiles(
    { "ca.pem": ca.certPem, "user.pem": user.certPem, "server.pem": server.certPem },
    async (dir) => {
      const result = await run("openssl", [
        "verify",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/user.pem`,
        `${dir}/server.pem`,
      ]);
      assertEquals(result.code, 0, result.stderr + result.stdout);
      assertStringIncludes(result.stdout, "user.pem: OK");
      assertStringIncludes(result.stdout, "server.pem: OK");
      // Purpose checks, as a TLS stack applies them.
      const asClient = await run("openssl", [
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/user.pem`,
      ]);
      assertEquals(asClient.code, 0, asClient.stderr);
      const asServer = await run("openssl", [
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/server.pem`,
      ]);
      assertEquals(asServer.code, 0, asServer.stderr);
      const userAsServer = await run("openssl", [
        "verify",
        "-purpose",
        "sslserver",
        "-CAfile",
        `${dir}/ca.pem`,
        `${dir}/user.pem`,
      ]);
      assert(userAsServer.code !== 0, "openssl must refuse a user certificate as a server");
    },
  );
});

Deno.test("openssl x509 -text shows the CA's, user's and server's extensions", async () => {
  await requireTool("openssl", ["version"]);
  const user = await issueUserCertificate(ca, { name: "alice", days: 30 });
  const server = await issueServerCertificate(ca, {
    hostnames: ["localhost", "127.0.0.1", "::1", "chat.example.org"],
  });
  await withFiles(
    { "ca.pem": ca.certPem, "user.pem": user.certPem, "server.pem": server.certPem },
    async (dir) => {
      const text = async (file: string) =>
        (await run("openssl", ["x509", "-in", `${dir}/${file}`, "-noout", "-text"])).stdout;
      const caText = await text("ca.pem");
      assertStringIncludes(
        caText,
        "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0",
      );
      assertStringIncludes(
        caText,
        "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign",
      );
      assertMatch(caText, /Subject: CN ?= ?Test CA\n/);

      const userText = await text("user.pem");
      assertMatch(userText, /Subject: CN ?= ?alice\n/);
      assertStringIncludes(
        userText,
        "X509v3 Extended Key Usage: \n                TLS Web Client Authentication",
      );
      assertStringIncludes(userText, "CA:FALSE");
      assertStringIncludes(userText, "ecdsa-with-SHA256");
      assertStringIncludes(userText, "ASN1 OID: prime256v1");

      const serverText = await text("server.pem");
      assertStringIncludes(serverText, "TLS Web Server Authentication");
      assertStringIncludes(
        serverText,
        "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:chat.example.org",
      );
      assertEquals(subjectAltNames(server.cert), [
        "localhost",
        "127.0.0.1",
        "::1",
        "chat.example.org",
      ]);
    },
  );
});

Deno.test("issueUserCertificate() uses a 128-bit random serial and the chosen lifetime", async () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const a = await issueUserCertificate(ca, { name: "alice", days: 7, now });
  const b = await issueUserCertificate(ca, { name: "alice", days: 7, now });
  assert(certificateSerial(a.cert) !== certificateSerial(b.cert));
  assertEquals(a.cert.notAfter.getTime() - now.getTime(), 7 * DAY);
  for (let i = 0; i < 200; i++) {
    const serial = randomSerial();
    // 16 random bytes, plus a leading 00 when the top bit is set (DER integers are signed).
    assert(
      /^(00[89a-f][0-9a-f]{31}|[1-7][0-9a-f]{31}|0[1-9a-f][0-9a-f]{30})$/.test(serial),
      serial,
    );
  }
});

Deno.test("the private key issued with a certificate matches it (checked by us and openssl)", async () => {
  await requireTool("openssl", ["version"]);
  const user = await issueUserCertificate(ca, { name: "bob" });
  const key = await importIdentityPrivateKey(user.privateKeyPem);
  assert(await privateKeyMatches(user.cert, key));
  const other = await issueUserCertificate(ca, { name: "bob" });
  assertEquals(await privateKeyMatches(user.cert, other.privateKey), false);
  await withFiles({ "cert.pem": user.certPem, "key.pem": user.privateKeyPem }, async (dir) => {
    const fromCert = await run("openssl", ["x509", "-in", `${dir}/cert.pem`, "-noout", "-pubkey"]);
    const fromKey = await run("openssl", ["pkey", "-in", `${dir}/key.pem`, "-pubout"]);
    assertEquals(fromKey.code, 0, fromKey.stderr);
    assertEquals(fromCert.stdout, fromKey.stdout);
  });
});

Deno.test("verifyCertificate() accepts a valid certificate and returns its name", async () => {
  const user = await issueUserCertificate(ca, { name: "carol" });
  const verified = await verifyCertificate(user.certPem, ca.cert, { usage: "client" });
  assertEquals(verified.commonName, "carol");
  assertEquals(verified.serial, certificateSerial(user.cert));
  const server = await issueServerCertificate(ca, { hostnames: ["localhost"] });
  assertEquals(
    (await verifyCertificate(server.cert, ca.cert, { usage: "server" })).commonName,
    "localhost",
  );
});

/** Flips the first occurrence of `needle` in the DER so the CA's signature no longer covers it. */
function tamper(der: Uint8Array, needle: string): Uint8Array {
  const bytes = der.slice();
  const pattern = utf8(needle);
  outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    bytes[i + pattern.length - 1]! ^= 0x01; // "alice" -> "alicd"
    return bytes;
  }
  throw new Error(`${needle} not found`);
}

Deno.test("verifyCertificate() refuses each bad certificate with its own reason", async () => {
  const now = new Date();
  const otherCA = await createCA({ name: "Test CA" }); // same name: only the key tells them apart
  const cases: [string, () => Promise<unknown>, CertificateProblem, string][] = [
    [
      "expired",
      () =>
        issueUserCertificate(ca, { name: "alice", days: 1, now: new Date(now.getTime() - 3 * DAY) })
          .then((c) => verifyCertificate(c.cert, ca.cert, { usage: "client", now })),
      "expired",
      "Certificate expired on",
    ],
    [
      "not yet valid",
      () =>
        issueUserCertificate(ca, {
          name: "alice",
          days: 30,
          now: new Date(now.getTime() + 2 * DAY),
        })
          .then((c) => verifyCertificate(c.cert, ca.cert, { usage: "client", now })),
      "not_yet_valid",
      "Certificate is not valid before",
    ],
    [
      "wrong CA",
      () =>
        issueUserCertificate(otherCA, { name: "alice" })
          .then((c) => verifyCertificate(c.cert, ca.cert, { usage: "client" })),
      "wrong_ca",
      "Certificate was not issued by this CA",
    ],
    [
      "wrong EKU (a server certificate used as a client)",
      () =>
        issueServerCertificate(ca, { hostnames: ["localhost"] })
          .then((c) => verifyCertificate(c.cert, ca.cert, { usage: "client" })),
      "wrong_usage",
      "Certificate is not issued for client authentication",
    ],
    [
      "wrong EKU (a user certificate used as a server)",
      () =>
        issueUserCertificate(ca, { name: "alice" })
          .then((c) => verifyCertificate(c.cert, ca.cert, { usage: "server" })),
      "wrong_usage",
      "Certificate is not issued for server authentication",
    ],
    [
      "tampered",
      () =>
        issueUserCertificate(ca, { name: "alice" })
          .then((c) =>
            verifyCertificate(tamper(new Uint8Array(c.cert.rawData), "alice"), ca.cert, {
              usage: "client",
            })
          ),
      "bad_signature",
      "Certificate signature does not verify with the CA key",
    ],
    [
      "the CA itself used as a user",
      () => verifyCertificate(ca.cert, ca.cert, { usage: "client" }),
      "is_ca",
      "A CA certificate cannot be used",
    ],
    [
      "garbage",
      () => verifyCertificate(new Uint8Array([0x30, 0x03, 1, 2, 3]), ca.cert, { usage: "client" }),
      "malformed",
      "Certificate could not be parsed",
    ],
  ];
  for (const [what, attempt, code, message] of cases) {
    const error = await assertRejects(attempt, CertificateError, message, what);
    assertEquals(error.code, code, what);
  }
});

Deno.test("parseCertificate() reads PEM and DER alike", () => {
  const fromPem = parseCertificate(ca.certPem);
  const fromDer = parseCertificate(new Uint8Array(ca.cert.rawData));
  assertEquals(fromPem.serialNumber, fromDer.serialNumber);
});
