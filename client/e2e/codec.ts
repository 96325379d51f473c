/**
 * The text shapes every end-to-end payload is made of: dot-separated fields, canonical decimal
 * numbers and unpadded base64url. One spelling per value: a number with a leading zero, a
 * base64url string with stray bits or padding, or a field count that differs is refused, so a
 * relay cannot re-spell a payload into a second, different-looking copy of the same one.
 *
 * @module
 */

import { fromBase64Url } from "../../crypto/bytes.ts";
import { E2EError } from "./errors.ts";

/** Largest value of a `u32` field (epochs, message numbers, sequence numbers). */
export const MAX_U32 = 0xffff_ffff;

const CANONICAL_DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/**
 * Splits `payload` on dots into exactly `count` fields.
 *
 * @throws {E2EError} `bad_payload` (naming `what` and `from`) for any other count.
 */
export function splitFields(payload: string, count: number, what: string, from: string): string[] {
  const fields = payload.split(".");
  if (fields.length !== count) throw malformed(what, from);
  return fields;
}

/**
 * Parses a canonical decimal (`0`, or no leading zero) from 0 to `max`.
 *
 * @throws {E2EError} `bad_payload` otherwise.
 */
export function decimalField(text: string, max: number, what: string, from: string): number {
  if (!CANONICAL_DECIMAL.test(text)) throw malformed(what, from);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value > max) throw malformed(what, from);
  return value;
}

/**
 * Decodes unpadded canonical base64url, optionally of exactly `length` bytes.
 *
 * @throws {E2EError} `bad_payload` otherwise.
 */
export function bytesField(
  text: string,
  what: string,
  from: string,
  length?: number,
): Uint8Array<ArrayBuffer> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64Url(text, false);
  } catch {
    throw malformed(what, from);
  }
  if (length !== undefined && bytes.length !== length) throw malformed(what, from);
  return bytes;
}

function malformed(what: string, from: string): E2EError {
  return new E2EError("bad_payload", `Malformed ${what} from ${from}`);
}
