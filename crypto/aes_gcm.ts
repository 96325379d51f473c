/**
 * AES-GCM done at once by the runtime's `node:crypto` (see `hmac.ts` for why not WebCrypto's
 * thread pool), in WebCrypto's layout: the ciphertext followed by the 16-byte tag, so values
 * sealed either way open either way.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import type { SecretKey } from "./hmac.ts";

/** Bytes of the authentication tag. */
export const GCM_TAG_BYTES = 16;

function cipherName(key: SecretKey): "aes-128-gcm" | "aes-256-gcm" {
  const size = key.symmetricKeySize;
  if (size === 16) return "aes-128-gcm";
  if (size === 32) return "aes-256-gcm";
  throw new RangeError(`AES-GCM needs a 16- or 32-byte key, received ${size} bytes`);
}

/** Seals `plaintext` under `key` with the 12-byte `nonce`: ciphertext || tag. */
export function aesGcmSeal(
  key: SecretKey,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const cipher = createCipheriv(cipherName(key), key, nonce);
  cipher.setAAD(additionalData);
  const head = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(head.length + tail.length + tag.length);
  out.set(head);
  out.set(tail, head.length);
  out.set(tag, head.length + tail.length);
  return out;
}

/**
 * Opens `sealed` (ciphertext || tag) under `key` with `nonce` and `additionalData`.
 *
 * @throws {Error} when it does not authenticate (wrong key, nonce, data or a changed value).
 */
export function aesGcmOpen(
  key: SecretKey,
  nonce: Uint8Array,
  sealed: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array<ArrayBuffer> {
  if (sealed.length < GCM_TAG_BYTES) throw new RangeError("An AES-GCM value is too short");
  const decipher = createDecipheriv(cipherName(key), key, nonce);
  decipher.setAAD(additionalData);
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  const head = decipher.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
  const tail = decipher.final();
  const out = new Uint8Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
