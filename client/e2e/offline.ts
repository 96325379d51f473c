/**
 * Member devices that are offline, and handing them chain keys through their pre-keys.
 *
 * The server lists a room's offline member devices with their certificates (`joined`,
 * `presence`, `peer`). Each is checked here like a session's announcement would be (the
 * certificate chains to our CA and names that user and device) and its key is decided by the
 * same trust rules; a device we do not accept gets nothing.
 *
 * To reach one, a sender asks the server for its **bundle** (its signed pre-key, and one
 * one-time pre-key while it has some), checks that the bundle's certificate carries the very key
 * it decided on and that the pre-keys are signed by it, and wraps the chain key to the one-time
 * pre-key (else the signed one). The package waits in the device's inbox.
 *
 * @module
 */

import { fromBase64Url } from "../../crypto/bytes.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { sha256 } from "../../crypto/kdf.ts";
import type { OfflineDevice, PrekeyBundle } from "../../protocol/messages.ts";
import type { CertificateVerifier, DeviceReader } from "./announcement.ts";
import { E2EError } from "./errors.ts";
import type { DeviceTrustState } from "./peers.ts";
import { type PublicPrekey, verifyPrekey } from "./prekeys.ts";

/** An offline member device whose certificate verified. */
export interface OfflineMember {
  readonly user: string;
  readonly device: string;
  /** `user/device`: where its packages are addressed. */
  readonly address: string;
  /** SHA-256 of its public key, raw and as colon-separated hex. */
  readonly keyDigest: Uint8Array;
  readonly fingerprint: string;
  /** The key its pre-keys must be signed with. */
  readonly verifyKey: CryptoKey;
  /** As far as this client accepts its key; set by the caller once decided. */
  trust: DeviceTrustState;
  /** The link that vouches for it, as the server gave it (a later one may replace it). */
  link?: string;
}

/** Offline devices this session has checked, by address and key. */
export class OfflineDirectory {
  readonly #known = new Map<string, OfflineMember>();

  constructor(
    private readonly verifyCert: CertificateVerifier,
    private readonly deviceOf: DeviceReader,
    private readonly now: () => number,
  ) {}

  /**
   * Checks an offline device the server listed. The same device with the same key is checked
   * once (`isNew` false afterwards); a new key for it is a new entry.
   *
   * @throws {E2EError} `bad_announcement` when its certificate is refused or names another device.
   */
  async admit(entry: OfflineDevice): Promise<{ member: OfflineMember; isNew: boolean }> {
    const address = `${entry.user}/${entry.device}`;
    let der: Uint8Array;
    try {
      der = fromBase64Url(entry.cert, false);
    } catch {
      throw new E2EError("bad_announcement", `${address}'s certificate is malformed`);
    }
    let verified;
    let device: string;
    try {
      verified = await this.verifyCert(der, new Date(this.now()));
      device = this.deviceOf(verified.cert);
    } catch (error) {
      throw new E2EError(
        "bad_announcement",
        `${address}'s certificate was refused: ${(error as Error).message}`,
      );
    }
    if (verified.commonName !== entry.user || device !== entry.device) {
      throw new E2EError(
        "bad_announcement",
        `The server says this is ${address}, but its certificate names ${verified.commonName}/${device}`,
      );
    }
    const keyDigest = await sha256(new Uint8Array(verified.cert.publicKey.rawData));
    const fingerprint = formatFingerprint(keyDigest);
    const key = `${address}|${fingerprint}`;
    const known = this.#known.get(key);
    if (known) return { member: known, isNew: false };
    const member: OfflineMember = {
      user: entry.user,
      device: entry.device,
      address,
      keyDigest,
      fingerprint,
      verifyKey: verified.publicKey,
      trust: "not_accepted",
      ...(entry.link ? { link: entry.link } : {}),
    };
    this.#known.set(key, member);
    return { member, isNew: true };
  }
}

/**
 * The pre-key to wrap to for `member` from its `bundle`: the one-time pre-key when there is one
 * that verifies, else the signed one.
 *
 * @throws {E2EError} `bad_signature` when the bundle's certificate carries another key than the
 *   one decided on, or its signed pre-key does not verify.
 */
export async function prekeyFromBundle(
  member: OfflineMember,
  bundle: PrekeyBundle,
  verifyCert: CertificateVerifier,
  now: Date,
): Promise<PublicPrekey> {
  let digest: Uint8Array;
  try {
    const verified = await verifyCert(fromBase64Url(bundle.cert, false), now);
    digest = await sha256(new Uint8Array(verified.cert.publicKey.rawData));
  } catch {
    throw new E2EError("bad_signature", `${member.address}'s bundle carries a refused certificate`);
  }
  if (formatFingerprint(digest) !== member.fingerprint) {
    throw new E2EError(
      "bad_signature",
      `The server offered a bundle of ${member.address} for another key than the one you accept`,
    );
  }
  if (bundle.onetime) {
    try {
      return await verifyPrekey(
        bundle.onetime,
        "onetime",
        member.user,
        member.device,
        member.verifyKey,
      );
    } catch {
      // A one-time pre-key that does not verify is refused; the signed one may still do.
    }
  }
  return await verifyPrekey(bundle.signed, "signed", member.user, member.device, member.verifyKey);
}
