/**
 * The user's identity as loaded from the file `openchat enroll` (or `openchat ca issue`, for
 * bots) wrote: their device's certificate and private key, and the CA certificate they trust
 * for everything (the server and every peer).
 *
 * @module
 */

import { importIdentityPrivateKey } from "../crypto/keys.ts";
import { encodePem } from "../crypto/pem.ts";
import {
  certificateFingerprint,
  keyFingerprint,
  parseCertificate,
  privateKeyMatches,
  singleCommonName,
  type X509Certificate,
} from "../crypto/x509.ts";
import * as x509 from "@peculiar/x509";
import { deviceOf } from "../protocol/devices.ts";
import { formatIdentityFile, parseIdentityFile } from "../protocol/identity_file.ts";
import { userNameProblem } from "../protocol/names.ts";

/** A loaded identity, checked for internal consistency. */
export interface Identity {
  /** The user name (the certificate's CN). */
  readonly user: string;
  /** The device label (the certificate's `openchat:USER/DEVICE` URI). */
  readonly device: string;
  readonly cert: X509Certificate;
  readonly certDer: Uint8Array<ArrayBuffer>;
  readonly privateKey: CryptoKey;
  readonly caCert: X509Certificate;
  readonly caPem: string;
  /** SHA-256 of the CA certificate: names the trust store section for this CA. */
  readonly caFingerprint: string;
  /** SHA-256 of the user's public key: what peers compare. */
  readonly keyFingerprint: string;
  /** The private key as the file holds it (PKCS#8 PEM), to write the file again on renewal. */
  readonly privateKeyPem: string;
  /** Set when the file can be read by other users. */
  readonly permissionWarning?: string;
}

/** The text of an identity file holding `identity`. */
export function identityFileText(identity: Identity): string {
  return formatIdentityFile(
    encodePem(identity.certDer, "CERTIFICATE"),
    identity.privateKeyPem,
    identity.caPem,
  );
}

/** The identity file could not be used; the message says why and what to do. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IdentityError";
  }
}

/**
 * Loads and checks an identity file: three PEM blocks in order, a P-256 key that matches the
 * certificate, a certificate issued by the included CA, and a valid user name.
 */
export async function loadIdentity(path: string): Promise<Identity> {
  let text: string;
  let mode: number | null = null;
  try {
    text = await Deno.readTextFile(path);
    mode = (await Deno.stat(path)).mode;
  } catch (error) {
    throw new IdentityError(`Cannot read identity file ${path}: ${(error as Error).message}`);
  }
  const identity = await parseIdentity(text, path);
  return {
    ...identity,
    permissionWarning: mode !== null && (mode & 0o077) !== 0
      ? `${path} can be read by other users (mode ${
        (mode & 0o777).toString(8)
      }); run: chmod 600 ${path}`
      : undefined,
  };
}

/**
 * Reads and checks the text of an identity file (`path` only names it in messages): three PEM
 * blocks in order, a P-256 key that matches the certificate, a certificate issued by the
 * included CA, a valid user name and device.
 */
export async function parseIdentity(text: string, path: string): Promise<Identity> {
  let parts;
  try {
    parts = parseIdentityFile(text);
  } catch (error) {
    throw new IdentityError(`${path} is not an identity file: ${(error as Error).message}`);
  }
  let cert: X509Certificate;
  let caCert: X509Certificate;
  let privateKey: CryptoKey;
  try {
    cert = parseCertificate(parts.certificate);
    caCert = parseCertificate(parts.caCertificate);
    privateKey = await importIdentityPrivateKey(parts.privateKey);
  } catch (error) {
    throw new IdentityError(
      `${path} holds an unreadable certificate or key: ${(error as Error).message}`,
    );
  }
  if (!await privateKeyMatches(cert, privateKey)) {
    throw new IdentityError(`${path}: the private key does not belong to the certificate`);
  }
  if (!caCert.getExtension(x509.BasicConstraintsExtension)?.ca || cert.issuer !== caCert.subject) {
    throw new IdentityError(`${path}: the certificate was not issued by the CA in the same file`);
  }
  const user = singleCommonName(cert);
  const problem = userNameProblem(user);
  if (problem) {
    throw new IdentityError(`${path}: the certificate's name ${JSON.stringify(user)} ${problem}`);
  }
  let device: string;
  try {
    device = deviceOf(cert);
  } catch (error) {
    throw new IdentityError(
      `${path}: ${
        (error as Error).message
      }; a certificate from before devices cannot log in: enrol this device again (openchat enroll)`,
    );
  }
  return {
    user,
    device,
    cert,
    certDer: new Uint8Array(cert.rawData),
    privateKey,
    caCert,
    caPem: encodePem(parts.caCertificate, "CERTIFICATE"),
    caFingerprint: await certificateFingerprint(caCert),
    keyFingerprint: await keyFingerprint(cert),
    privateKeyPem: encodePem(parts.privateKey, "PRIVATE KEY"),
  };
}
