/**
 * Pre-keys: X25519 keys a device publishes, signed with its certificate key, so that others can
 * hand it chain keys (and direct messages) while it is offline. Key packages to a pre-key wait
 * in the device's inbox on the server until it connects.
 *
 * - The **signed pre-key** is replaced every {@linkcode SIGNED_PREKEY_ROTATE_MS}; its private
 *   half is kept {@linkcode SIGNED_PREKEY_KEEP_MS} after it was replaced (for packages still in
 *   inboxes), then deleted.
 * - **One-time pre-keys** are handed out by the server once each; the device deletes the private
 *   half as soon as it opened the package made with it, and tops the server's supply up.
 *
 *     signed pre-key   = <id>.<ts>.<x25519>.<signature>
 *       signature: ECDSA(device key, "openchat/v2 signed-prekey",
 *                        user 0x00 device 0x00 u32(id) u64(ts) x25519)
 *     one-time pre-key = <id>.<x25519>.<signature>
 *       signature: ECDSA(device key, "openchat/v2 one-time-prekey",
 *                        user 0x00 device 0x00 u32(id) x25519)
 *
 * The private halves live in the device's local store (encrypted at rest), never on the server.
 *
 * @module
 */

import { concatBytes, toBase64Url, uint32be, uint64be, utf8 } from "../../crypto/bytes.ts";
import { RAW_25519_PUBLIC_BYTES } from "../../crypto/keys.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { bytesField, decimalField, MAX_U32, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

/** Label of signed pre-key signatures. */
export const SIGNED_PREKEY_LABEL = "openchat/v2 signed-prekey";
/** Label of one-time pre-key signatures. */
export const ONE_TIME_PREKEY_LABEL = "openchat/v2 one-time-prekey";
/** A device replaces its signed pre-key this often. */
export const SIGNED_PREKEY_ROTATE_MS = 7 * 86_400_000;
/** A replaced signed pre-key's private half is kept this long, then deleted. */
export const SIGNED_PREKEY_KEEP_MS = 30 * 86_400_000;
/** One-time pre-keys a device keeps published. */
export const ONE_TIME_PREKEY_TARGET = 100;
/** Below this many on the server, the device tops up to {@linkcode ONE_TIME_PREKEY_TARGET}. */
export const ONE_TIME_PREKEY_LOW = 25;

/** A device's public pre-key, as it signed it. */
export interface PublicPrekey {
  readonly kind: "signed" | "onetime";
  readonly id: number;
  readonly publicKey: Uint8Array<ArrayBuffer>;
  /** For signed pre-keys: when it was made (ms). */
  readonly ts?: number;
}

function signedBytes(user: string, device: string, key: PublicPrekey): Uint8Array {
  return concatBytes(
    utf8(user),
    Uint8Array.of(0),
    utf8(device),
    Uint8Array.of(0),
    uint32be(key.id),
    ...(key.kind === "signed" ? [uint64be(key.ts!)] : []),
    key.publicKey,
  );
}

/** Signs a pre-key of this device, giving its published form. */
export async function signPrekey(
  user: string,
  device: string,
  key: PublicPrekey,
  deviceKey: CryptoKey,
): Promise<string> {
  const label = key.kind === "signed" ? SIGNED_PREKEY_LABEL : ONE_TIME_PREKEY_LABEL;
  const signature = await signLabelled(deviceKey, label, signedBytes(user, device, key));
  return [
    String(key.id),
    ...(key.kind === "signed" ? [String(key.ts)] : []),
    toBase64Url(key.publicKey, false),
    toBase64Url(signature, false),
  ].join(".");
}

/**
 * Verifies a published pre-key of `user`'s `device` against the device's certificate key.
 *
 * @throws {E2EError} `bad_payload` or `bad_signature` (a pre-key whose signature does not verify
 *   is refused: the server could otherwise hand out a key of its own).
 */
export async function verifyPrekey(
  payload: string,
  kind: "signed" | "onetime",
  user: string,
  device: string,
  certificateKey: CryptoKey,
): Promise<PublicPrekey> {
  const from = `${user}/${device}`;
  const fields = splitFields(payload, kind === "signed" ? 4 : 3, "pre-key", from);
  const id = decimalField(fields[0]!, MAX_U32, "pre-key", from);
  const ts = kind === "signed"
    ? decimalField(fields[1]!, Number.MAX_SAFE_INTEGER, "pre-key", from)
    : undefined;
  const rest = kind === "signed" ? fields.slice(2) : fields.slice(1);
  const publicKey = bytesField(rest[0]!, "pre-key", from, RAW_25519_PUBLIC_BYTES);
  const signature = bytesField(rest[1]!, "pre-key", from);
  const key: PublicPrekey = { kind, id, publicKey, ...(ts !== undefined ? { ts } : {}) };
  const ok = await verifyLabelled(
    certificateKey,
    kind === "signed" ? SIGNED_PREKEY_LABEL : ONE_TIME_PREKEY_LABEL,
    signedBytes(user, device, key),
    signature,
  );
  if (!ok) {
    throw new E2EError("bad_signature", `A pre-key of ${from} does not verify; it was refused`);
  }
  return key;
}

/** The key reference a package wrapped to `key` names (`s<id>` or `o<id>`). */
export function prekeyRef(key: PublicPrekey): string {
  return `${key.kind === "signed" ? "s" : "o"}${key.id}`;
}
