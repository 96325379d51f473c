/**
 * A device joins: `openchat enroll TOKEN` makes the device's P-256 key here, where it stays,
 * and trades the invite for a certificate, in two connections:
 *
 * 1. TLS that checks nothing, only to ask for the CA certificate (`hello {ca: true}`). It is
 *    accepted only if its SHA-256 is the fingerprint in the invite; nothing secret is sent.
 * 2. TLS trusting that CA alone, where the server must present in TLS the very certificate it
 *    proves holding in-band, issued by that CA for the host dialled. Only then does the client
 *    send the invite's secret with a certificate signing request.
 *
 * The certificate that comes back must chain to the CA, name the invite's user and device, and
 * certify this device's key. Nothing is written here: the caller writes the identity once all
 * of that holds.
 *
 * @module
 */

import { bytesEqual } from "../crypto/bytes.ts";
import { createCertificateRequest } from "../crypto/csr.ts";
import { sha256 } from "../crypto/kdf.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair } from "../crypto/keys.ts";
import { encodePem } from "../crypto/pem.ts";
import { parseCertificate, verifyCertificate, type X509Certificate } from "../crypto/x509.ts";
import * as x509 from "@peculiar/x509";
import { deviceOf } from "../protocol/devices.ts";
import { formatIdentityFile } from "../protocol/identity_file.ts";
import type { InviteToken } from "../protocol/invite_token.ts";
import { type Endpoint, parseEndpoint, ServerLink, SetupError } from "./connection.ts";
import { type Identity, parseIdentity } from "./identity.ts";
import { linkRequest as makeLinkRequest } from "./e2e/device_link.ts";

/** Enrolment failed; the message says why, and nothing was written. */
export class EnrolmentError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "EnrolmentError";
  }
}

/** A device that enrolled. */
export interface Enrolled {
  /** The identity, as its file will hold it. */
  readonly identity: Identity;
  /** The text of the identity file (certificate, private key, CA). */
  readonly identityText: string;
  /** The address that answered, `host:port`. */
  readonly address: string;
}

/**
 * Enrols this device with `token`.
 *
 * @throws {EnrolmentError} naming what failed (a refused invite, a CA that does not match, a
 *   certificate that does not fit).
 */
export async function enroll(token: InviteToken): Promise<Enrolled> {
  const keys = await generateIdentityKeyPair();
  const csr = await createCertificateRequest(keys, token.user);
  const { endpoint, address, caDer } = await reachServer(token);
  if (!bytesEqual(await sha256(caDer), token.caFingerprint)) {
    throw new EnrolmentError(
      "ca_mismatch",
      `The server's CA does not match the invite: ${address} is not the server that made it, ` +
        `or someone is in between. Nothing was sent and nothing was written.`,
    );
  }
  let ca: X509Certificate;
  try {
    ca = parseCertificate(caDer);
    if (!ca.getExtension(x509.BasicConstraintsExtension)?.ca) throw new Error("not a CA");
  } catch {
    throw new EnrolmentError("ca_mismatch", "The server sent a CA certificate that is not a CA");
  }
  const caPem = encodePem(caDer, "CERTIFICATE");
  let certDer: Uint8Array;
  try {
    // With a vouching secret (the invite came from another device of ours), prove to that
    // device that this key is the one made with its token, so it can vouch for it.
    const linkRequest = token.vouch
      ? await makeLinkRequest(
        token.vouch,
        token.user,
        token.device,
        await sha256(new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey))),
      )
      : undefined;
    certDer = await ServerLink.enroll(
      endpoint,
      { cert: ca, pem: caPem },
      token.secret,
      csr,
      linkRequest,
    );
  } catch (error) {
    throw asEnrolmentError(error, address);
  }
  const cert = await checkIssued(certDer, ca, token, keys.publicKey);
  const identityText = formatIdentityFile(
    cert.toString("pem"),
    await exportPrivateKeyPem(keys.privateKey),
    caPem,
  );
  return { identity: await parseIdentity(identityText, "the new identity"), identityText, address };
}

async function reachServer(
  token: InviteToken,
): Promise<{ endpoint: Endpoint; address: string; caDer: Uint8Array }> {
  let last: unknown;
  for (const address of token.addresses) {
    const endpoint = parseEndpoint(address);
    try {
      return { endpoint, address, caDer: await ServerLink.fetchCa(endpoint) };
    } catch (error) {
      last = error;
      if (!(error instanceof SetupError) || error.code !== "connect_failed") break;
    }
  }
  throw asEnrolmentError(last, token.addresses.join(", "));
}

async function checkIssued(
  der: Uint8Array,
  ca: X509Certificate,
  token: InviteToken,
  publicKey: CryptoKey,
): Promise<X509Certificate> {
  let cert: X509Certificate;
  try {
    const verified = await verifyCertificate(der, ca, { usage: "client" });
    cert = verified.cert;
    if (verified.commonName !== token.user || deviceOf(cert) !== token.device) {
      throw new Error(`it names ${verified.commonName}/${deviceOf(cert)}`);
    }
  } catch (error) {
    throw new EnrolmentError(
      "bad_certificate",
      `The server issued a certificate that does not fit the invite (${
        (error as Error).message
      }); nothing was written`,
    );
  }
  const ours = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  if (!bytesEqual(ours, new Uint8Array(cert.publicKey.rawData))) {
    throw new EnrolmentError(
      "bad_certificate",
      "The server issued a certificate for another key; nothing was written",
    );
  }
  return cert;
}

function asEnrolmentError(error: unknown, address: string): EnrolmentError {
  if (error instanceof EnrolmentError) return error;
  if (error instanceof SetupError) {
    return new EnrolmentError(
      error.code,
      error.fromServer
        ? `The server refused the invite: ${error.message} (${error.code})`
        : `Cannot enrol with ${address}: ${error.message}`,
    );
  }
  return new EnrolmentError("internal", String((error as Error)?.message ?? error));
}
