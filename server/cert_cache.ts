/**
 * Remembers client certificates that verified, so a user who reconnects costs one ECDSA
 * verification (their proof) instead of two (their proof and the CA's signature on their
 * certificate). Only the signature and structure checks are remembered: the validity period is
 * checked again on every use, and revocation is checked by the caller every time.
 *
 * @module
 */

import {
  checkValidityPeriod,
  type VerifiedCertificate,
  verifyCertificate,
  type X509Certificate,
} from "../crypto/x509.ts";

/** Most certificates remembered; the least recently used is forgotten first. */
export const MAX_CACHED_CERTIFICATES = 10_000;

/** A bounded cache of verified client certificates of one CA. */
export class CertificateCache {
  readonly #entries = new Map<string, VerifiedCertificate>();

  constructor(
    private readonly ca: X509Certificate,
    private readonly capacity = MAX_CACHED_CERTIFICATES,
  ) {}

  /** Number of certificates remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Verifies `der` as a client certificate of the CA, from the cache when it was verified before.
   *
   * @throws {import("../crypto/x509.ts").CertificateError} as `verifyCertificate` does.
   */
  async verify(der: Uint8Array, now: Date): Promise<VerifiedCertificate> {
    const key = der.toBase64();
    const cached = this.#entries.get(key);
    if (cached) {
      this.#entries.delete(key); // re-insert: most recently used last
      this.#entries.set(key, cached);
      checkValidityPeriod(cached.cert, now);
      return cached;
    }
    const verified = await verifyCertificate(der, this.ca, { usage: "client", now });
    this.#entries.set(key, verified);
    if (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return verified;
  }
}
