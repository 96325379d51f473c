/**
 * PEM armour (RFC 7468) in and out. Parsing is strict: a block's base64 must be valid and its
 * BEGIN and END labels must match, so a truncated or spliced file is an error, not a guess.
 *
 * @module
 */

/** One decoded PEM block. */
export interface PemBlock {
  /** The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE` or `PRIVATE KEY`. */
  readonly label: string;
  /** The DER bytes. */
  readonly der: Uint8Array<ArrayBuffer>;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END ([A-Z0-9 ]+)-----/g;

/**
 * Wraps DER bytes in PEM armour with 64-character lines.
 *
 * @example
 * ```ts
 * import { encodePem } from "./pem.ts";
 * encodePem(new Uint8Array([1, 2, 3]), "CERTIFICATE").startsWith("-----BEGIN CERTIFICATE-----");
 * ```
 */
export function encodePem(der: Uint8Array, label: string): string {
  const body = der.toBase64().match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${body.join("\n")}\n-----END ${label}-----\n`;
}

/**
 * Decodes every PEM block in `text`, in order. Text outside blocks is ignored, as OpenSSL does.
 *
 * @throws {TypeError} when a block's labels disagree or its base64 is invalid.
 */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label, body, endLabel] = match;
    if (label !== endLabel) {
      throw new TypeError(`PEM block "${label}" ends with "${endLabel}"`);
    }
    let der: Uint8Array<ArrayBuffer>;
    try {
      der = Uint8Array.fromBase64(body!.replace(/\r?\n/g, ""), { lastChunkHandling: "strict" });
    } catch {
      throw new TypeError(`PEM block "${label}" holds invalid base64`);
    }
    if (der.length === 0) throw new TypeError(`PEM block "${label}" is empty`);
    blocks.push({ label: label!, der });
  }
  return blocks;
}

/**
 * Decodes the single PEM block with `label` in `text`.
 *
 * @throws {TypeError} when there is not exactly one such block.
 */
export function decodeSinglePem(text: string, label: string): Uint8Array<ArrayBuffer> {
  const matching = decodePemBlocks(text).filter((block) => block.label === label);
  if (matching.length !== 1) {
    throw new TypeError(`Expected one PEM "${label}" block, found ${matching.length}`);
  }
  return matching[0]!.der;
}
