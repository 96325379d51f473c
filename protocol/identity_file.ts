/**
 * The identity file `openchat ca issue` writes and `openchat join --identity` reads: three PEM
 * blocks in a fixed order, the user's certificate, its PKCS#8 private key, then the CA
 * certificate the client trusts. Mode 0600: it holds a private key.
 *
 * @module
 */

import { decodePemBlocks } from "../crypto/pem.ts";

/** The decoded parts of an identity file, as DER. */
export interface IdentityFileParts {
  readonly certificate: Uint8Array<ArrayBuffer>;
  readonly privateKey: Uint8Array<ArrayBuffer>;
  readonly caCertificate: Uint8Array<ArrayBuffer>;
}

/** Joins the three PEM texts in the order the format requires. */
export function formatIdentityFile(certPem: string, privateKeyPem: string, caPem: string): string {
  return [certPem, privateKeyPem, caPem].map((pem) => pem.trim() + "\n").join("");
}

/**
 * Splits an identity file into its parts.
 *
 * @throws {TypeError} naming what is missing or out of order.
 */
export function parseIdentityFile(text: string): IdentityFileParts {
  const blocks = decodePemBlocks(text);
  const labels = blocks.map((block) => block.label).join(", ");
  if (
    blocks.length !== 3 || blocks[0]!.label !== "CERTIFICATE" ||
    blocks[1]!.label !== "PRIVATE KEY" || blocks[2]!.label !== "CERTIFICATE"
  ) {
    throw new TypeError(
      `An identity file holds CERTIFICATE, PRIVATE KEY, CERTIFICATE in that order; found ${
        labels || "no PEM blocks"
      }`,
    );
  }
  return {
    certificate: blocks[0]!.der,
    privateKey: blocks[1]!.der,
    caCertificate: blocks[2]!.der,
  };
}
