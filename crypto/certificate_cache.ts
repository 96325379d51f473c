/**
 * Remembers certificates that verified, so a user who reconnects (or a peer seen again) costs
 * one ECDSA verification instead of two. Only the signature and structure checks are
 * remembered: the validity period is checked again on every use, and revocation is the
 * caller's to check every time.
 *
 * @module
 */

import {
  type CertificateUsage,
  checkValidityPeriod,
  type VerifiedCertificate,
  verifyCertificate,
  type X509Certificate,
} from "./x509.ts";

/** Most certificates remembered; the least recently used is forgotten first. */
export const MAX_CACHED_CERTIFICATES = 10_000;

/** A bounded cache of verified certificates of one CA, for one usage. */
export class CertificateCache {
  readonly #entries = new Map<string, VerifiedCertificate>();

  constructor(
    private readonly ca: X509Certificate,
    private readonly usage: CertificateUsage = "client",
    private readonly capacity = MAX_CACHED_CERTIFICATES,
  ) {}

  /** Number of certificates remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Verifies `der` against the CA, from the cache when it was verified before.
   *
   * @throws {import("./x509.ts").CertificateError} as `verifyCertificate` does.
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
    const verified = await verifyCertificate(der, this.ca, { usage: this.usage, now });
    this.#entries.set(key, verified);
    if (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return verified;
  }
}
