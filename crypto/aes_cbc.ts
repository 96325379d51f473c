/**
 * AES-CBC with PKCS#7 padding, done at once by the runtime's `node:crypto` (see `hmac.ts` for
 * why not WebCrypto's thread pool). Fernet's encryption half.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import type { SecretKey } from "./hmac.ts";

/** The cipher for a 16- or 32-byte key. */
function cipherName(key: SecretKey): "aes-128-cbc" | "aes-256-cbc" {
  const size = key.symmetricKeySize;
  if (size === 16) return "aes-128-cbc";
  if (size === 32) return "aes-256-cbc";
  throw new RangeError(`AES-CBC needs a 16- or 32-byte key, received ${size} bytes`);
}

/** Encrypts `plaintext` under `key` with `iv` (16 bytes), padded with PKCS#7. */
export function aesCbcEncrypt(
  key: SecretKey,
  iv: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const cipher = createCipheriv(cipherName(key), key, iv);
  return joined(cipher.update(plaintext), cipher.final());
}

/**
 * Decrypts `ciphertext` under `key` with `iv` and removes the PKCS#7 padding.
 *
 * @throws {Error} when the padding is wrong (the caller must not tell this apart from a bad MAC).
 */
export function aesCbcDecrypt(
  key: SecretKey,
  iv: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const decipher = createDecipheriv(cipherName(key), key, iv);
  return joined(decipher.update(ciphertext), decipher.final());
}

function joined(head: Uint8Array, tail: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
