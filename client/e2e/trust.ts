/**
 * Who this client accepts, device key by device key. Every peer device key is exactly one of:
 *
 * - **verified**: the user compared its fingerprint out of band (`/trust NAME FINGERPRINT`);
 * - **vouched**: a device of the same user that this client already accepts signed a link over
 *   it (the user added it with `/device add`);
 * - **first seen**: the first key ever seen for a user never met before (trust on first use);
 * - **not accepted**: any other new key of a user already known, such as one the CA's operator
 *   minted. It gets no chain keys and no direct messages; what it sends is never shown verified.
 *
 * Nothing here ever replaces an accepted key by a newer one: acceptance is added, key by key,
 * only by first use, a valid link or the user's own comparison.
 *
 * @module
 */

import type { DeviceTrustState } from "./peers.ts";

/** An accepted device key, as the trust book keeps it. */
export interface AcceptedDevice {
  /** SHA-256 of the device's public key, colon-separated hex. */
  readonly fingerprint: string;
  readonly device: string;
  readonly state: Exclude<DeviceTrustState, "not_accepted">;
  /** ISO time it was accepted. */
  readonly since: string;
  /** For vouched keys: the device label that vouched. */
  readonly by?: string;
}

/** Where accepted keys are kept (the trust store, per CA). */
export interface TrustBook {
  /** The accepted keys of `user`. */
  accepted(user: string): readonly AcceptedDevice[];
  /** Accepts a key for `user` (replacing nothing: an entry for the same fingerprint is updated). */
  accept(user: string, device: AcceptedDevice): Promise<void>;
}

/** A device key to decide about. */
export interface DeviceKey {
  readonly user: string;
  readonly device: string;
  readonly fingerprint: string;
}

/** A link that verified: `signerFingerprint`'s device vouched for the key it names. */
export interface VouchingLink {
  readonly signerDevice: string;
  readonly signerFingerprint: string;
  /** The key and device label the link names. */
  readonly fingerprint: string;
  readonly device: string;
}

/** What was decided, and why (for the event the user sees). */
export interface TrustDecision {
  readonly state: DeviceTrustState;
  /** Set when this decision accepted the key just now. */
  readonly newly?: "first_seen" | "vouched";
  /** The device that vouched, for `vouched`. */
  readonly by?: string;
}

/**
 * Decides the trust of `key`, recording a new acceptance in `book` when first use or a valid
 * link gives one.
 */
export async function decideTrust(
  book: TrustBook,
  key: DeviceKey,
  link: VouchingLink | undefined,
  now = new Date(),
): Promise<TrustDecision> {
  const accepted = book.accepted(key.user);
  const known = accepted.find((entry) => entry.fingerprint === key.fingerprint);
  if (known) return { state: known.state, ...(known.by ? { by: known.by } : {}) };
  if (accepted.length === 0) {
    await book.accept(key.user, {
      fingerprint: key.fingerprint,
      device: key.device,
      state: "first_seen",
      since: now.toISOString(),
    });
    return { state: "first_seen", newly: "first_seen" };
  }
  if (
    link && link.fingerprint === key.fingerprint && link.device === key.device &&
    accepted.some((entry) => entry.fingerprint === link.signerFingerprint)
  ) {
    await book.accept(key.user, {
      fingerprint: key.fingerprint,
      device: key.device,
      state: "vouched",
      since: now.toISOString(),
      by: link.signerDevice,
    });
    return { state: "vouched", newly: "vouched", by: link.signerDevice };
  }
  return { state: "not_accepted" };
}

/** Hex digits of a fingerprint or a prefix of one, without colons, upper case. */
export function fingerprintDigits(text: string): string {
  return text.replaceAll(":", "").replaceAll(" ", "").toUpperCase();
}

/** Fewest hex digits `/trust` takes, so a prefix cannot match a key by luck (64 bits). */
export const MIN_TRUST_PREFIX_DIGITS = 16;
