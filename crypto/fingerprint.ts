/**
 * SHA-256 fingerprints in the form people compare out of band: upper-case hex pairs joined by
 * colons, the same text `openssl x509 -noout -fingerprint -sha256` prints for a certificate.
 *
 * @module
 */

import { sha256 } from "./kdf.ts";

/**
 * Formats a digest as colon-separated upper-case hex.
 *
 * @example
 * ```ts
 * import { formatFingerprint } from "./fingerprint.ts";
 * formatFingerprint(new Uint8Array([0xab, 0x01])); // "AB:01"
 * ```
 */
export function formatFingerprint(digest: Uint8Array): string {
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** SHA-256 fingerprint of `der` (a certificate, or a SubjectPublicKeyInfo). */
export async function fingerprintOf(der: Uint8Array): Promise<string> {
  return formatFingerprint(await sha256(der));
}
