/**
 * The invite token `openchat ca invite` prints and `openchat enroll` takes: one printable line,
 * `oc1.` followed by unpadded base64url of a compact binary record:
 *
 * ```
 * u8 version (1)
 * u8 address count (1 to 4), then each address: u8 length, ASCII `host:port`
 * 32 bytes  SHA-256 of the CA certificate's DER
 * u8 length, user name
 * u8 length, device label
 * 16 bytes  secret
 * u64       expiry, ms since the epoch
 * ```
 *
 * A device that asks for an invite for another device of its user (`/device add`) appends a
 * second part, `.` and the unpadded base64url of a 16-byte **vouching secret** it keeps and the
 * server never sees: the new device proves it holds the token with it, so the old device can
 * vouch for the new one's key (`client/e2e/device_link.ts`).
 *
 * The decoder is strict: every length is checked, names follow the naming rules, addresses are
 * `host:port`, and nothing may follow the expiry. Any other input is refused with a
 * {@linkcode TokenError}, never another kind of exception.
 *
 * @module
 */

import { concatBytes, fromBase64Url, toBase64Url, uint64be } from "../crypto/bytes.ts";
import { isValidDeviceLabel } from "./devices.ts";
import { isValidUserName } from "./names.ts";

/** What every token starts with; the digit is the format's version. */
export const TOKEN_PREFIX = "oc1.";
/** Size of the invite's secret. */
export const INVITE_SECRET_BYTES = 16;
/** Size of the CA fingerprint in a token. */
export const CA_FINGERPRINT_BYTES = 32;
/** Size of the vouching secret a device appends to an invite it asked for. */
export const VOUCH_SECRET_BYTES = 16;
/** Most addresses a token may carry. */
export const MAX_TOKEN_ADDRESSES = 4;
/** Longest address, `host:port`, in a token. */
export const MAX_ADDRESS_LENGTH = 255;
/** Longest token text accepted (well above the largest valid one). */
export const MAX_TOKEN_CHARS = 2048;

const FORMAT_VERSION = 1;
const ADDRESS = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** The decoded contents of an invite. */
export interface InviteToken {
  /** Where to dial, `host:port` (IPv6 in brackets), in order of preference. */
  readonly addresses: readonly string[];
  /** SHA-256 of the CA certificate's DER. */
  readonly caFingerprint: Uint8Array;
  readonly user: string;
  readonly device: string;
  readonly secret: Uint8Array;
  /** When the invite stops working, ms since the epoch. */
  readonly expiresAt: number;
  /** The vouching secret the inviting device appended, if a device asked for the invite. */
  readonly vouch?: Uint8Array;
}

/** A token could not be read; the message says what is wrong with it. */
export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/** True for `host:port` with a port from 1 to 65535. */
export function isValidAddress(address: string): boolean {
  if (address.length > MAX_ADDRESS_LENGTH || !ADDRESS.test(address)) return false;
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  return port >= 1 && port <= 65535;
}

/**
 * Encodes `token` as one printable line.
 *
 * @throws {RangeError} when a field is out of its bounds.
 */
export function encodeInviteToken(token: InviteToken): string {
  const { addresses } = token;
  if (addresses.length < 1 || addresses.length > MAX_TOKEN_ADDRESSES) {
    throw new RangeError(`A token carries 1 to ${MAX_TOKEN_ADDRESSES} addresses`);
  }
  for (const address of addresses) {
    if (!isValidAddress(address)) throw new RangeError(`Not HOST:PORT: ${address}`);
  }
  if (!isValidUserName(token.user)) throw new RangeError("Invalid user name");
  if (!isValidDeviceLabel(token.device)) throw new RangeError("Invalid device label");
  if (token.caFingerprint.length !== CA_FINGERPRINT_BYTES) {
    throw new RangeError("The CA fingerprint is 32 bytes");
  }
  if (token.secret.length !== INVITE_SECRET_BYTES) throw new RangeError("The secret is 16 bytes");
  if (!Number.isSafeInteger(token.expiresAt) || token.expiresAt < 0) {
    throw new RangeError("Invalid expiry");
  }
  const ascii = (text: string) => {
    const bytes = new TextEncoder().encode(text);
    return concatBytes(Uint8Array.of(bytes.length), bytes);
  };
  const bytes = concatBytes(
    Uint8Array.of(FORMAT_VERSION, addresses.length),
    ...addresses.map(ascii),
    token.caFingerprint,
    ascii(token.user),
    ascii(token.device),
    token.secret,
    uint64be(token.expiresAt),
  );
  if (token.vouch !== undefined && token.vouch.length !== VOUCH_SECRET_BYTES) {
    throw new RangeError("The vouching secret is 16 bytes");
  }
  return TOKEN_PREFIX + toBase64Url(bytes, false) +
    (token.vouch ? `.${toBase64Url(token.vouch, false)}` : "");
}

