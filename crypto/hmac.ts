/**
 * HMAC-SHA256 done at once, on the calling thread, by the runtime's `node:crypto`. WebCrypto's
 * `subtle.sign` does the same arithmetic but hands every call to a thread pool and back (about
 * 60 µs of CPU for a 32-byte MAC here, against 11 µs), which dominates per-message work; the
 * primitive itself is the runtime's either way, never written here. Keys are held by the runtime
 * (`KeyObject`), like a non-extractable `CryptoKey`.
 *
 * @module
 */

import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from "node:crypto";

/** A secret key for {@linkcode hmacSha256Now}. */
export type SecretKey = KeyObject;

/**
 * Holds `raw` as a secret key (copied; `raw` may be wiped afterwards).
 *
 * @throws {RangeError} when `raw` is empty.
 */
export function secretKey(raw: Uint8Array): SecretKey {
  if (raw.length === 0) throw new RangeError("A secret key cannot be empty");
  return createSecretKey(raw);
}

/**
 * HMAC-SHA256 of `data` under `key` (a held key, or raw key bytes).
 *
 * @example
 * ```ts
 * import { hmacSha256Now, secretKey } from "./hmac.ts";
 * const mac = hmacSha256Now(secretKey(new Uint8Array(32).fill(1)), new Uint8Array([1]));
 * mac.length; // 32
 * ```
 */
export function hmacSha256Now(
  key: SecretKey | Uint8Array,
  data: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const mac = createHmac("sha256", key).update(data).digest();
  return new Uint8Array(mac.buffer, mac.byteOffset, mac.byteLength) as Uint8Array<ArrayBuffer>;
}

/** True when two MACs are equal, in time that does not depend on where they differ. */
export function macsEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
