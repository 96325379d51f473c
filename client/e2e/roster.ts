/**
 * Rosters: who a member believes is in a room at one membership version. Every key package
 * carries its sender's roster hash, so members who were shown different memberships by the
 * server find out (`roster_mismatch`) instead of silently keying different groups.
 *
 *     hash = SHA-256("openchat/v2 roster" 0x00 room 0x00 u64(version) 0x00
 *                    for each member, sorted by user, device, session:
 *                      user 0x00 device 0x00 keyFingerprint(32) session 0x00)
 *
 * A member whose key is not known (its announcement did not verify) counts with 32 zero bytes.
 *
 * @module
 */

import { concatBytes, uint64be, utf8 } from "../../crypto/bytes.ts";
import { sha256 } from "../../crypto/kdf.ts";

/** Label that starts every roster hash. */
export const ROSTER_LABEL = "openchat/v2 roster";
const UNKNOWN_KEY = new Uint8Array(32);

/** One member as a roster lists it. */
export interface RosterEntry {
  readonly user: string;
  readonly device: string;
  readonly session: string;
  /** SHA-256 of the device's public key (raw 32 bytes), if known. */
  readonly keyFingerprint?: Uint8Array;
}

/** Orders entries the way the hash does. */
export function sortRoster(entries: Iterable<RosterEntry>): RosterEntry[] {
  const key = (e: RosterEntry) => [e.user, e.device, e.session];
  return [...entries].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) {
      if (ka[i]! < kb[i]!) return -1;
      if (ka[i]! > kb[i]!) return 1;
    }
    return 0;
  });
}

/** The roster hash of `room` at `version` with `entries` (in any order). */
export function rosterHash(
  room: string,
  version: number,
  entries: Iterable<RosterEntry>,
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [
    utf8(ROSTER_LABEL),
    Uint8Array.of(0),
    utf8(room),
    Uint8Array.of(0),
    uint64be(version),
    Uint8Array.of(0),
  ];
  for (const entry of sortRoster(entries)) {
    parts.push(
      utf8(entry.user),
      Uint8Array.of(0),
      utf8(entry.device),
      Uint8Array.of(0),
      entry.keyFingerprint ?? UNKNOWN_KEY,
      utf8(entry.session),
      Uint8Array.of(0),
    );
  }
  return sha256(concatBytes(...parts));
}

/** A roster as people read it: `user/device` of each member, sorted. */
export function describeRoster(entries: Iterable<RosterEntry>): string[] {
  return sortRoster(entries).map((entry) => `${entry.user}/${entry.device}`);
}
