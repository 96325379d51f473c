/**
 * Trust on first use, like SSH's known_hosts: the first key seen for a user (under one CA) is
 * remembered; a different key later is a loud warning, and that user's messages show as
 * unverified until someone runs `/trust NAME` after comparing fingerprints out of band.
 *
 * Stored as JSON in the client's config directory (`trust.json`, mode 0600), one section per
 * CA fingerprint, rewritten atomically. Other clients of the same user may write it too, so each
 * save re-reads the file and changes only the entry it is about.
 *
 * @module
 */

import { join } from "node:path";
import { ensurePrivateDir, writeFileAtomic } from "../util/files.ts";

/** File name inside the config directory. */
export const TRUST_FILE = "trust.json";

/** What the store says about a key. */
export type TrustState = "new" | "trusted" | "changed";

/** One remembered user. */
export interface TrustEntry {
  /** SHA-256 fingerprint of the trusted key. */
  fingerprint: string;
  firstSeen: string;
  /** Set when the entry was changed by `/trust` rather than first use. */
  trustedAt?: string;
}

type TrustFile = Record<string, Record<string, TrustEntry>>;

/** The trust store of one CA. */
export class TrustStore {
  #entries: Record<string, TrustEntry>;

  private constructor(
    readonly path: string,
    readonly caFingerprint: string,
    entries: Record<string, TrustEntry>,
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

  /** The remembered entry of `user`, if any. */
  get(user: string): TrustEntry | undefined {
    return this.#entries[user];
  }

  /**
   * Checks `fingerprint` for `user`: "trusted" if it is the remembered key, "changed" if another
   * key is remembered, and "new" (remembering it) if the user was never seen.
   */
  async check(user: string, fingerprint: string): Promise<TrustState> {
    const known = this.#entries[user];
    if (known) return known.fingerprint === fingerprint ? "trusted" : "changed";
    await this.#save(user, { fingerprint, firstSeen: new Date().toISOString() });
    return "new";
  }

  /** Trusts `fingerprint` for `user` from now on (after an out-of-band check). */
  async trust(user: string, fingerprint: string): Promise<void> {
    const now = new Date().toISOString();
    await this.#save(user, {
      fingerprint,
      firstSeen: this.#entries[user]?.firstSeen ?? now,
      trustedAt: now,
    });
  }

  async #save(user: string, entry: TrustEntry): Promise<void> {
    this.#entries[user] = entry;
    const dir = join(this.path, "..");
    await ensurePrivateDir(dir);
    const all = await readTrustFile(this.path);
    all[this.caFingerprint] = { ...all[this.caFingerprint], [user]: entry };
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
    return value as TrustFile;
  } catch (error) {
    throw new Error(
      `${path} is not a trust store (${(error as Error).message}); move it aside to start afresh`,
    );
  }
}
