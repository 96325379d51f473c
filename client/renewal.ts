/**
 * Renewal keeps the key: a new certificate for the same public key, user and device, with a
 * fresh lifetime. Peers compare the public key, so they see no change. `openchat renew` does it
 * by hand; a connected client does it by itself once {@linkcode RENEW_AT_FRACTION} of the
 * lifetime has passed.
 *
 * @module
 */

import { bytesEqual } from "../crypto/bytes.ts";
import { encodePem } from "../crypto/pem.ts";
import { verifyCertificate } from "../crypto/x509.ts";
import { deviceOf } from "../protocol/devices.ts";
import { formatIdentityFile } from "../protocol/identity_file.ts";
import { type Endpoint, ServerLink } from "./connection.ts";
import { type Identity, parseIdentity } from "./identity.ts";

/** Share of a certificate's lifetime after which a connected client renews it. */
export const RENEW_AT_FRACTION = 2 / 3;
/** Wait between failed automatic renewals, so a refusing server is not asked every second. */
export const RENEW_RETRY_MS = 10 * 60_000;

/** True when `identity`'s certificate has lived {@linkcode RENEW_AT_FRACTION} of its lifetime. */
export function renewalDue(identity: Identity, now: Date): boolean {
  const start = identity.cert.notBefore.getTime();
  const lifetime = identity.cert.notAfter.getTime() - start;
  return now.getTime() >= start + lifetime * RENEW_AT_FRACTION;
}

/** A renewed identity: the same key with a new certificate. */
export interface Renewed {
  readonly identity: Identity;
  /** The identity file's new text. */
  readonly identityText: string;
}

/**
 * Renews `identity` at `endpoint` and checks what comes back: issued by the same CA for the
 * same key, user and device, ending later than the old one.
 *
 * @throws {import("./connection.ts").SetupError} when the server refuses; {@linkcode Error}
 *   when the new certificate does not fit.
 */
export async function renewIdentity(endpoint: Endpoint, identity: Identity): Promise<Renewed> {
  const der = await ServerLink.renew(endpoint, identity);
  const verified = await verifyCertificate(der, identity.caCert, { usage: "client" });
  const sameKey = bytesEqual(
    new Uint8Array(verified.cert.publicKey.rawData),
    new Uint8Array(identity.cert.publicKey.rawData),
  );
  if (
    !sameKey || verified.commonName !== identity.user ||
    deviceOf(verified.cert) !== identity.device ||
    verified.cert.notAfter.getTime() <= identity.cert.notAfter.getTime()
  ) {
    throw new Error("The server's renewed certificate does not fit this identity; nothing changed");
  }
  const identityText = formatIdentityFile(
    encodePem(new Uint8Array(verified.cert.rawData), "CERTIFICATE"),
    identity.privateKeyPem,
    identity.caPem,
  );
  return { identity: await parseIdentity(identityText, "the renewed identity"), identityText };
}
