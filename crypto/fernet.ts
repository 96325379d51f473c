/**
 * Fernet symmetric encryption, exactly as the public specification
 * (https://github.com/fernet/spec/blob/master/Spec.md) and Python's `cryptography.fernet`:
 *
 *     token = base64url(0x80 || timestamp(8, big-endian) || iv(16) || AES-128-CBC(PKCS#7) || HMAC-SHA256(32))
 *
 * The key is 32 bytes: the first 16 sign (HMAC-SHA256), the last 16 encrypt (AES-128-CBC).
 *
 * @module
 */

import { fromBase64Url, randomBytes, toBase64Url, utf8 } from "./bytes.ts";
import { InvalidToken } from "./errors.ts";

export { InvalidToken } from "./errors.ts";

const VERSION = 0x80;
const KEY_BYTES = 32;
const IV_BYTES = 16;
const HMAC_BYTES = 32;
const BLOCK_BYTES = 16;
const HEADER_BYTES = 1 + 8 + IV_BYTES;
/** Tokens stamped further than this in the future are refused when a TTL is given. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

interface FernetKeys {
  readonly signing: CryptoKey;
  readonly encryption: CryptoKey;
}

/** Options for {@linkcode Fernet.decrypt}. */
export interface DecryptOptions {
  /** Maximum age of the token in seconds; older tokens are refused. */
  ttl?: number;
}

/**
 * A Fernet key, shaped like Python's `cryptography.fernet.Fernet`.
 *
 * @example
 * ```ts
 * import { Fernet } from "./fernet.ts";
 * const f = new Fernet(Fernet.generateKey());
 * const token = await f.encrypt("hello");
 * new TextDecoder().decode(await f.decrypt(token)); // "hello"
 * ```
 */
export class Fernet {
  readonly #keys: Promise<FernetKeys>;

