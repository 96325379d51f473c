/**
 * Field checks for decoding frames: each takes the parsed object and a key, and returns the
 * value narrowed to its type or throws a {@linkcode ProtocolError} `bad_field` naming the field.
 *
 * @module
 */

import { fromBase64Url } from "../crypto/bytes.ts";
import { ProtocolError } from "./errors.ts";
import { isValidRoomName, isValidUserName } from "./names.ts";

/** A parsed JSON object whose fields are being checked. */
export type Fields = Record<string, unknown>;

function bad(key: string, expected: string): never {
  throw new ProtocolError("bad_field", `Field "${key}" must be ${expected}`);
}

/** Unpadded base64url of exactly `bytes` bytes (for nonces, session ids). */
export function b64Field(fields: Fields, key: string, bytes: number): string {
  const value = fields[key];
  const length = Math.ceil((bytes * 4) / 3);
  if (typeof value !== "string" || value.length !== length || !/^[A-Za-z0-9_-]+$/.test(value)) {
    bad(key, `${bytes} bytes of unpadded base64url`);
  }
  return value;
}

/** Unpadded base64url of 1 to `maxBytes` bytes (certificates, signatures). */
export function b64VarField(fields: Fields, key: string, maxBytes: number): string {
  const value = fields[key];
  if (
    typeof value !== "string" || value.length === 0 ||
    value.length > Math.ceil((maxBytes * 4) / 3) || !/^[A-Za-z0-9_-]+$/.test(value)
  ) {
    bad(key, `unpadded base64url of at most ${maxBytes} bytes`);
  }
  return value;
}

/**
 * Decodes a field already checked by {@linkcode b64Field} or {@linkcode b64VarField} to bytes,
 * refusing non-canonical spellings as `bad_field`.
 */
export function decodeB64Field(value: string, key: string): Uint8Array<ArrayBuffer> {
  try {
    return fromBase64Url(value, false);
  } catch {
    return bad(key, "canonical unpadded base64url");
  }
}

/** Printable ASCII without spaces, 1 to `maxLength` characters: opaque end-to-end payloads. */
export function payloadField(fields: Fields, key: string, maxLength: number): string {
  const value = fields[key];
  if (
    typeof value !== "string" || value.length === 0 || value.length > maxLength ||
    !/^[\x21-\x7e]+$/.test(value)
  ) {
    bad(key, `printable ASCII of 1 to ${maxLength} characters`);
  }
  return value;
}

/** A client-chosen message id: 1 to 64 of `[A-Za-z0-9_-]`. */
export function idField(fields: Fields, key = "id"): string {
  const value = fields[key];
  if (typeof value !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
    bad(key, "1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'");
  }
  return value;
}

/** A room name. */
export function roomField(fields: Fields, key = "room"): string {
  const value = fields[key];
  if (!isValidRoomName(value)) bad(key, "a room name ([a-z0-9][a-z0-9_-]{0,31})");
  return value;
}

/** A user name. */
export function userField(fields: Fields, key = "user"): string {
  const value = fields[key];
  if (!isValidUserName(value)) bad(key, "a user name ([a-z0-9][a-z0-9_-]{0,31})");
  return value;
}

/** A whole number from `min` to `max`. */
export function intField(fields: Fields, key: string, min: number, max: number): number {
  const value = fields[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    bad(key, `a whole number from ${min} to ${max}`);
  }
  return value;
}

/** A boolean. */
export function boolField(fields: Fields, key: string): boolean {
  const value = fields[key];
  if (typeof value !== "boolean") bad(key, "true or false");
  return value;
}

/** A string of at most `maxLength` characters with no control characters. */
export function textField(fields: Fields, key: string, maxLength: number): string {
  const value = fields[key];
  if (typeof value !== "string" || value.length > maxLength || /\p{Cc}/u.test(value)) {
    bad(key, `text of at most ${maxLength} characters without control characters`);
  }
  return value;
}

/** An array of 0 to `maxItems` objects, each decoded by `item`. */
export function arrayField<T>(
  fields: Fields,
  key: string,
  maxItems: number,
  item: (fields: Fields) => T,
): T[] {
  const value = fields[key];
  if (!Array.isArray(value) || value.length > maxItems) {
    bad(key, `a list of at most ${maxItems} items`);
  }
  return value.map((element) => item(objectOf(element, key)));
}

/** `value` as an object with string keys, or `bad_field`. */
export function objectOf(value: unknown, key: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value)) bad(key, "an object");
  return value as Fields;
}
