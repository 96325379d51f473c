/**
 * The vouching secrets of one device, kept in its config directory (`vouches.json`, mode 0600,
 * one section per CA, rewritten atomically):
 *
 * - `invited`: for each device this device asked an invite for (`/device add LABEL`), the
 *   secret it appended to the token. When that device enrols, its link request proves it holds
 *   the token, and this device vouches for its key (`e2e/device_link.ts`).
 * - `own`: the secret from the invite this device enrolled with, to recognise the link of the
 *   device that invited it.
 *
 * The server never sees any of them.
 *
 * @module
 */

import { join } from "node:path";
import { fromBase64Url, toBase64Url } from "../crypto/bytes.ts";
import { ensurePrivateDir, writeFileAtomic } from "../util/files.ts";

/** File name inside the config directory. */
export const VOUCHES_FILE = "vouches.json";
/** Pending invites kept per CA; the oldest goes first beyond it. */
export const MAX_PENDING_VOUCHES = 32;

interface Section {
  invited: Record<string, { secret: string; createdAt: string }>;
  own?: { device: string; secret: string };
}
type VouchFile = Record<string, Section>;

/** The vouching secrets of one CA. */
export class VouchStore {
  private constructor(
    readonly path: string,
    readonly caFingerprint: string,
    private section: Section,
  ) {}

  /**
   * Opens the store in `dir` for the CA with `caFingerprint`.
   *
   * @throws {Error} when the file exists but cannot be read as one.
   */
  static async open(dir: string, caFingerprint: string): Promise<VouchStore> {
    const path = join(dir, VOUCHES_FILE);
    const all = await readFile(path);
    return new VouchStore(path, caFingerprint, all[caFingerprint] ?? { invited: {} });
  }

  /** The secret appended to the invite for `device`, if this device asked for one. */
  invited(device: string): Uint8Array | undefined {
    const entry = this.section.invited[device];
    return entry ? fromBase64Url(entry.secret, false) : undefined;
  }

  /** Remembers the secret appended to the invite for `device`. */
  async addInvited(device: string, secret: Uint8Array, now = new Date()): Promise<void> {
    const invited = { ...this.section.invited };
    delete invited[device];
    invited[device] = { secret: toBase64Url(secret, false), createdAt: now.toISOString() };
    const names = Object.keys(invited);
    for (const name of names.slice(0, Math.max(0, names.length - MAX_PENDING_VOUCHES))) {
      delete invited[name];
    }
    await this.#save({ ...this.section, invited });
  }

  /** Forgets the secret for `device` (it was vouched for). */
  async removeInvited(device: string): Promise<void> {
    if (!(device in this.section.invited)) return;
    const invited = { ...this.section.invited };
    delete invited[device];
    await this.#save({ ...this.section, invited });
  }

  /** The secret of the invite this device (`device`) enrolled with, if it had one. */
  own(device: string): Uint8Array | undefined {
    const own = this.section.own;
    return own?.device === device ? fromBase64Url(own.secret, false) : undefined;
  }

  /** Remembers the secret of the invite this device enrolled with. */
  async setOwn(device: string, secret: Uint8Array): Promise<void> {
    await this.#save({ ...this.section, own: { device, secret: toBase64Url(secret, false) } });
  }

  async #save(section: Section): Promise<void> {
    this.section = section;
    await ensurePrivateDir(join(this.path, ".."));
    const all = await readFile(this.path);
    all[this.caFingerprint] = section;
    await writeFileAtomic(this.path, JSON.stringify(all, null, 2) + "\n");
  }
}

async function readFile(path: string): Promise<VouchFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error("not an object");
    }
    for (const section of Object.values(value as Record<string, Section>)) {
      if (typeof section?.invited !== "object" || section.invited === null) {
        throw new Error("a section without invites");
      }
    }
    return value as VouchFile;
  } catch (error) {
    throw new Error(
      `${path} is not a vouch store (${(error as Error).message}); move it aside to start afresh`,
    );
  }
}
