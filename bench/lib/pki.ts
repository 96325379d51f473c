/**
 * The benchmark's PKI: a real openchat CA in a temporary data directory (so a server process
 * can load it as `openchat serve` does), the server's TLS identity, and many user certificates.
 * Issuing thousands of users one key pair each would take most of a quick run, so the bench's
 * users share one P-256 key pair; each still has its own CA-signed certificate (name, device,
 * serial), recorded in the CA's database and verified by the server like any other.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { toBase64Url } from "../../crypto/bytes.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair } from "../../crypto/keys.ts";
import {
  BACKDATE_MS,
  certificateFingerprint,
  certificateSerial,
  keyFingerprint,
  randomSerial,
} from "../../crypto/x509.ts";
import { deviceUri } from "../../protocol/devices.ts";
import { CertificateAuthority } from "../../server/authority.ts";
import { ensureServerIdentity } from "../../server/server_identity.ts";

/** What the load generators read to log in. */
export interface UsersFile {
  caPem: string;
  /** PKCS#8 PEM of the key every bench user shares. */
  keyPem: string;
  /** Name and certificate (unpadded base64url DER) of each user, in order. */
  users: { name: string; cert: string }[];
}

/** A prepared PKI in a temporary directory. */
export interface BenchPki {
  readonly dir: string;
  /** The CA's data directory (what `openchat serve --data-dir` would be given). */
  readonly dataDir: string;
  readonly caPem: string;
  /** Server certificate and key PEM files (for the bare relay and InspIRCd). */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** Path of the {@linkcode UsersFile} JSON. */
  readonly usersFile: string;
  readonly userCount: number;
  remove(): Promise<void>;
}

/** User name of the `index`-th bench user. */
export function benchUserName(index: number): string {
  return `u${String(index).padStart(5, "0")}`;
}

/** Makes a CA, the server identity and `userCount` user certificates. */
export async function preparePki(userCount: number): Promise<BenchPki> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-bench-" });
  const dataDir = join(dir, "data");
  const ca = await CertificateAuthority.create(dataDir, { name: "openchat bench CA" });
  const identity = await ensureServerIdentity(ca, []);
  const serverCertFile = join(dir, "server.pem");
  const serverKeyFile = join(dir, "server-key.pem");
  await Deno.writeTextFile(serverCertFile, identity.certPem);
  await Deno.writeTextFile(serverKeyFile, identity.keyPem, { mode: 0o600 });
  const keys = await generateIdentityKeyPair();
  const keyId = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
  const authorityId = await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey);
  const now = Date.now();
  const { privateKey: signingKey } = ca.issuer;
  const issue = async (index: number) => {
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: [{ CN: [benchUserName(index)] }],
      issuer: ca.cert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 7 * 86_400_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: keys.publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        keyId,
        authorityId,
        new x509.SubjectAlternativeNameExtension([{
          type: "url",
          value: deviceUri(benchUserName(index), "main"),
        }]),
      ],
    });
    return { name: benchUserName(index), cert };
  };
  const users: UsersFile["users"] = [];
  const issuedAt = new Date(now).toISOString();
  for (let i = 0; i < userCount; i += 32) {
    const batch = [];
    for (let j = i; j < Math.min(userCount, i + 32); j++) batch.push(issue(j));
    const issued = await Promise.all(batch);
    const records = await Promise.all(issued.map(async ({ name, cert }) => ({
      serial: certificateSerial(cert),
      name,
      device: "main",
      fingerprint: await certificateFingerprint(cert),
      keyFingerprint: await keyFingerprint(cert),
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      issuedAt,
      certPem: cert.toString("pem"),
    })));
    // The server admits only recorded certificates.
    ca.store.transaction(() => records.forEach((record) => ca.store.recordIssued(record)));
    users.push(
      ...issued.map(({ name, cert }) => ({
        name,
        cert: toBase64Url(new Uint8Array(cert.rawData), false),
      })),
    );
  }
  const usersFile = join(dir, "users.json");
  const file: UsersFile = {
    caPem: ca.certPem,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    users,
  };
  await Deno.writeTextFile(usersFile, JSON.stringify(file));
  const caPem = ca.certPem;
  ca.close();
  return {
    dir,
    dataDir,
    caPem,
    serverCertFile,
    serverKeyFile,
    usersFile,
    userCount,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
