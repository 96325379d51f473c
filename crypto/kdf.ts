/**
 * HKDF-SHA256 and HMAC-SHA256 through WebCrypto, the two derivation steps the end-to-end layer
 * is built from (pairwise keys and the sender-chain ratchet).
 *
 * @module
 */

/**
 * HKDF-SHA256 (RFC 5869) of `ikm` with `salt` and `info`, `length` bytes long.
 *
 * @example
 * ```ts
 * import { hkdfSha256 } from "./kdf.ts";
 * const okm = await hkdfSha256(new Uint8Array(32), new Uint8Array(0), new Uint8Array(0), 32);
 * okm.length; // 32
 * ```
 */
export async function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey(
    "raw",
    ikm as Uint8Array<ArrayBuffer>,
    "HKDF",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: salt as Uint8Array<ArrayBuffer>,
      info: info as Uint8Array<ArrayBuffer>,
    },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** Imports raw bytes as an HMAC-SHA256 key that can only sign. */
export async function importHmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** HMAC-SHA256 of `data` under an imported key. */
export async function hmacSha256(
  key: CryptoKey,
  data: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data as Uint8Array<ArrayBuffer>));
}

/** SHA-256 of `data`. */
export async function sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}
