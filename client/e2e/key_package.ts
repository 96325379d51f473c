/**
 * Key packages: how a member hands the first key of a new chain to one other device.
 *
 * A package is wrapped with a fresh ephemeral X25519 key to one of the recipient's current
 * public keys (its session's latest agreement key; a pre-key when it is offline), so a snapshot
 * of the recipient taken before that key existed opens nothing. Its plaintext names both ends,
 * the scope and the epoch, so a package cannot be reflected back to its sender, moved to another
 * room or replayed into another session; and the sender signs it with its session key, so
 * nobody else (the server included) can hand out chain keys in its name.
 *
 *     payload   = <ref>.<ephemeral>.<token>.<signature>
 *     ref       = a<seq> (agreement key) | s<id> (signed pre-key) | o<id> (one-time pre-key)
 *     wrap key  = HKDF-SHA256(ikm = X25519(ephemeral, R), salt = "openchat/v2 key-package",
 *                             info = ephemeral || R)          (R: the recipient's public key)
 *     token     = Fernet(wrap key, plaintext)
 *     signature = Ed25519(sender session key, "openchat/v2 key-package" 0x00
 *                   scope 0x00 sender 0x00 recipient 0x00 ref 0x00 ephemeral token)
 *     plaintext = u8(2) u8(kind) u32(epoch) u32(prevCount) u64(version) rosterHash(32)
 *                 chainKey(32) sender 0x00 recipient 0x00 scope
 *
 * @module
 */

import {
  concatBytes,
  fromUtf8,
  toBase64Url,
  uint32be,
  uint64be,
  utf8,
} from "../../crypto/bytes.ts";
import { generateAgreementKeyPair, x25519SharedSecret } from "../../crypto/ecdh.ts";
import { Fernet } from "../../crypto/fernet.ts";
import { hkdfSha256 } from "../../crypto/kdf.ts";
import { exportRawPublicKey, RAW_25519_PUBLIC_BYTES } from "../../crypto/keys.ts";
import { CHAIN_KEY_BYTES } from "../../crypto/ratchet.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { bytesField, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

/** Label of key package signatures, and the HKDF salt of their wrap keys. */
export const KEY_PACKAGE_LABEL = "openchat/v2 key-package";
/** Size of a roster hash. */
export const ROSTER_HASH_BYTES = 32;
const PLAINTEXT_VERSION = 2;
const KIND_CODES = { room: 1, direct: 2 } as const;
const FIXED_BYTES = 1 + 1 + 4 + 4 + 8 + ROSTER_HASH_BYTES + CHAIN_KEY_BYTES;
const SALT = utf8(KEY_PACKAGE_LABEL);
const REF_PATTERN = /^[aso](?:0|[1-9][0-9]{0,9})$/;

/** What a key package carries. */
export interface KeyPackageContent {
  /** A room's chain, or a direct-message chain. */
  readonly kind: "room" | "direct";
  /** The room, or "" for a direct chain. */
  readonly scope: string;
  readonly senderSession: string;
  /** The recipient's session id (or `user/device` when wrapped to a pre-key). */
  readonly recipient: string;
  readonly epoch: number;
  /** How many messages of the previous epoch the server accepted from the sender. */
  readonly prevCount: number;
  /** The room's membership version the chain was made for (0 for direct). */
  readonly version: number;
  /** The sender's roster hash for that version (zeros for direct). */
  readonly rosterHash: Uint8Array;
  readonly chainKey: Uint8Array;
}

/** A fresh ephemeral X25519 key pair, used for the packages of one rotation. */
export interface Ephemeral {
  readonly privateKey: CryptoKey;
  readonly publicKey: Uint8Array<ArrayBuffer>;
}

/** Makes an ephemeral key pair. */
export async function createEphemeral(): Promise<Ephemeral> {
  const pair = await generateAgreementKeyPair();
  return { privateKey: pair.privateKey, publicKey: await exportRawPublicKey(pair.publicKey) };
}

async function wrapKey(
  privateKey: CryptoKey,
  peerPublic: Uint8Array,
  ephemeralPublic: Uint8Array,
  recipientPublic: Uint8Array,
): Promise<Fernet> {
  const shared = await x25519SharedSecret(privateKey, peerPublic);
  const key = await hkdfSha256(
    shared,
    SALT,
    concatBytes(ephemeralPublic, recipientPublic),
    32,
  );
  shared.fill(0);
  return Fernet.fromRawKey(key);
}

function signedBytes(
  scope: string,
  sender: string,
  recipient: string,
  ref: string,
  ephemeral: Uint8Array,
  token: string,
): Uint8Array {
  return concatBytes(
    utf8(scope),
    Uint8Array.of(0),
    utf8(sender),
    Uint8Array.of(0),
    utf8(recipient),
    Uint8Array.of(0),
    utf8(ref),
    Uint8Array.of(0),
    ephemeral,
    utf8(token),
  );
}

function encodeContent(content: KeyPackageContent): Uint8Array {
  if (content.rosterHash.length !== ROSTER_HASH_BYTES) throw new RangeError("Bad roster hash");
  if (content.chainKey.length !== CHAIN_KEY_BYTES) throw new RangeError("Bad chain key");
  return concatBytes(
    Uint8Array.of(PLAINTEXT_VERSION, KIND_CODES[content.kind]),
    uint32be(content.epoch),
    uint32be(content.prevCount),
    uint64be(content.version),
    content.rosterHash,
    content.chainKey,
    utf8(content.senderSession),
    Uint8Array.of(0),
    utf8(content.recipient),
    Uint8Array.of(0),
    utf8(content.scope),
  );
}

