/**
 * Private keys encrypted with a passphrase, as PKCS#8 `ENCRYPTED PRIVATE KEY` (RFC 5958) under
 * PBES2 (RFC 8018): PBKDF2-HMAC-SHA256 derives an AES-256-CBC key from the passphrase and a
 * random salt. This is what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes, so openssl reads
 * these files with the passphrase. Every primitive is WebCrypto; the ASN.1 is built and parsed
 * with `@peculiar/asn1-schema`.
 *
 * @module
 */

import {
  AsnConvert,
  AsnProp,
  AsnPropTypes,
  AsnType,
  AsnTypeTypes,
  OctetString,
} from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { EncryptedData, EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { randomBytes, utf8 } from "./bytes.ts";
import { CryptoError } from "./errors.ts";

/** PBKDF2 iterations for new files: slow on purpose, about half a second here. */
export const PBKDF2_ITERATIONS = 600_000;
/** Most iterations accepted when reading a file, so a crafted file cannot stall a start. */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_PBKDF2 = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA256 = "1.2.840.113549.2.9";
const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";
const SALT_BYTES = 16;
const IV_BYTES = 16;
const AES_KEY_BYTES = 32;

/** PBKDF2-params (RFC 8018 A.2), with the salt given explicitly. */
class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  keyLength?: number;
  prf = new AlgorithmIdentifier({ algorithm: OID_HMAC_SHA256, parameters: null });
}
// The decorators applied as functions: the project compiles with standard decorators, and
// these are the library's legacy ones.
AsnType({ type: AsnTypeTypes.Sequence })(Pbkdf2Params);
AsnProp({ type: OctetString })(Pbkdf2Params.prototype, "salt");
AsnProp({ type: AsnPropTypes.Integer })(Pbkdf2Params.prototype, "iterationCount");
AsnProp({ type: AsnPropTypes.Integer, optional: true })(Pbkdf2Params.prototype, "keyLength");
AsnProp({ type: AlgorithmIdentifier, optional: true })(Pbkdf2Params.prototype, "prf");

/** PBES2-params (RFC 8018 A.4). */
class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
}
AsnType({ type: AsnTypeTypes.Sequence })(Pbes2Params);
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "keyDerivationFunc");
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "encryptionScheme");

/** The passphrase is wrong, or the file is not an encrypted key this module can read. */
export class EncryptedKeyError extends CryptoError {
  constructor(code: "wrong_passphrase" | "unsupported", message: string) {
    super(code, message);
    this.name = "EncryptedKeyError";
  }
}

async function deriveKey(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", utf8(passphrase), "PBKDF2", false, [
    "deriveKey",
  ]);
  return await crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-CBC", length: AES_KEY_BYTES * 8 },
    false,
    ["encrypt", "decrypt"],
  );
}

/**
 * Encrypts PKCS#8 DER under `passphrase`.
 *
 * @returns the DER of an `EncryptedPrivateKeyInfo`.
 */
export async function encryptPrivateKey(
  pkcs8: Uint8Array,
  passphrase: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<Uint8Array<ArrayBuffer>> {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const key = await deriveKey(passphrase, salt, iterations);
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-CBC", iv },
    key,
    pkcs8 as Uint8Array<ArrayBuffer>,
  );
  const kdf = new Pbkdf2Params();
  kdf.salt = new OctetString(salt);
  kdf.iterationCount = iterations;
  const params = new Pbes2Params();
  params.keyDerivationFunc = new AlgorithmIdentifier({
    algorithm: OID_PBKDF2,
    parameters: AsnConvert.serialize(kdf),
  });
  params.encryptionScheme = new AlgorithmIdentifier({
    algorithm: OID_AES256_CBC,
    parameters: AsnConvert.serialize(new OctetString(iv)),
  });
  const info = new EncryptedPrivateKeyInfo({
    encryptionAlgorithm: new AlgorithmIdentifier({
      algorithm: OID_PBES2,
      parameters: AsnConvert.serialize(params),
    }),
    encryptedData: new EncryptedData(ciphertext),
  });
  return new Uint8Array(AsnConvert.serialize(info));
}

/**
 * Decrypts an `EncryptedPrivateKeyInfo` made with PBES2, PBKDF2-HMAC-SHA256 and AES-256-CBC.
 *
 * @returns the PKCS#8 DER inside.
 * @throws {EncryptedKeyError} `unsupported` for another structure or algorithm,
 *   `wrong_passphrase` when decryption fails.
 */
export async function decryptPrivateKey(
  der: Uint8Array,
  passphrase: string,
): Promise<Uint8Array<ArrayBuffer>> {
  let salt: Uint8Array<ArrayBuffer>;
  let iv: Uint8Array<ArrayBuffer>;
  let iterations: number;
  let ciphertext: Uint8Array<ArrayBuffer>;
  try {
    const info = AsnConvert.parse(der, EncryptedPrivateKeyInfo);
    if (info.encryptionAlgorithm.algorithm !== OID_PBES2 || !info.encryptionAlgorithm.parameters) {
      throw new Error("not PBES2");
    }
    const params = AsnConvert.parse(info.encryptionAlgorithm.parameters, Pbes2Params);
    const kdf = params.keyDerivationFunc;
    const scheme = params.encryptionScheme;
    if (kdf.algorithm !== OID_PBKDF2 || !kdf.parameters) throw new Error("not PBKDF2");
    if (scheme.algorithm !== OID_AES256_CBC || !scheme.parameters) throw new Error("not AES");
    const kdfParams = AsnConvert.parse(kdf.parameters, Pbkdf2Params);
    if (kdfParams.prf.algorithm !== OID_HMAC_SHA256) throw new Error("not HMAC-SHA256");
    if (kdfParams.keyLength !== undefined && kdfParams.keyLength !== AES_KEY_BYTES) {
      throw new Error("wrong key length");
    }
    iterations = kdfParams.iterationCount;
    if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
      throw new Error("iteration count out of range");
    }
    salt = new Uint8Array(kdfParams.salt.buffer);
    iv = new Uint8Array(AsnConvert.parse(scheme.parameters, OctetString).buffer);
    if (iv.length !== IV_BYTES || salt.length === 0) throw new Error("bad IV or salt");
    ciphertext = new Uint8Array(info.encryptedData.buffer);
  } catch {
    throw new EncryptedKeyError(
      "unsupported",
      "Not a PKCS#8 key encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)",
    );
  }
  const key = await deriveKey(passphrase, salt, iterations);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv }, key, ciphertext));
  } catch {
    throw new EncryptedKeyError("wrong_passphrase", "The passphrase does not unlock the key");
  }
}