/**
 * Decodes a token, refusing anything malformed.
 *
 * @throws {TokenError} saying what is wrong.
 */
export function decodeInviteToken(text: string): InviteToken {
  const trimmed = text.trim();
  if (trimmed.length > MAX_TOKEN_CHARS) throw new TokenError("The invite is far too long");
  if (!trimmed.startsWith(TOKEN_PREFIX)) {
    throw new TokenError(`An invite starts with "${TOKEN_PREFIX}"; this is not an invite`);
  }
  const parts = trimmed.slice(TOKEN_PREFIX.length).split(".");
  if (parts.length > 2) throw new TokenError("The invite is damaged (too many parts)");
  let bytes: Uint8Array;
  let vouch: Uint8Array | undefined;
  try {
    bytes = fromBase64Url(parts[0]!, false);
    if (parts[1] !== undefined) vouch = fromBase64Url(parts[1], false);
  } catch {
    throw new TokenError("The invite is damaged (not base64url); copy the whole line again");
  }
  if (vouch !== undefined && vouch.length !== VOUCH_SECRET_BYTES) {
    throw new TokenError("The invite's vouching part is damaged; copy the whole line again");
  }
  const reader = new Reader(bytes);
  if (reader.u8() !== FORMAT_VERSION) {
    throw new TokenError("The invite is of another version; update openchat");
  }
  const count = reader.u8();
  if (count < 1 || count > MAX_TOKEN_ADDRESSES) {
    throw new TokenError(`The invite carries ${count} addresses (1 to ${MAX_TOKEN_ADDRESSES})`);
  }
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const address = reader.ascii();
    if (!isValidAddress(address)) throw new TokenError("The invite holds an invalid address");
    addresses.push(address);
  }
  const caFingerprint = reader.bytes(CA_FINGERPRINT_BYTES);
  const user = reader.ascii();
  if (!isValidUserName(user)) throw new TokenError("The invite holds an invalid user name");
  const device = reader.ascii();
  if (!isValidDeviceLabel(device)) {
    throw new TokenError("The invite holds an invalid device label");
  }
  const secret = reader.bytes(INVITE_SECRET_BYTES);
  const expiresAt = reader.u64();
  if (!reader.done) throw new TokenError("The invite is damaged (extra bytes at its end)");
  return { addresses, caFingerprint, user, device, secret, expiresAt, ...(vouch ? { vouch } : {}) };
}

class Reader {
  #offset = 0;

  constructor(private readonly data: Uint8Array) {}

  get done(): boolean {
    return this.#offset === this.data.length;
  }

  bytes(length: number): Uint8Array {
    if (this.#offset + length > this.data.length) {
      throw new TokenError("The invite is damaged (cut short); copy the whole line again");
    }
    const out = this.data.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }

  u8(): number {
    return this.bytes(1)[0]!;
  }

  u64(): number {
    const view = new DataView(this.bytes(8).buffer);
    const value = view.getBigUint64(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TokenError("The invite holds an invalid expiry");
    }
    return Number(value);
  }

  ascii(): string {
    const bytes = this.bytes(this.u8());
    if (!bytes.every((byte) => byte >= 0x21 && byte <= 0x7e)) {
      throw new TokenError("The invite holds text that is not printable ASCII");
    }
    return String.fromCharCode(...bytes);
  }
}
