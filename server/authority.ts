/**
 * The certificate authority as it lives in a data directory: the CA certificate and key as PEM
 * files, and the record of issued and revoked certificates in SQLite. The CA private key is read
 * here and used here; it never leaves the data directory.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { importIdentityPrivateKey } from "../crypto/keys.ts";
import {
  certificateFingerprint,
  certificateSerial,
  createCA,
  issueUserCertificate,
  type KeyedCertificate,
  keyFingerprint,
  parseCertificate,
  privateKeyMatches,
  type X509Certificate,
} from "../crypto/x509.ts";
import * as x509 from "@peculiar/x509";
import { MAX_CERT_DAYS } from "../crypto/x509.ts";
import { userNameProblem } from "../protocol/names.ts";
import { ensurePrivateDir, exists, writeFileAtomic } from "../util/files.ts";
import { CaStore, type CertificateRecord, DATABASE_FILE, StoreError } from "./ca_store.ts";

/** File names inside the data directory. */
export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";

/** Why an authority operation was refused. */
export type AuthorityProblem =
  | "no_ca"
  | "ca_exists"
  | "corrupt"
  | "bad_name"
  | "bad_days"
  | "unknown_target"
  | "already_revoked";

/** A refused CA operation; the message says what to do about it. */
export class AuthorityError extends Error {
  readonly code: AuthorityProblem;

  constructor(code: AuthorityProblem, message: string) {
    super(message);
    this.name = "AuthorityError";
    this.code = code;
  }
}

/** Checks a user name against the naming rules, throwing a clear {@linkcode AuthorityError}. */
export function checkUserName(name: string): void {
  const problem = userNameProblem(name);
  if (problem) {
    throw new AuthorityError(
      "bad_name",
      `Invalid user name ${
        JSON.stringify(name)
      }: ${problem} (lower-case a-z, 0-9, '_', '-', 1 to 32 characters, starting with a letter or digit)`,
    );
  }
}

/** Checks a certificate lifetime in days. */
export function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERT_DAYS) {
    throw new AuthorityError(
      "bad_days",
      `--days must be a whole number from 1 to ${MAX_CERT_DAYS}, received ${days}`,
    );
  }
}

/** The CA of one data directory. */
export class CertificateAuthority {
  private constructor(
    /** The data directory it lives in. */
    readonly dataDir: string,
    /** The CA certificate. */
    readonly cert: X509Certificate,
    /** The CA certificate as PEM, as written to identity files. */
    readonly certPem: string,
    /** The CA private key (not extractable). */
    readonly privateKey: CryptoKey,
    /** SHA-256 fingerprint of the CA certificate. */
    readonly fingerprint: string,
    /** Issued and revoked certificates. */
    readonly store: CaStore,
  ) {}

  /** True when `dataDir` already holds a CA certificate or key. */
  static async existsIn(dataDir: string): Promise<boolean> {
    return await exists(join(dataDir, CA_CERT_FILE)) || await exists(join(dataDir, CA_KEY_FILE));
  }

  /**
   * Creates a CA in `dataDir` (made if missing, mode 0700).
   *
   * @throws {AuthorityError} `ca_exists` when one is already there; nothing is overwritten.
   */
  static async create(
    directory: string,
    options: { name?: string } = {},
  ): Promise<CertificateAuthority> {
    const dataDir = resolve(directory);
    await ensureDataDir(dataDir);
    if (await CertificateAuthority.existsIn(dataDir)) {
      throw new AuthorityError(
        "ca_exists",
        `A CA already exists in ${dataDir}; refusing to overwrite it`,
      );
    }
    const name = options.name ?? "openchat CA";
    if (name.trim().length === 0 || name.length > 64 || /[\p{Cc}]/u.test(name)) {
      throw new AuthorityError("bad_name", "--name must be 1 to 64 printable characters");
    }
    const ca = await createCA({ name });
    // Key first: a crash between the two writes leaves a key without a certificate, which
    // `existsIn` still sees, so a half-made CA is never silently replaced.
    await writeFileAtomic(join(dataDir, CA_KEY_FILE), ca.privateKeyPem, { createNew: true });
    await writeFileAtomic(join(dataDir, CA_CERT_FILE), ca.certPem, {
      mode: 0o644,
      createNew: true,
    });
    return await CertificateAuthority.load(dataDir);
  }

