/**
 * The end-to-end payloads inside the server's opaque `payload` fields, sealed and opened. The
 * server relays them without a key to read them; a receiver verifies the signature before it
 * decrypts anything.
 *
 * - Room message: `<epoch>.<n>.<fernet token>.<signature>`; the token is Fernet under the key of
 *   step n of the sender's chain; the Ed25519 session signature covers, under label
 *   "openchat/v1 room-message", `room 0x00 sender-session 0x00 epoch(4) n(4) token`.
 * - Direct message: `<fernet token>.<signature>`; Fernet under the pairwise direct key; the
 *   signature covers, under "openchat/v1 direct-message", `from-session 0x00 to-session 0x00 token`.
 * - Key package (one `keys` item): a Fernet token under the pairwise key-wrap key holding
 *   `0x01 epoch(4) chain-key(32) room`.
 * - Plaintext of both messages: UTF-8 JSON `{"text": "...", "ts": <ms>, "action": true?}`.
 *
 * @module
 */

import { concatBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from "../../crypto/bytes.ts";
import { Fernet, InvalidToken } from "../../crypto/fernet.ts";
import { CHAIN_KEY_BYTES } from "../../crypto/ratchet.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { messageCipher } from "./chains.ts";
import { E2EError } from "./errors.ts";

/** Label of room message signatures. */
export const ROOM_MESSAGE_LABEL = "openchat/v1 room-message";
/** Label of direct message signatures. */
export const DIRECT_MESSAGE_LABEL = "openchat/v1 direct-message";
/** Longest message text, in UTF-8 bytes: sealed, it still fits one frame. */
export const MAX_TEXT_BYTES = 32 * 1024;
const KEY_PACKAGE_VERSION = 1;
const MAX_EPOCH = 0xffff_ffff;

/** What a person wrote. */
export interface Plaintext {
  text: string;
  /** The sender's clock when it was sealed, in ms since the epoch. */
  ts: number;
  /** A `/me` action rather than a line of speech. */
  action?: boolean;
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function encodePlaintext(plain: Plaintext): Uint8Array {
  const bytes = utf8(JSON.stringify(plain.action ? plain : { text: plain.text, ts: plain.ts }));
  return bytes;
}

/** True when `text` fits in one message. */
export function textFits(text: string): boolean {
  return utf8(text).length <= MAX_TEXT_BYTES;
}

function decodePlaintext(bytes: Uint8Array, from: string): Plaintext {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new E2EError("bad_payload", `Undecodable message from ${from}`);
  }
  const v = value as Record<string, unknown>;
  if (
    typeof v !== "object" || v === null || typeof v.text !== "string" ||
    typeof v.ts !== "number" || !Number.isSafeInteger(v.ts) ||
    (v.action !== undefined && typeof v.action !== "boolean")
  ) {
    throw new E2EError("bad_payload", `Malformed message from ${from}`);
  }
  return { text: v.text, ts: v.ts, ...(v.action ? { action: true } : {}) };
}

function roomSigned(room: string, session: string, epoch: number, n: number, token: string) {
  return concatBytes(
    utf8(room),
    Uint8Array.of(0),
    utf8(session),
    Uint8Array.of(0),
    u32(epoch),
    u32(n),
    utf8(token),
  );
}

function directSigned(from: string, to: string, token: string) {
  return concatBytes(utf8(from), Uint8Array.of(0), utf8(to), Uint8Array.of(0), utf8(token));
}

/** Seals a room message with step `n` of the sender's chain and signs it. */
export async function sealRoomMessage(options: {
  room: string;
  session: string;
  epoch: number;
  n: number;
  messageKey: Uint8Array;
  signingKey: CryptoKey;
  plain: Plaintext;
}): Promise<string> {
  const token = await messageCipher(options.messageKey).encrypt(encodePlaintext(options.plain));
  const signature = await signLabelled(
    options.signingKey,
    ROOM_MESSAGE_LABEL,
    roomSigned(options.room, options.session, options.epoch, options.n, token),
  );
  return `${options.epoch}.${options.n}.${token}.${toBase64Url(signature, false)}`;
}

/** A room message split into its parts, not yet verified. */
export interface RoomEnvelope {
  epoch: number;
  n: number;
  token: string;
  signature: Uint8Array<ArrayBuffer>;
}

/** Splits a room message payload. @throws {E2EError} `bad_payload`. */
export function parseRoomMessage(payload: string, from: string): RoomEnvelope {
  const parts = payload.split(".");
  if (parts.length !== 4 || !/^\d{1,10}$/.test(parts[0]!) || !/^\d{1,10}$/.test(parts[1]!)) {
    throw new E2EError("bad_payload", `Malformed message from ${from}`);
  }
  const epoch = Number(parts[0]);
  const n = Number(parts[1]);
  if (epoch > MAX_EPOCH || n > MAX_EPOCH) {
    throw new E2EError("bad_payload", `Malformed message from ${from}`);
  }
  try {
    return { epoch, n, token: parts[2]!, signature: fromBase64Url(parts[3]!, false) };
  } catch {
    throw new E2EError("bad_payload", `Malformed message from ${from}`);
  }
}

/**
 * Checks a room message's signature with the sender's session key.
 *
 * @throws {E2EError} `bad_signature`.
 */
export async function verifyRoomMessage(
  envelope: RoomEnvelope,
  room: string,
  session: string,
  signingKey: CryptoKey,
  from: string,
): Promise<void> {
  const ok = await verifyLabelled(
    signingKey,
    ROOM_MESSAGE_LABEL,
    roomSigned(room, session, envelope.epoch, envelope.n, envelope.token),
    envelope.signature,
  );
  if (!ok) {
    throw new E2EError(
      "bad_signature",
      `A message claiming to be from ${from} has a bad signature`,
    );
  }
}

/** Decrypts a verified room message with its message key. @throws {E2EError} `undecryptable`. */
export async function openRoomMessage(
  envelope: RoomEnvelope,
  messageKey: Uint8Array,
  from: string,
): Promise<Plaintext> {
  let bytes: Uint8Array;
  try {
    bytes = await messageCipher(messageKey).decrypt(envelope.token);
  } catch (error) {
    if (error instanceof InvalidToken) {
      throw new E2EError("undecryptable", `A message from ${from} could not be decrypted`);
    }
    throw error;
  }
  return decodePlaintext(bytes, from);
}

/** Seals and signs a direct message with the pairwise direct key. */
export async function sealDirectMessage(options: {
  fromSession: string;
  toSession: string;
  directKey: Fernet;
  signingKey: CryptoKey;
  plain: Plaintext;
}): Promise<string> {
  const token = await options.directKey.encrypt(encodePlaintext(options.plain));
  const signature = await signLabelled(
    options.signingKey,
    DIRECT_MESSAGE_LABEL,
    directSigned(options.fromSession, options.toSession, token),
  );
  return `${token}.${toBase64Url(signature, false)}`;
}

/**
 * Verifies and opens a direct message.
 *
 * @returns the plaintext and the token (for replay detection).
 * @throws {E2EError} `bad_payload`, `bad_signature` or `undecryptable`.
 */
export async function openDirectMessage(options: {
  payload: string;
  from: string;
  fromSession: string;
  toSession: string;
  directKey: Fernet;
  signingKey: CryptoKey;
}): Promise<{ plain: Plaintext; token: string }> {
  const parts = options.payload.split(".");
  if (parts.length !== 2) {
    throw new E2EError("bad_payload", `Malformed direct message from ${options.from}`);
  }
  let signature: Uint8Array;
  try {
    signature = fromBase64Url(parts[1]!, false);
  } catch {
    throw new E2EError("bad_payload", `Malformed direct message from ${options.from}`);
  }
  const token = parts[0]!;
  const ok = await verifyLabelled(
    options.signingKey,
    DIRECT_MESSAGE_LABEL,
    directSigned(options.fromSession, options.toSession, token),
    signature,
  );
  if (!ok) {
    throw new E2EError(
      "bad_signature",
      `A direct message claiming to be from ${options.from} has a bad signature`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await options.directKey.decrypt(token);
  } catch {
    throw new E2EError(
      "undecryptable",
      `A direct message from ${options.from} could not be decrypted`,
    );
  }
  return { plain: decodePlaintext(bytes, options.from), token };
}

/** Wraps a chain key for one member. */
export function wrapChainKey(
  wrapKey: Fernet,
  room: string,
  epoch: number,
  chainKey: Uint8Array,
): Promise<string> {
  return wrapKey.encrypt(
    concatBytes(Uint8Array.of(KEY_PACKAGE_VERSION), u32(epoch), chainKey, utf8(room)),
  );
}

/**
 * Unwraps a key package and checks it is for `room`.
 *
 * @throws {E2EError} `undecryptable` or `bad_payload`.
 */
export async function unwrapChainKey(
  wrapKey: Fernet,
  payload: string,
  room: string,
  from: string,
): Promise<{ epoch: number; chainKey: Uint8Array<ArrayBuffer> }> {
  let bytes: Uint8Array;
  try {
    bytes = await wrapKey.decrypt(payload);
  } catch {
    throw new E2EError("undecryptable", `A key package from ${from} could not be decrypted`);
  }
  const header = 1 + 4 + CHAIN_KEY_BYTES;
  if (bytes.length <= header || bytes[0] !== KEY_PACKAGE_VERSION) {
    throw new E2EError("bad_payload", `Malformed key package from ${from}`);
  }
  let packageRoom: string;
  try {
    packageRoom = fromUtf8(bytes.subarray(header));
  } catch {
    throw new E2EError("bad_payload", `Malformed key package from ${from}`);
  }
  if (packageRoom !== room) {
    throw new E2EError(
      "bad_payload",
      `A key package from ${from} for ${packageRoom} arrived in ${room}`,
    );
  }
  return {
    epoch: new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0),
    chainKey: bytes.slice(5, header) as Uint8Array<ArrayBuffer>,
  };
}