function decodeContent(bytes: Uint8Array, from: string): KeyPackageContent {
  const malformed = () => new E2EError("bad_payload", `Malformed key package from ${from}`);
  if (bytes.length < FIXED_BYTES || bytes[0] !== PLAINTEXT_VERSION) throw malformed();
  const kind = bytes[1] === KIND_CODES.room
    ? "room"
    : bytes[1] === KIND_CODES.direct
    ? "direct"
    : undefined;
  if (!kind) throw malformed();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = view.getBigUint64(10);
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed();
  let names: string[];
  try {
    names = fromUtf8(bytes.subarray(FIXED_BYTES)).split("\0");
  } catch {
    throw malformed();
  }
  if (names.length !== 3) throw malformed();
  const rosterStart = 18;
  return {
    kind,
    epoch: view.getUint32(2),
    prevCount: view.getUint32(6),
    version: Number(version),
    rosterHash: bytes.slice(rosterStart, rosterStart + ROSTER_HASH_BYTES),
    chainKey: bytes.slice(rosterStart + ROSTER_HASH_BYTES, FIXED_BYTES),
    senderSession: names[0]!,
    recipient: names[1]!,
    scope: names[2]!,
  };
}

/** Wraps `content` to the recipient key `recipientPublic` (named by `ref`) and signs it. */
export async function sealKeyPackage(options: {
  content: KeyPackageContent;
  ref: string;
  recipientPublic: Uint8Array;
  ephemeral: Ephemeral;
  signingKey: CryptoKey;
}): Promise<string> {
  const { content, ref, recipientPublic, ephemeral } = options;
  if (!REF_PATTERN.test(ref)) throw new RangeError(`Bad key reference ${ref}`);
  const fernet = await wrapKey(
    ephemeral.privateKey,
    recipientPublic,
    ephemeral.publicKey,
    recipientPublic,
  );
  const plaintext = encodeContent(content);
  const token = await fernet.encrypt(plaintext);
  plaintext.fill(0);
  const signature = await signLabelled(
    options.signingKey,
    KEY_PACKAGE_LABEL,
    signedBytes(
      content.scope,
      content.senderSession,
      content.recipient,
      ref,
      ephemeral.publicKey,
      token,
    ),
  );
  return [ref, toBase64Url(ephemeral.publicKey, false), token, toBase64Url(signature, false)]
    .join(".");
}

/** A key package split into its parts, not yet verified. */
export interface KeyPackageEnvelope {
  readonly ref: string;
  readonly ephemeral: Uint8Array<ArrayBuffer>;
  readonly token: string;
  readonly signature: Uint8Array<ArrayBuffer>;
}

/**
 * Splits a key package. Fernet tokens are padded base64url, which has no dots, so four fields.
 *
 * @throws {E2EError} `bad_payload`.
 */
export function parseKeyPackage(payload: string, from: string): KeyPackageEnvelope {
  const [ref, ephemeral, token, signature] = splitFields(payload, 4, "key package", from);
  if (!REF_PATTERN.test(ref!) || token!.length === 0) {
    throw new E2EError("bad_payload", `Malformed key package from ${from}`);
  }
  return {
    ref: ref!,
    ephemeral: bytesField(ephemeral!, "key package", from, RAW_25519_PUBLIC_BYTES),
    token: token!,
    signature: bytesField(signature!, "key package", from),
  };
}

/**
 * Checks the sender's signature over a package addressed to `recipient` in `scope`.
 *
 * @throws {E2EError} `bad_signature`.
 */
export async function verifyKeyPackage(
  envelope: KeyPackageEnvelope,
  expected: { scope: string; senderSession: string; recipient: string; verifyKey: CryptoKey },
  from: string,
): Promise<void> {
  const ok = await verifyLabelled(
    expected.verifyKey,
    KEY_PACKAGE_LABEL,
    signedBytes(
      expected.scope,
      expected.senderSession,
      expected.recipient,
      envelope.ref,
      envelope.ephemeral,
      envelope.token,
    ),
    envelope.signature,
  );
  if (!ok) {
    throw new E2EError(
      "bad_signature",
      `A key package claiming to be from ${from} does not verify`,
    );
  }
}

/**
 * Unwraps a verified package with our private key for its `ref`, and checks that its plaintext
 * names exactly the sender, recipient and scope it was delivered with (a reflected or moved
 * package names someone else).
 *
 * @throws {E2EError} `undecryptable` or `bad_payload`.
 */
export async function openKeyPackage(
  envelope: KeyPackageEnvelope,
  keys: { privateKey: CryptoKey; publicKey: Uint8Array },
  expected: { kind: "room" | "direct"; scope: string; senderSession: string; recipient: string },
  from: string,
): Promise<KeyPackageContent> {
  let plaintext: Uint8Array;
  try {
    const fernet = await wrapKey(
      keys.privateKey,
      envelope.ephemeral,
      envelope.ephemeral,
      keys.publicKey,
    );
    plaintext = await fernet.decrypt(envelope.token);
  } catch {
    throw new E2EError("undecryptable", `A key package from ${from} could not be decrypted`);
  }
  const content = decodeContent(plaintext, from);
  plaintext.fill(0);
  if (
    content.kind !== expected.kind || content.scope !== expected.scope ||
    content.senderSession !== expected.senderSession || content.recipient !== expected.recipient
  ) {
    throw new E2EError(
      "bad_payload",
      `A key package from ${from} was made for another ${
        content.recipient !== expected.recipient ? "recipient" : "sender or scope"
      }`,
    );
  }
  return content;
}
