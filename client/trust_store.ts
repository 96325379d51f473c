/**
 * The trust book on disk: for each CA, for each user, the device keys this client accepts and
 * how (verified, vouched, first seen; see e2e/trust.ts). Like SSH's known_hosts, but per device
 * key, and nothing is ever replaced: acceptance is only added.
 *
 * Stored as JSON in the client's config directory (`trust.json`, mode 0600), one section per CA
 * fingerprint, rewritten atomically. Other clients of the same user may write it too, so each
 * save re-reads the file and changes only the user it is about. A file from before devices
 * (one fingerprint per user) is read as that user's one accepted key.
 *
 * @module
 */

import { join } from "node:path";
import { ensurePrivateDir, writeFileAtomic } from "../util/files.ts";
import type { AcceptedDevice, TrustBook } from "./e2e/trust.ts";

/** File name inside the config directory. */
export const TRUST_FILE = "trust.json";
/** Most accepted device keys kept per user; beyond it, the oldest first-use entry goes first. */
export const MAX_DEVICES_PER_USER = 64;

interface UserEntry {
  devices: AcceptedDevice[];
}
type Section = Record<string, UserEntry>;
type TrustFile = Record<string, Section>;

/** The trust book of one CA, backed by `trust.json`. */
export class TrustStore implements TrustBook {
  #entries: Section;

  private constructor(
    readonly path: string,
    readonly caFingerprint: string,
    entries: Section,
  ) {
    this.#entries = entries;
  }

  /**
   * Opens the store in `dir` for the CA with `caFingerprint`.
   *
   * @throws {Error} when the file exists but is not a trust store (it is never overwritten then).
   */
  static async open(dir: string, caFingerprint: string): Promise<TrustStore> {
    const path = join(dir, TRUST_FILE);
    const all = await readTrustFile(path);
    return new TrustStore(path, caFingerprint, { ...all[caFingerprint] });
  }

  /** {@inheritDoc TrustBook.accepted} */
  accepted(user: string): readonly AcceptedDevice[] {
    return this.#entries[user]?.devices ?? [];
  }

  /** {@inheritDoc TrustBook.accept} */
  async accept(user: string, device: AcceptedDevice): Promise<void> {
    const devices = this.accepted(user).filter((entry) => entry.fingerprint !== device.fingerprint);
    devices.push(device);
    while (devices.length > MAX_DEVICES_PER_USER) {
      const oldest = devices.findIndex((entry) => entry.state !== "verified");
      devices.splice(oldest < 0 ? 0 : oldest, 1);
    }
    this.#entries[user] = { devices };
    await ensurePrivateDir(join(this.path, ".."));
    const all = await readTrustFile(this.path);
    all[this.caFingerprint] = { ...all[this.caFingerprint], [user]: { devices } };
    await writeFileAtomic(this.path, JSON.stringify(all, null, 2) + "\n");
  }
}

async function readTrustFile(path: string): Promise<TrustFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new Error(`Cannot read the trust store ${path}: ${(error as Error).message}`);
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("not an object");
    }
    return normalize(value as Record<string, unknown>);
  } catch (error) {
    throw new Error(
      `${path} is not a trust store (${(error as Error).message}); move it aside to start afresh`,
    );
  }
}

/** Reads every section, turning entries from before devices into one accepted key each. */
function normalize(value: Record<string, unknown>): TrustFile {
  const file: TrustFile = {};
  for (const [ca, section] of Object.entries(value)) {
    if (typeof section !== "object" || section === null) throw new Error(`bad section ${ca}`);
    file[ca] = {};
    for (const [user, raw] of Object.entries(section as Record<string, unknown>)) {
      const entry = raw as Record<string, unknown>;
      if (Array.isArray(entry?.devices)) {
        file[ca][user] = { devices: entry.devices.filter(isAcceptedDevice) };
      } else if (typeof entry?.fingerprint === "string") {
        file[ca][user] = {
          devices: [{
            fingerprint: entry.fingerprint,
            device: "unknown",
            state: entry.trustedAt ? "verified" : "first_seen",
            since: String(entry.trustedAt ?? entry.firstSeen ?? ""),
          }],
        };
      } else {
        throw new Error(`bad entry for ${user}`);
      }
    }
  }
  return file;
}

function isAcceptedDevice(value: unknown): value is AcceptedDevice {
  const v = value as Record<string, unknown>;
  return typeof v?.fingerprint === "string" && typeof v.device === "string" &&
    (v.state === "verified" || v.state === "vouched" || v.state === "first_seen") &&
    typeof v.since === "string" && (v.by === undefined || typeof v.by === "string");
}
