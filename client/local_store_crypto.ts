/**
 * The keys of the local history database (`local_store.ts`) and how values are sealed with them.
 *
 * ## Derivation
 *
 * - Input key material: the identity's private key as the identity file holds it, the PKCS#8
 *   DER bytes (`Identity.privateKeyPem` decoded). Whoever can read the identity file can derive
 *   the keys; nobody else can.
 * - Salt: 32 random bytes made when the database is created, kept in clear in its `meta` table
 *   (`salt`), so two databases of one identity never share keys.
 * - HKDF-SHA256 (RFC 5869) with that salt gives two independent 32-byte keys:
 *   - info `openchat history v1: content key` → the AES-256-GCM key that seals every value;
 *   - info `openchat history v1: index key` → the HMAC-SHA256 key of the blind indexes (the
 *     keys that find a duplicate message or a direct conversation without saying what they are).
 *
 * The database's file name is `history-ID.db`, ID the hex of 8 bytes of HKDF-SHA256 of the same
 * key material with an empty salt and info `openchat history v1: file name`: each identity finds its
 * own file (a device enrolled again, or several identities in one config directory, never meet
 * another's history), and the name says nothing about whose it is without the private key.
 *
 * ## Sealing
 *
 * A sealed value is `nonce (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes)`. Its
 * additional data is `openchat-history/v1 NUL KIND NUL ROW` where ROW names the row the value
 * belongs to: a value copied into another row, another conversation or another table does not
 * open. JSON values are padded with spaces to a multiple of {@linkcode PAD_BLOCK} bytes first,
 * so a ciphertext's length says little about the text's.
 *
 * @module
 */

import { fromUtf8, randomBytes, toBase64Url, utf8 } from "../crypto/bytes.ts";
import { hkdfSha256, hmacSha256, importHmacKey } from "../crypto/kdf.ts";

/** Bytes of the random per-database HKDF salt. */
export const SALT_BYTES = 32;
/** HKDF info of the AES-256-GCM key that seals every value. */
export const CONTENT_KEY_INFO = "openchat history v1: content key";
/** HKDF info of the HMAC-SHA256 key of the blind indexes. */
export const INDEX_KEY_INFO = "openchat history v1: index key";
/** HKDF info of the database's file name. */
export const FILE_NAME_INFO = "openchat history v1: file name";
/** Prefix of every value's additional data. */
export const AAD_PREFIX = "openchat-history/v1";
/** Bytes of an AES-GCM nonce (random per value). */
export const NONCE_BYTES = 12;
/** Bytes of an AES-GCM tag. */
export const TAG_BYTES = 16;
/** JSON values are padded to a multiple of this many bytes before sealing. */
export const PAD_BLOCK = 32;

/** The ID in the file name of the history of the private key `privateKeyDer` (16 hex digits). */
export async function historyFileId(privateKeyDer: Uint8Array): Promise<string> {
  const bytes = await hkdfSha256(privateKeyDer, new Uint8Array(0), utf8(FILE_NAME_INFO), 8);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A sealed value did not open: wrong key, or the value was changed or moved. */
export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

/** The additional data of a value of `kind` in the row `row`. */
function additionalData(kind: string, row: string): Uint8Array<ArrayBuffer> {
  return utf8(`${AAD_PREFIX}\0${kind}\0${row}`);
}

/** The two keys of one history database. */
export class HistoryKeys {
  readonly #content: CryptoKey;
  readonly #index: CryptoKey;

  private constructor(content: CryptoKey, index: CryptoKey) {
    this.#content = content;
    this.#index = index;
  }

  /** Derives the keys from the private key's PKCS#8 DER and the database's salt. */
  static async derive(privateKeyDer: Uint8Array, salt: Uint8Array): Promise<HistoryKeys> {
    const contentBytes = await hkdfSha256(privateKeyDer, salt, utf8(CONTENT_KEY_INFO), 32);
    const indexBytes = await hkdfSha256(privateKeyDer, salt, utf8(INDEX_KEY_INFO), 32);
    try {
      const content = await crypto.subtle.importKey(
        "raw",
        contentBytes,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
      return new HistoryKeys(content, await importHmacKey(indexBytes));
    } finally {
      contentBytes.fill(0);
      indexBytes.fill(0);
    }
  }

  /** A fresh random salt. */
  static newSalt(): Uint8Array<ArrayBuffer> {
    return randomBytes(SALT_BYTES);
  }

  /** Seals `plain` as a value of `kind` belonging to `row`. */
  async seal(plain: Uint8Array, kind: string, row: string): Promise<Uint8Array<ArrayBuffer>> {
    const nonce = randomBytes(NONCE_BYTES);
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: nonce, additionalData: additionalData(kind, row) },
        this.#content,
        plain as Uint8Array<ArrayBuffer>,
      ),
    );
    const out = new Uint8Array(NONCE_BYTES + sealed.length);
    out.set(nonce);
    out.set(sealed, NONCE_BYTES);
    return out;
  }

  /**
   * Opens a value sealed by {@linkcode HistoryKeys.seal} for the same `kind` and `row`.
   *
   * @throws {SealError} when it does not open (another key, or a changed or moved value).
   */
  async open(sealed: Uint8Array, kind: string, row: string): Promise<Uint8Array<ArrayBuffer>> {
    if (sealed.length < NONCE_BYTES + TAG_BYTES) {
      throw new SealError(`a ${kind} value is too short to be sealed`);
    }
    try {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: "AES-GCM",
            iv: sealed.subarray(0, NONCE_BYTES) as Uint8Array<ArrayBuffer>,
            additionalData: additionalData(kind, row),
          },
          this.#content,
          sealed.subarray(NONCE_BYTES) as Uint8Array<ArrayBuffer>,
        ),
      );
    } catch {
      throw new SealError(`a ${kind} value does not open with this key`);
    }
  }

  /** Seals `value` as JSON, padded to a multiple of {@linkcode PAD_BLOCK} bytes. */
  async sealJson(value: unknown, kind: string, row: string): Promise<Uint8Array<ArrayBuffer>> {
    const json = utf8(JSON.stringify(value));
    const padded = new Uint8Array(Math.ceil((json.length + 1) / PAD_BLOCK) * PAD_BLOCK).fill(0x20);
    padded.set(json);
    return await this.seal(padded, kind, row);
  }

  /** Opens a value sealed by {@linkcode HistoryKeys.sealJson}. */
  async openJson(sealed: Uint8Array, kind: string, row: string): Promise<unknown> {
    const plain = await this.open(sealed, kind, row);
    try {
      return JSON.parse(fromUtf8(plain));
    } catch {
      throw new SealError(`a ${kind} value opened but is not JSON`);
    }
  }

  /** The blind index of `label`: HMAC-SHA256 under the index key, base64url without padding. */
  async blind(label: string): Promise<string> {
    return toBase64Url(await hmacSha256(this.#index, utf8(label)), false);
  }
}
