/**
 * The server's memory of client certificates that verified: what set-up needs of each (name,
 * device, serial, fingerprint, key, dates), not the parsed certificate. A parsed certificate
 * with its ASN.1 tree weighs about 12 KiB in the heap; every connected device brings its own,
 * and the server remembers up to {@linkcode MAX_REMEMBERED_CERTIFICATES} of them, so keeping
 * the facts alone (well under 1 KiB) is most of the memory an idle session costs beyond its
 * socket. A certificate seen again costs no parse and no CA signature check; its dates are
 * checked on every use, and its record and revocation are the caller's to check every time.
 *
 * @module
 */

import {
  CertificateError,
  certificateFingerprint,
  type VerifiedCertificate,
  verifyCertificate,
  type X509Certificate,
} from "../crypto/x509.ts";
import { toBase64Url } from "../crypto/bytes.ts";
import { deviceOf } from "../protocol/devices.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { userNameProblem } from "../protocol/names.ts";

/** Most certificates remembered; the least recently used is forgotten first. */
export const MAX_REMEMBERED_CERTIFICATES = 10_000;

/** What set-up needs of a client certificate that verified against the CA. */
export interface ClientCertificate {
  /** The CN, a valid user name. */
  readonly commonName: string;
  /** The device label of its `openchat:USER/DEVICE` URI. */
  readonly device: string;
  /** The serial as lower-case hex, as the CA records it. */
  readonly serial: string;
  /** SHA-256 of its DER, as the CA records it. */
  readonly fingerprint: string;
  /** Its ECDSA P-256 verification key. */
  readonly publicKey: CryptoKey;
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * The facts of `verified`, once its CN is checked as a user name and its device URI is read.
 *
 * @throws {ProtocolError} `bad_name` for a CN that is not a valid user name.
 * @throws {CertificateError} `malformed` when it does not name exactly one valid device.
 */
export async function clientCertificateOf(
  verified: VerifiedCertificate,
): Promise<ClientCertificate> {
  if (userNameProblem(verified.commonName) !== undefined) {
    throw new ProtocolError(
      "bad_name",
      `Certificate name ${
        JSON.stringify(verified.commonName.slice(0, 40))
      } is not a valid user name`,
    );
  }
  return {
    commonName: verified.commonName,
    device: deviceOf(verified.cert),
    serial: verified.serial,
    fingerprint: await certificateFingerprint(verified.cert),
    publicKey: verified.publicKey,
    notBefore: verified.cert.notBefore.getTime(),
    notAfter: verified.cert.notAfter.getTime(),
  };
}

/** Verified client certificates of one CA, remembered by the SHA-256 of their DER. */
export class ClientCertificates {
  readonly #entries = new Map<string, ClientCertificate>();

  constructor(
    private readonly ca: X509Certificate,
    private readonly capacity = MAX_REMEMBERED_CERTIFICATES,
  ) {}

  /** Number of certificates remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Verifies `der` against the CA (chain, dates, usage, key, user name, device URI), from memory
   * when it verified before (then only its dates are checked again).
   *
   * @throws {CertificateError} as `verifyCertificate` and `deviceOf` do.
   * @throws {ProtocolError} `bad_name` (see {@linkcode clientCertificateOf}).
   */
  async verify(der: Uint8Array, now: Date): Promise<ClientCertificate> {
    // A digest of the whole certificate names it: two certificates never share an entry.
    const digest = await crypto.subtle.digest("SHA-256", der as Uint8Array<ArrayBuffer>);
    const key = toBase64Url(new Uint8Array(digest), false);
    const known = this.#entries.get(key);
    if (known) {
      this.#entries.delete(key); // re-insert: most recently used last
      this.#entries.set(key, known);
      checkDates(known, now);
      return known;
    }
    const facts = await clientCertificateOf(
      await verifyCertificate(der, this.ca, { usage: "client", now }),
    );
    this.#entries.set(key, facts);
    if (this.#entries.size > this.capacity) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return facts;
  }
}

/** The validity check of `checkValidityPeriod`, on remembered dates. */
function checkDates(cert: ClientCertificate, now: Date): void {
  if (now.getTime() > cert.notAfter) {
    throw new CertificateError(
      "expired",
      `Certificate expired on ${new Date(cert.notAfter).toISOString()}`,
    );
  }
  if (now.getTime() < cert.notBefore) {
    throw new CertificateError(
      "not_yet_valid",
      `Certificate is not valid before ${new Date(cert.notBefore).toISOString()}`,
    );
  }
}
