/**
 * X25519 key agreement and the pairwise key of two sessions: HKDF-SHA256 over the shared
 * secret, with both public keys (in a fixed order) and a label in `info`, giving 32 bytes that
 * are exactly a Fernet key.
 *
 * @module
 */

import { bytesEqual, concatBytes, utf8 } from "./bytes.ts";
import { hkdfSha256 } from "./kdf.ts";
import { RAW_25519_PUBLIC_BYTES } from "./keys.ts";

const X25519: Algorithm = { name: "X25519" };
/** Fixed HKDF salt: a public, protocol-specific constant (RFC 5869 section 3.1). */
const PAIRWISE_SALT = utf8("openchat/v1 pairwise salt");
/** Length of derived pairwise keys; 32 bytes is one Fernet key. */
export const PAIRWISE_KEY_BYTES = 32;

/** Makes a fresh X25519 key pair; the private key cannot be exported. */
export async function generateAgreementKeyPair(): Promise<CryptoKeyPair> {
  const pair = await crypto.subtle.generateKey(X25519, false, ["deriveBits"]);
  return pair as CryptoKeyPair;
}

/**
 * Imports 32 raw bytes as an X25519 public key.
 *
 * @throws {TypeError} when `raw` is not 32 bytes or not a valid point.
 */
export async function importAgreementPublicKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== RAW_25519_PUBLIC_BYTES) {
    throw new TypeError(`X25519 public key must be 32 bytes, received ${raw.length}`);
  }
  try {
    return await crypto.subtle.importKey("raw", raw as Uint8Array<ArrayBuffer>, X25519, true, []);
  } catch {
    throw new TypeError("Invalid X25519 public key");
  }
}

/**
 * X25519 of our private key and a peer's raw public key: the 32-byte shared secret.
 *
 * @throws {TypeError} when the peer key is invalid or of low order (an all-zero secret).
 */
export async function x25519SharedSecret(
  privateKey: CryptoKey,
  peerPublic: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const peerKey = await importAgreementPublicKey(peerPublic);
  let shared: Uint8Array<ArrayBuffer>;
  try {
    shared = new Uint8Array(
      await crypto.subtle.deriveBits({ name: "X25519", public: peerKey }, privateKey, 256),
    );
  } catch {
    throw new TypeError("X25519 agreement failed (low-order peer key)");
  }
  if (bytesEqual(shared, new Uint8Array(shared.length))) {
    throw new TypeError("X25519 agreement failed (low-order peer key)");
  }
  return shared;
}

/**
 * Derives keys two sessions share: one X25519 agreement, then one HKDF-SHA256 expansion per
 * label. Both sides get the same bytes because the public keys go into `info` sorted; each label
 * gives an unrelated key (one to wrap chain keys, another for direct messages).
 *
 * @param privateKey this side's X25519 private key
 * @param ownPublic this side's raw public key
 * @param peerPublic the other side's raw public key
 * @param labels what each key is for, e.g. `"openchat/v1 key-wrap"`
 * @returns one {@linkcode PAIRWISE_KEY_BYTES}-byte key per label, in order
 * @throws {TypeError} when the peer key is invalid or of low order (an all-zero secret).
 */
export async function derivePairwiseKeys(
  privateKey: CryptoKey,
  ownPublic: Uint8Array,
  peerPublic: Uint8Array,
  labels: readonly string[],
): Promise<Uint8Array<ArrayBuffer>[]> {
  const shared = await x25519SharedSecret(privateKey, peerPublic);
  const [first, second] = compareBytes(ownPublic, peerPublic) <= 0
    ? [ownPublic, peerPublic]
    : [peerPublic, ownPublic];
  return await Promise.all(labels.map((label) =>
    hkdfSha256(
      shared,
      PAIRWISE_SALT,
      concatBytes(utf8(label), new Uint8Array([0]), first, second),
      PAIRWISE_KEY_BYTES,
    )
  ));
}

/** {@linkcode derivePairwiseKeys} for a single label. */
export async function derivePairwiseKey(
  privateKey: CryptoKey,
  ownPublic: Uint8Array,
  peerPublic: Uint8Array,
  label: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const [key] = await derivePairwiseKeys(privateKey, ownPublic, peerPublic, [label]);
  return key!;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}