  /**
   * Loads the CA of `dataDir`.
   *
   * @throws {AuthorityError} `no_ca` (saying how to make one) or `corrupt` (saying which file).
   */
  static async load(directory: string): Promise<CertificateAuthority> {
    const dataDir = resolve(directory);
    const certPath = join(dataDir, CA_CERT_FILE);
    const keyPath = join(dataDir, CA_KEY_FILE);
    let dirInfo: Deno.FileInfo;
    try {
      dirInfo = await Deno.stat(dataDir);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw noCA(dataDir);
      throw corrupt(dataDir, `cannot be read (${(error as Error).message})`);
    }
    if (!dirInfo.isDirectory) throw corrupt(dataDir, "is not a directory");
    if (!await CertificateAuthority.existsIn(dataDir)) throw noCA(dataDir);

    const certPem = await readOrCorrupt(dataDir, certPath);
    const keyPem = await readOrCorrupt(dataDir, keyPath);
    let cert: X509Certificate;
    let privateKey: CryptoKey;
    try {
      cert = parseCertificate(certPem);
    } catch {
      throw corrupt(dataDir, `${CA_CERT_FILE} is not a PEM certificate`);
    }
    if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw corrupt(dataDir, `${CA_CERT_FILE} is not a CA certificate`);
    }
    try {
      privateKey = await importIdentityPrivateKey(keyPem);
    } catch {
      throw corrupt(dataDir, `${CA_KEY_FILE} is not a PKCS#8 P-256 private key`);
    }
    if (!await privateKeyMatches(cert, privateKey).catch(() => false)) {
      throw corrupt(dataDir, `${CA_KEY_FILE} does not belong to ${CA_CERT_FILE}`);
    }
    let store: CaStore;
    try {
      store = CaStore.open(join(dataDir, DATABASE_FILE));
    } catch (error) {
      throw corrupt(dataDir, (error as StoreError).message);
    }
    return new CertificateAuthority(
      dataDir,
      cert,
      certPem,
      privateKey,
      await certificateFingerprint(cert),
      store,
    );
  }

  /** The issuer handle the X.509 module signs with. */
  get issuer(): { cert: X509Certificate; privateKey: CryptoKey } {
    return { cert: this.cert, privateKey: this.privateKey };
  }

  /**
   * Issues a user certificate, records it, then calls `persist` (which writes the identity
   * file). If `persist` throws, the record is removed again: a certificate nobody holds is never
   * left in the list.
   */
  async issueUser(
    name: string,
    days: number,
    persist: (issued: KeyedCertificate) => Promise<void>,
  ): Promise<{ issued: KeyedCertificate; record: CertificateRecord }> {
    checkUserName(name);
    checkDays(days);
    const issued = await issueUserCertificate(this.issuer, { name, days });
    const record: CertificateRecord = {
      serial: certificateSerial(issued.cert),
      name,
      fingerprint: await certificateFingerprint(issued.cert),
      keyFingerprint: await keyFingerprint(issued.cert),
      notBefore: issued.cert.notBefore.toISOString(),
      notAfter: issued.cert.notAfter.toISOString(),
      issuedAt: new Date().toISOString(),
      revokedAt: null,
      revokeReason: null,
      certPem: issued.certPem,
    };
    this.store.recordIssued(record);
    try {
      await persist(issued);
    } catch (error) {
      this.store.forget(record.serial);
      throw error;
    }
    return { issued, record };
  }

  /**
   * Revokes every valid certificate of user `target`, or the one with serial `target`.
   *
   * @returns the records that were revoked (at least one).
   * @throws {AuthorityError} `unknown_target` or `already_revoked`; nothing changes then.
   */
  revoke(target: string, reason: string | null, now = new Date()): CertificateRecord[] {
    const byName = this.store.byName(target);
    const serial = normalizeSerial(target);
    const bySerial = serial ? this.store.bySerial(serial) : undefined;
    const candidates = byName.length > 0 ? byName : bySerial ? [bySerial] : [];
    if (candidates.length === 0) {
      throw new AuthorityError(
        "unknown_target",
        `No certificate was issued to a user or serial ${
          JSON.stringify(target)
        } (see \`openchat ca list\`)`,
      );
    }
    const active = candidates.filter((record) => !record.revokedAt);
    if (active.length === 0) {
      throw new AuthorityError(
        "already_revoked",
        `${JSON.stringify(target)} is already revoked; nothing changed`,
      );
    }
    return this.store.transaction(() => {
      for (const record of active) this.store.revoke(record.serial, reason, now);
      return active.map((record) => this.store.bySerial(record.serial)!);
    });
  }

  /** Closes the database. */
  close(): void {
    this.store.close();
  }
}

/** Lower-case hex without colons or leading zero bytes, or undefined if `text` is not hex. */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 40) return undefined;
  return hex.replace(/^(00)+(?=.)/, "");
}

async function ensureDataDir(dataDir: string): Promise<void> {
  try {
    await ensurePrivateDir(dataDir);
  } catch (error) {
    throw corrupt(dataDir, `cannot be used as a data directory (${(error as Error).message})`);
  }
}

async function readOrCorrupt(dataDir: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw corrupt(dataDir, `${path} cannot be read (${(error as Error).message})`);
  }
}

function noCA(dataDir: string): AuthorityError {
  return new AuthorityError(
    "no_ca",
    `No CA in ${dataDir}: create one with \`openchat ca init\` (or start \`openchat serve\`, which makes one)`,
  );
}

function corrupt(dataDir: string, what: string): AuthorityError {
  return new AuthorityError("corrupt", `Data directory ${dataDir} is unusable: ${what}`);
}
