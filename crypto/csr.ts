/**
 * PKCS#10 certificate signing requests: a device makes one over the key it just generated, and
 * the CA checks it before signing. The request's self-signature proves the requester holds the
 * private key; the CA then signs a certificate for that public key and nothing else from the
 * request (the name and device come from the invite or the operator, never from the request).
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { CryptoError } from "./errors.ts";
import { p256PublicKey } from "./x509.ts";

x509.cryptoProvider.set(crypto);

/** Largest request accepted, in DER bytes. */
export const MAX_CSR_BYTES = 4096;

/** A certificate signing request was refused; the message says why. */
export class RequestError extends CryptoError {
  constructor(message: string) {
    super("bad_request", message);
    this.name = "RequestError";
  }
}

/** A request whose self-signature verified. */
export interface VerifiedRequest {
  /** The request's CN, if it has one. */
  readonly commonName: string | undefined;
  /** The requested P-256 public key, ready to be certified. */
  readonly publicKey: CryptoKey;
  /** The SubjectPublicKeyInfo DER of that key. */
  readonly spki: Uint8Array<ArrayBuffer>;
}

/**
 * Makes a request over `keys` (ECDSA P-256) with CN = `commonName`, signed with the private key.
 *
 * @returns the request as DER.
 */
export async function createCertificateRequest(
  keys: CryptoKeyPair,
  commonName: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return new Uint8Array(request.rawData);
}

/**
 * Checks a request, guard by guard: it parses (PEM or DER), its key is ECDSA P-256, its
 * self-signature verifies, and it has at most one CN.
 *
 * @throws {RequestError} naming the first check that failed.
 */
export async function verifyCertificateRequest(
  input: Uint8Array | string,
): Promise<VerifiedRequest> {
  if (typeof input !== "string" && input.length > MAX_CSR_BYTES) {
    throw new RequestError(`The request is larger than ${MAX_CSR_BYTES} bytes`);
  }
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(input as string | Uint8Array<ArrayBuffer>);
  } catch {
    throw new RequestError("The request is not a PKCS#10 certificate signing request");
  }
  let publicKey: CryptoKey;
  try {
    publicKey = await p256PublicKey(request.publicKey);
  } catch {
    throw new RequestError("The request's key is not ECDSA P-256");
  }
  let valid = false;
  try {
    valid = await request.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new RequestError("The request's signature does not verify");
  let names: string[];
  try {
    // Parsed on first use by the library, so a malformed subject throws here, if anywhere.
    names = request.subjectName.getField("CN");
  } catch {
    throw new RequestError("The request's subject could not be read");
  }
  if (names.length > 1) throw new RequestError("The request has more than one common name");
  return {
    commonName: names[0],
    publicKey,
    spki: new Uint8Array(request.publicKey.rawData),
  };
}
