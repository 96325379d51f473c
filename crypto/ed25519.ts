/**
 * Ed25519 signatures done at once by the runtime's `node:crypto`, for the per-message signing
 * and verifying with session keys (see `hmac.ts` for why not WebCrypto's thread pool: 30-50 µs
 * of CPU per operation here, against 80-100 µs). Keys stay WebCrypto `CryptoKey`s everywhere
 * else; each is converted to the runtime's own handle once, the first time it is used here.
 *
 * @module
 */

import { KeyObject, sign, verify } from "node:crypto";

/** The runtime's handle of each key used so far; weak, so it goes with the `CryptoKey`. */
const handles = new WeakMap<CryptoKey, KeyObject>();

function handleOf(key: CryptoKey): KeyObject {
  let handle = handles.get(key);
  if (!handle) {
    handle = KeyObject.from(key);
    handles.set(key, handle);
  }
  return handle;
}

function checkEd25519(key: CryptoKey, type: KeyType): void {
  if (key.algorithm.name !== "Ed25519" || key.type !== type) {
    throw new TypeError(
      `Expected an Ed25519 ${type} key, received ${key.algorithm.name} ${key.type}`,
    );
  }
}

/**
 * Signs `data` with an Ed25519 private key; the 64-byte signature.
 *
 * @throws {TypeError} when `privateKey` is not an Ed25519 private key.
 */
export function signEd25519(privateKey: CryptoKey, data: Uint8Array): Uint8Array<ArrayBuffer> {
  checkEd25519(privateKey, "private");
  const signature = sign(null, data, handleOf(privateKey));
  return new Uint8Array(signature.buffer, signature.byteOffset, signature.byteLength) as Uint8Array<
    ArrayBuffer
  >;
}

/**
 * True when `signature` is a valid Ed25519 signature of `data` by `publicKey`; false for any
 * wrong or malformed signature.
 *
 * @throws {TypeError} when `publicKey` is not an Ed25519 public key.
 */
export function verifyEd25519(
  publicKey: CryptoKey,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  checkEd25519(publicKey, "public");
  if (signature.length !== 64) return false;
  try {
    return verify(null, data, handleOf(publicKey), signature);
  } catch {
    return false;
  }
}