  /**
   * @param key 32 bytes as URL-safe base64 (44 characters with padding), as
   *   {@linkcode Fernet.generateKey} returns.
   * @throws {TypeError} when the key is not 32 url-safe base64-encoded bytes.
   */
  constructor(key: string);
  /** @internal {@linkcode Fernet.fromRawKey}'s way in, without a base64 round trip. */
  constructor(key: RawKey);
  constructor(key: string | RawKey) {
    if (key instanceof RawKey) {
      this.#keys = importKeys(key.bytes);
      return;
    }
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = fromBase64Url(key);
    } catch {
      throw new TypeError("Fernet key must be 32 url-safe base64-encoded bytes");
    }
    this.#keys = importKeys(checkKeyLength(raw));
  }

  /**
   * Makes a Fernet from 32 raw key bytes, for keys that come out of a KDF. The key is imported
   * straight away (the import is under way when this returns) and `raw` is not kept.
   *
   * @throws {TypeError} when `raw` is not 32 bytes long.
   */
  static fromRawKey(raw: Uint8Array): Fernet {
    return new Fernet(new RawKey(checkKeyLength(raw)));
  }

  /** Returns a fresh random key as URL-safe base64. */
  static generateKey(): string {
    return toBase64Url(randomBytes(KEY_BYTES));
  }

  /** Encrypts and authenticates `data` (a string is encoded as UTF-8), stamped with now. */
  encrypt(data: Uint8Array | string): Promise<string> {
    return this.encryptAtTime(data, nowSeconds());
  }

  /** Like {@linkcode Fernet.encrypt} with an explicit clock, in seconds since the epoch. */
  encryptAtTime(data: Uint8Array | string, currentTime: number): Promise<string> {
    return this.encryptFromParts(data, currentTime, randomBytes(IV_BYTES));
  }

  /**
   * Encrypts with a caller-chosen IV. Only for reproducing published test vectors: reusing an IV
   * under one key leaks plaintext relations, so production code calls {@linkcode Fernet.encrypt}.
   */
  async encryptFromParts(
    data: Uint8Array | string,
    currentTime: number,
    iv: Uint8Array,
  ): Promise<string> {
    if (iv.length !== IV_BYTES) {
      throw new RangeError(`Fernet IV must be ${IV_BYTES} bytes, received ${iv.length}`);
    }
    const keys = await this.#keys;
    const plaintext = typeof data === "string" ? utf8(data) : data;
    const ciphertext = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-CBC", iv: iv as Uint8Array<ArrayBuffer> },
        keys.encryption,
        plaintext as Uint8Array<ArrayBuffer>,
      ),
    );
    const token = new Uint8Array(HEADER_BYTES + ciphertext.length + HMAC_BYTES);
    token[0] = VERSION;
    new DataView(token.buffer).setBigUint64(1, BigInt(Math.floor(currentTime)));
    token.set(iv, 9);
    token.set(ciphertext, HEADER_BYTES);
    const signed = token.subarray(0, HEADER_BYTES + ciphertext.length);
    const mac = await crypto.subtle.sign("HMAC", keys.signing, signed);
    token.set(new Uint8Array(mac), signed.length);
    return toBase64Url(token);
  }

  /**
   * Authenticates and decrypts a token.
   *
   * @throws {InvalidToken} for any malformed, forged, tampered or (with `ttl`) expired token.
   */
  decrypt(token: string, opts: DecryptOptions = {}): Promise<Uint8Array> {
    return this.decryptAtTime(token, opts.ttl, nowSeconds());
  }

  /** Like {@linkcode Fernet.decrypt} with an explicit clock, in seconds since the epoch. */
  async decryptAtTime(
    token: string,
    ttl: number | undefined,
    currentTime: number,
  ): Promise<Uint8Array> {
    const bytes = decodeToken(token);
    if (ttl !== undefined) {
      const timestamp = Number(new DataView(bytes.buffer).getBigUint64(1));
      if (timestamp + ttl < currentTime) throw new InvalidToken();
      if (currentTime + MAX_CLOCK_SKEW_SECONDS < timestamp) throw new InvalidToken();
    }
    const keys = await this.#keys;
    const macOffset = bytes.length - HMAC_BYTES;
    const authentic = await crypto.subtle.verify(
      "HMAC",
      keys.signing,
      bytes.subarray(macOffset),
      bytes.subarray(0, macOffset),
    );
    if (!authentic) throw new InvalidToken();
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-CBC", iv: bytes.subarray(9, HEADER_BYTES) },
          keys.encryption,
          bytes.subarray(HEADER_BYTES, macOffset),
        ),
      );
    } catch {
      // Bad PKCS#7 padding. Unreachable without the signing key, but never an oracle either way.
      throw new InvalidToken();
    }
  }
}

/** Decodes a token and checks its shape; every failure is the same {@linkcode InvalidToken}. */
function decodeToken(token: unknown): Uint8Array<ArrayBuffer> {
  if (typeof token !== "string") throw new InvalidToken();
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64Url(token);
  } catch {
    throw new InvalidToken();
  }
  const ciphertextLength = bytes.length - HEADER_BYTES - HMAC_BYTES;
  if (
    ciphertextLength < BLOCK_BYTES || ciphertextLength % BLOCK_BYTES !== 0 ||
    bytes[0] !== VERSION
  ) {
    throw new InvalidToken();
  }
  return bytes;
}

/** Raw key bytes on their way into {@linkcode Fernet.fromRawKey}; not exported. */
class RawKey {
  constructor(readonly bytes: Uint8Array) {}
}

function checkKeyLength<T extends Uint8Array>(raw: T): T {
  if (raw.length !== KEY_BYTES) {
    throw new TypeError(
      `Fernet key must be 32 url-safe base64-encoded bytes, received ${raw.length} bytes`,
    );
  }
  return raw;
}

async function importKeys(raw: Uint8Array): Promise<FernetKeys> {
  const [signing, encryption] = await Promise.all([
    crypto.subtle.importKey(
      "raw",
      raw.slice(0, 16),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    ),
    crypto.subtle.importKey("raw", raw.slice(16), "AES-CBC", false, ["encrypt", "decrypt"]),
  ]);
  return { signing, encryption };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
