/**
 * Key generation, import and export for the three kinds of key openchat uses:
 *
 * - identity keys (CA, server, users): ECDSA P-256, the only kind that goes into certificates;
 * - session signing keys: Ed25519, fresh per session, certified once by the identity key;
 * - session agreement keys: X25519, fresh per session, for pairwise ECDH (see `ecdh.ts`).
 *
 * P-256 costs ~10x Ed25519 here (DESIGN.md), so it is used a bounded number of times per session.
 *
 * @module
 */

import { decodeSinglePem, encodePem } from "./pem.ts";

/** WebCrypto parameters of identity keys. */
export const IDENTITY_KEY_ALGORITHM: EcKeyImportParams = { name: "ECDSA", namedCurve: "P-256" };
/** WebCrypto parameters of session signing keys. */
export const SESSION_SIGNING_ALGORITHM: Algorithm = { name: "Ed25519" };
/** Length of a raw Ed25519 or X25519 public key. */
export const RAW_25519_PUBLIC_BYTES = 32;

/**
 * Makes an ECDSA P-256 identity key pair. The private key is extractable because the CA writes
 * it to an identity file once; callers that only sign should re-import it non-extractable.
 */
export async function generateIdentityKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(IDENTITY_KEY_ALGORITHM, true, ["sign", "verify"]);
}

/** Exports a private key as a PKCS#8 `PRIVATE KEY` PEM block. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return encodePem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", key)), "PRIVATE KEY");
}

/**
 * Imports a PKCS#8 P-256 private key (DER, or text holding one `PRIVATE KEY` PEM block) for
 * signing. The result is not extractable.
 *
 * @throws {TypeError} when the input is not a P-256 PKCS#8 key.
 */
export async function importIdentityPrivateKey(input: Uint8Array | string): Promise<CryptoKey> {
  const der = typeof input === "string" ? decodeSinglePem(input, "PRIVATE KEY") : input;
  try {
    return await crypto.subtle.importKey(
      "pkcs8",
      der as Uint8Array<ArrayBuffer>,
      IDENTITY_KEY_ALGORITHM,
      false,
      ["sign"],
    );
  } catch {
    throw new TypeError("Private key is not a PKCS#8 ECDSA P-256 key");
  }
}

/** Makes a fresh Ed25519 key pair for signing one session's messages. */
export async function generateSessionSigningKeyPair(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(SESSION_SIGNING_ALGORITHM, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/** Exports an Ed25519 or X25519 public key as its 32 raw bytes. */
export async function exportRawPublicKey(key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.exportKey("raw", key));
}

/**
 * Imports 32 raw bytes as an Ed25519 verification key.
 *
 * @throws {TypeError} when `raw` is not a valid Ed25519 public key.
 */
export async function importSessionVerifyKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== RAW_25519_PUBLIC_BYTES) {
    throw new TypeError(`Ed25519 public key must be 32 bytes, received ${raw.length}`);
  }
  try {
    return await crypto.subtle.importKey(
      "raw",
      raw as Uint8Array<ArrayBuffer>,
      SESSION_SIGNING_ALGORITHM,
      true,
      ["verify"],
    );
  } catch {
    throw new TypeError("Invalid Ed25519 public key");
  }
}
