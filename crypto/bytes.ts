/**
 * Byte helpers shared by the crypto modules: UTF-8, strict base64url, concatenation and
 * big-endian integers. Nothing here touches `crypto.subtle`.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Matches padded URL-safe base64 and nothing else (no whitespace, no `+` or `/`). */
const BASE64URL_PADDED = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;
/** Matches unpadded URL-safe base64 (the form used inside protocol frames). */
const BASE64URL_UNPADDED = /^[A-Za-z0-9_-]*$/;

/**
 * Encodes a string as UTF-8.
 *
 * @example
 * ```ts
 * import { utf8 } from "./bytes.ts";
 * utf8("hi"); // Uint8Array [104, 105]
 * ```
 */
export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/**
 * Decodes UTF-8, throwing a `TypeError` on invalid sequences rather than inserting U+FFFD.
 */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * Encodes bytes as URL-safe base64, padded with `=` (as Python's `urlsafe_b64encode` does)
 * unless `padded` is false.
 */
export function toBase64Url(bytes: Uint8Array, padded = true): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: !padded });
}

/**
 * Decodes URL-safe base64 strictly: only the URL-safe alphabet, canonical padding (required when
 * `padded`, forbidden otherwise) and zero trailing bits. Anything else is a `TypeError`.
 *
 * @example
 * ```ts
 * import { fromBase64Url } from "./bytes.ts";
 * fromBase64Url("aGk="); // Uint8Array [104, 105]
 * ```
 */
export function fromBase64Url(text: string, padded = true): Uint8Array<ArrayBuffer> {
  const shape = padded ? BASE64URL_PADDED : BASE64URL_UNPADDED;
  if (!shape.test(text) || (!padded && text.length % 4 === 1)) {
    throw new TypeError(`Invalid base64url text (${text.length} characters)`);
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = Uint8Array.fromBase64(text, {
      alphabet: "base64url",
      lastChunkHandling: padded ? "strict" : "loose",
    });
  } catch {
    throw new TypeError(`Invalid base64url text (${text.length} characters)`);
  }
  // "loose" ignores non-zero trailing bits; insist on the one canonical spelling.
  if (!padded && toBase64Url(bytes, false) !== text) {
    throw new TypeError(`Invalid base64url text (${text.length} characters)`);
  }
  return bytes;
}

/** Concatenates byte arrays into one new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Returns `length` bytes from the platform's cryptographically secure generator. */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/**
 * Compares two byte arrays in time that depends only on their lengths. Use it for secrets that
 * are not compared by `crypto.subtle.verify` (which is already constant time).
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Encodes an unsigned 32-bit integer as 4 big-endian bytes. */
export function uint32be(value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`Expected an unsigned 32-bit integer, received ${value}`);
  }
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

/** Encodes a non-negative safe integer as 8 big-endian bytes. */
export function uint64be(value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Expected a non-negative safe integer, received ${value}`);
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}
