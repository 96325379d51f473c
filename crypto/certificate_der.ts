/**
 * One certificate, one encoding. X.509 signatures cover only the `tbsCertificate`; the outer
 * SEQUENCE, the second copy of the signature algorithm and the BIT STRING around the signature
 * are not signed, and a lenient parser reads many encodings of them as the same certificate (a
 * campaign found 13 single-bit flips that still verified, and the server accepted two). So an
 * openchat certificate must be exactly the DER that its parsed contents encode to, its two
 * signature algorithm fields must be identical (RFC 5280 §4.1.1.2), and its signature must be
 * the canonical DER of an ECDSA `(r, s)` pair. Parsing and re-encoding are `@peculiar/asn1-schema`'s
 * (the library `@peculiar/x509` itself sits on); nothing here decodes DER by hand.
 *
 * One malleability is beyond any encoding rule: for an ECDSA signature `(r, s)`, `(r, n - s)`
 * verifies too. Such a twin has another fingerprint but the same contents, key and serial. The
 * server admits only the encoding its CA recorded (serial and SHA-256 of the DER), so it refuses
 * the twin; peers trust keys by their SubjectPublicKeyInfo fingerprint, which the twin shares (see
 * docs/SECURITY.md).
 *
 * @module
 */

import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { ECDSASigValue } from "@peculiar/asn1-ecc";
import { bytesEqual } from "./bytes.ts";

/** Largest ECDSA P-256 signature integer: 32 bytes, plus a zero byte when the top bit is set. */
const MAX_SIGNATURE_INTEGER_BYTES = 33;

/** What {@linkcode decodeCanonicalCertificate} found. */
export type DecodedCertificate =
  | { readonly kind: "canonical"; readonly asn: Certificate }
  | { readonly kind: "unparsable" }
  | { readonly kind: "non_canonical"; readonly problem: string };

/**
 * Decodes `der` as a certificate, only if `der` is exactly its canonical encoding. The decoded
 * structure keeps the signed part's bytes (`tbsCertificateRaw`), which are then canonical too.
 *
 * @returns the decoded certificate; or `unparsable`; or why it is not canonical (safe to show).
 */
export function decodeCanonicalCertificate(der: Uint8Array): DecodedCertificate {
  let asn: Certificate;
  try {
    asn = AsnConvert.parse(der, Certificate);
  } catch {
    return { kind: "unparsable" };
  }
  const refuse = (problem: string) => ({ kind: "non_canonical", problem }) as const;
  try {
    if (!bytesEqual(encode(asn), der)) return refuse("its encoding is not canonical DER");
    const inner = encode(asn.tbsCertificate.signature);
    if (!bytesEqual(inner, encode(asn.signatureAlgorithm))) {
      return refuse("its two signature algorithm fields differ");
    }
    const signature = new Uint8Array(asn.signatureValue);
    const pair = AsnConvert.parse(signature, ECDSASigValue);
    if (
      !bytesEqual(encode(pair), signature) || !isMinimalPositive(pair.r) ||
      !isMinimalPositive(pair.s)
    ) {
      return refuse("its signature is not canonical DER");
    }
  } catch {
    return refuse("its signature is not an ECDSA signature");
  }
  return { kind: "canonical", asn };
}

function encode(value: object): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(value));
}

/** A DER INTEGER's content as it must be for a positive value: no sign bit, no spare zero byte. */
function isMinimalPositive(content: ArrayBuffer): boolean {
  const bytes = new Uint8Array(content);
  if (bytes.length === 0 || bytes.length > MAX_SIGNATURE_INTEGER_BYTES) return false;
  if (bytes[0]! >= 0x80) return false; // negative
  return !(bytes[0] === 0 && (bytes.length === 1 || bytes[1]! < 0x80)); // zero, or a spare 00
}
