/**
 * The identity file `openchat ca issue` writes and `openchat join --identity` reads: three PEM
 * blocks in a fixed order, the user's certificate, its PKCS#8 private key, then the CA
 * certificate the client trusts. Mode 0600: it holds a private key.
 *
 * @module
 */

import { decodePemBlocks, type PemBlock } from "../crypto/pem.ts";

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
 * Splits an identity file into its parts. Besides the written order (certificate, key, CA),
 * the certificate and the CA may come first and the key last, so a bot whose request was
 * signed with `openchat ca issue --csr` can make its file with `cat bot.crt bot-key.pem`.
 *
 * @throws {TypeError} naming what is missing or out of order.
 */
export function parseIdentityFile(text: string): IdentityFileParts {
  const blocks = decodePemBlocks(text);
  const labels = blocks.map((block) => block.label).join(", ");
  if (blocks.length === 3 && blocks[0]!.label === "CERTIFICATE") {
    const [, second, third] = blocks as [PemBlock, PemBlock, PemBlock];
    if (second.label === "PRIVATE KEY" && third.label === "CERTIFICATE") {
      return { certificate: blocks[0]!.der, privateKey: second.der, caCertificate: third.der };
    }
    if (second.label === "CERTIFICATE" && third.label === "PRIVATE KEY") {
      return { certificate: blocks[0]!.der, privateKey: third.der, caCertificate: second.der };
    }
  }
  throw new TypeError(
    `An identity file holds CERTIFICATE, PRIVATE KEY, CERTIFICATE in that order (or the key last); found ${
      labels || "no PEM blocks"
    }`,
  );
}
