/**
 * Signatures with domain separation. Every signature covers `label || 0x00 || data`, so a
 * signature made for one purpose (say, a server hello) can never be replayed as another (a
 * client proof or a chat message). Identity keys are ECDSA P-256 with SHA-256 (64-byte r||s
 * signatures); session keys are Ed25519.
 *
 * @module
 */

import { concatBytes, utf8 } from "./bytes.ts";

/** The signature algorithms openchat accepts, decided by the key and never by the input. */
function signatureParams(key: CryptoKey): AlgorithmIdentifier | EcdsaParams {
  const algorithm = key.algorithm as Partial<EcKeyAlgorithm>;
  if (algorithm.name === "ECDSA" && algorithm.namedCurve === "P-256") {
    return { name: "ECDSA", hash: "SHA-256" };
  }
  if (algorithm.name === "Ed25519") return { name: "Ed25519" };
  throw new TypeError(
    `Unsupported signing key: ${algorithm.name}${
      algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ""
    }`,
  );
}

/**
 * Builds the signed bytes: the label, a zero byte, then the data.
 *
 * @throws {TypeError} when the label is empty or holds a zero byte (it would blur the boundary).
 */
export function labelled(label: string, data: Uint8Array): Uint8Array<ArrayBuffer> {
  if (label.length === 0 || label.includes("\0")) {
    throw new TypeError(`Invalid signature label: ${JSON.stringify(label)}`);
  }
  return concatBytes(utf8(label), new Uint8Array([0]), data);
}

/**
 * Signs `data` under `label` with an ECDSA P-256 or Ed25519 private key.
 *
 * @example
 * ```ts
 * import { signLabelled, verifyLabelled } from "./sign.ts";
 * import { generateSessionSigningKeyPair } from "./keys.ts";
 * const keys = await generateSessionSigningKeyPair();
 * const data = new Uint8Array([1, 2, 3]);
 * const sig = await signLabelled(keys.privateKey, "example", data);
 * await verifyLabelled(keys.publicKey, "example", data, sig); // true
 * ```
 */
export async function signLabelled(
  privateKey: CryptoKey,
  label: string,
  data: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const signature = await crypto.subtle.sign(
    signatureParams(privateKey),
    privateKey,
    labelled(label, data),
  );
  return new Uint8Array(signature);
}

/**
 * Verifies a signature made by {@linkcode signLabelled} under the same label. Returns false for
 * a wrong or malformed signature; throws only when the key itself is of an unsupported kind.
 */
export async function verifyLabelled(
  publicKey: CryptoKey,
  label: string,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  const params = signatureParams(publicKey);
  try {
    return await crypto.subtle.verify(
      params,
      publicKey,
      signature as Uint8Array<ArrayBuffer>,
      labelled(label, data),
    );
  } catch {
    return false;
  }
}
