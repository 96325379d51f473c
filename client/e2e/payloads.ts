/**
 * Sealed messages, inside the server's opaque `payload` fields. Room messages and direct
 * messages have the same shape: step n of the sender's chain for that epoch gives the Fernet key,
 * and the sender's session key signs what it is, where it goes and the token. A receiver
 * verifies the signature before it decrypts anything.
 *
 *     payload   = <epoch>.<n>.<token>.<signature>        (canonical decimals, unpadded b64u)
 *     room      : "openchat/v2 room-message" 0x00 room 0x00 sender-session 0x00 u32(epoch) u32(n) token
 *     direct    : "openchat/v2 direct-message" 0x00 sender-session 0x00 recipient-session 0x00
 *                 u32(epoch) u32(n) token
 *     plaintext = UTF-8 JSON {"text": "...", "ts": <ms>, "action"?: true, "to"?: "<user>"}
 *
 * `to` is required in a direct message and names the user it was written to, so the sender's
 * own other devices, which receive a copy, show whom it went to.
 *
 * @module
 */

import { concatBytes, fromUtf8, toBase64Url, uint32be, utf8 } from "../../crypto/bytes.ts";
import { InvalidToken } from "../../crypto/fernet.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { isValidUserName } from "../../protocol/names.ts";
import { messageCipher } from "./chains.ts";
import { bytesField, decimalField, MAX_U32, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

/** Label of room message signatures. */
export const ROOM_MESSAGE_LABEL = "openchat/v2 room-message";
/** Label of direct message signatures. */
export const DIRECT_MESSAGE_LABEL = "openchat/v2 direct-message";
/** Longest message text, in UTF-8 bytes: sealed, it still fits one frame. */
export const MAX_TEXT_BYTES = 32 * 1024;

/** What a person wrote. */
export interface Plaintext {
  text: string;
  /** The sender's clock when it was sealed, in ms since the epoch. */
  ts: number;
  /** A `/me` action rather than a line of speech. */
  action?: boolean;
  /** For direct messages: the user it was written to. */
  to?: string;
}

/** Where a sealed message goes: a room, or a direct message to one session. */
export type MessageScope =
  | { readonly kind: "room"; readonly room: string }
  | { readonly kind: "direct"; readonly recipient: string };

/** True when `text` fits in one message. */
export function textFits(text: string): boolean {
  return utf8(text).length <= MAX_TEXT_BYTES;
}

function encodePlaintext(plain: Plaintext): Uint8Array {
  const value: Plaintext = { text: plain.text, ts: plain.ts };
  if (plain.action) value.action = true;
  if (plain.to) value.to = plain.to;
  return utf8(JSON.stringify(value));
}

function decodePlaintext(bytes: Uint8Array, from: string, direct: boolean): Plaintext {
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
    (v.action !== undefined && typeof v.action !== "boolean") ||
    (direct ? !isValidUserName(v.to) : v.to !== undefined)
  ) {
    throw new E2EError("bad_payload", `Malformed message from ${from}`);
  }
  return {
    text: v.text,
    ts: v.ts,
    ...(v.action ? { action: true } : {}),
    ...(direct ? { to: v.to as string } : {}),
  };
}

function signedBytes(
  scope: MessageScope,
  session: string,
  epoch: number,
  n: number,
  token: string,
): Uint8Array {
  const head = scope.kind === "room"
    ? [utf8(scope.room), Uint8Array.of(0), utf8(session)]
    : [utf8(session), Uint8Array.of(0), utf8(scope.recipient)];
  return concatBytes(...head, Uint8Array.of(0), uint32be(epoch), uint32be(n), utf8(token));
}

function labelOf(scope: MessageScope): string {
  return scope.kind === "room" ? ROOM_MESSAGE_LABEL : DIRECT_MESSAGE_LABEL;
}

/** Seals a message with step `n` of the sender's chain and signs it. */
export async function sealMessage(options: {
  scope: MessageScope;
  session: string;
  epoch: number;
  n: number;
  messageKey: Uint8Array;
  signingKey: CryptoKey;
  plain: Plaintext;
}): Promise<string> {
  const { scope, session, epoch, n } = options;
  const token = await messageCipher(options.messageKey).encrypt(encodePlaintext(options.plain));
  const signature = await signLabelled(
    options.signingKey,
    labelOf(scope),
    signedBytes(scope, session, epoch, n, token),
  );
  return `${epoch}.${n}.${token}.${toBase64Url(signature, false)}`;
}

/** A sealed message split into its parts, not yet verified. */
export interface Envelope {
  readonly epoch: number;
  readonly n: number;
  readonly token: string;
  readonly signature: Uint8Array<ArrayBuffer>;
}

/** Splits a sealed message. @throws {E2EError} `bad_payload`. */
export function parseMessage(payload: string, from: string): Envelope {
  const [epoch, n, token, signature] = splitFields(payload, 4, "message", from);
  if (token!.length === 0) throw new E2EError("bad_payload", `Malformed message from ${from}`);
  return {
    epoch: decimalField(epoch!, MAX_U32, "message", from),
    n: decimalField(n!, MAX_U32, "message", from),
    token: token!,
    signature: bytesField(signature!, "message", from),
  };
}

/**
 * Checks a sealed message's signature with the sender's session key.
 *
 * @throws {E2EError} `bad_signature`.
 */
export async function verifyMessage(
  envelope: Envelope,
  scope: MessageScope,
  session: string,
  signingKey: CryptoKey,
  from: string,
): Promise<void> {
  const ok = await verifyLabelled(
    signingKey,
    labelOf(scope),
    signedBytes(scope, session, envelope.epoch, envelope.n, envelope.token),
    envelope.signature,
  );
  if (!ok) {
    throw new E2EError(
      "bad_signature",
      `A message claiming to be from ${from} has a bad signature`,
    );
  }
}

/**
 * Decrypts a verified message with its message key.
 *
 * @throws {E2EError} `undecryptable` or `bad_payload`.
 */
export async function openMessage(
  envelope: Envelope,
  messageKey: Uint8Array,
  scope: MessageScope,
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
  return decodePlaintext(bytes, from, scope.kind === "direct");
}
