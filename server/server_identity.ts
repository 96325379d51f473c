/**
 * The server's own TLS identity: a certificate from the CA with a SAN for every name clients
 * may dial, kept in the data directory and re-issued when the names change or expiry nears.
 *
 * @module
 */

import { join } from "node:path";
import { importIdentityPrivateKey } from "../crypto/keys.ts";
import {
  certificateFingerprint,
  issueServerCertificate,
  parseCertificate,
  privateKeyMatches,
  subjectAltNames,
  verifyCertificate,
  type X509Certificate,
} from "../crypto/x509.ts";
import { writeFileAtomic } from "../util/files.ts";
import type { CertificateAuthority } from "./authority.ts";

/** File names inside the data directory. */
export const SERVER_CERT_FILE = "server.pem";
export const SERVER_KEY_FILE = "server-key.pem";
/** Names every server certificate carries, so local clients always match. */
export const DEFAULT_SERVER_NAMES = ["localhost", "127.0.0.1", "::1"] as const;
/** Re-issue the server certificate when it has less than this long to live. */
export const RENEW_BEFORE_MS = 30 * 86_400_000;

/** The server's certificate and key, in the forms TLS and the set-up proof need. */
export interface ServerIdentity {
  readonly cert: X509Certificate;
  readonly certDer: Uint8Array<ArrayBuffer>;
  readonly certPem: string;
  readonly keyPem: string;
  readonly privateKey: CryptoKey;
  readonly fingerprint: string;
  /** Why it was (re-)issued on this start, or undefined when the stored one was reused. */
  readonly issuedBecause?: string;
}

/** The SANs a server with these extra names should carry, without duplicates. */
export function serverNames(extra: readonly string[]): string[] {
  return [...new Set([...DEFAULT_SERVER_NAMES, ...extra.map((name) => name.toLowerCase())])];
}

/**
 * Loads the server certificate from the data directory, or issues a new one when it is
 * missing, unreadable, from another CA, for other names, or within {@linkcode RENEW_BEFORE_MS}
 * of expiry.
 */
export async function ensureServerIdentity(
  ca: CertificateAuthority,
  names: readonly string[],
  now = new Date(),
): Promise<ServerIdentity> {
  const certPath = join(ca.dataDir, SERVER_CERT_FILE);
  const keyPath = join(ca.dataDir, SERVER_KEY_FILE);
  const wanted = serverNames(names);
  const stored = await loadStored(certPath, keyPath);
  let reason: string | undefined;
  if (!stored) reason = "no usable server certificate";
  else {
    try {
      await verifyCertificate(stored.cert, ca.cert, { usage: "server", now });
      const have = subjectAltNames(stored.cert);
      if (have.length !== wanted.length || !wanted.every((name) => have.includes(name))) {
        reason = `names changed to ${wanted.join(", ")}`;
      } else if (stored.cert.notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS) {
        reason = "expiry is near";
      }
    } catch (error) {
      reason = `stored certificate refused (${(error as Error).message})`;
    }
  }
  if (!reason && stored) return stored;

  const issued = await issueServerCertificate(ca.issuer, { hostnames: wanted, now });
  await writeFileAtomic(keyPath, issued.privateKeyPem);
  await writeFileAtomic(certPath, issued.certPem, { mode: 0o644 });
  const fresh = await loadStored(certPath, keyPath);
  if (!fresh) throw new Error(`Could not read back ${certPath}`);
  return { ...fresh, issuedBecause: reason };
}

async function loadStored(certPath: string, keyPath: string): Promise<ServerIdentity | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([
      Deno.readTextFile(certPath),
      Deno.readTextFile(keyPath),
    ]);
    const cert = parseCertificate(certPem);
    const privateKey = await importIdentityPrivateKey(keyPem);
    if (!await privateKeyMatches(cert, privateKey)) return undefined;
    return {
      cert,
      certDer: new Uint8Array(cert.rawData),
      certPem,
      keyPem,
      privateKey,
      fingerprint: await certificateFingerprint(cert),
    };
  } catch {
    return undefined;
  }
}
