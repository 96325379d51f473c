/**
 * The certificate authority as it lives in a data directory: the CA certificate and key as PEM
 * files (the key optionally encrypted with a passphrase), and the record of issued and revoked
 * certificates and of invites in SQLite. The CA private key is read here, imported
 * non-extractable, and used here; it never leaves the data directory.
 *
 * The CA fails closed: the database records which CA it belongs to, a CA key whose database is
 * missing or belongs to another CA refuses to load (it is never recreated: every record of who
 * was admitted and who was revoked would be gone), and the server admits only certificates the
 * database records as issued and not revoked.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { bytesEqual, randomBytes } from "../crypto/bytes.ts";
import { RequestError, verifyCertificateRequest } from "../crypto/csr.ts";
import {
  decryptPrivateKey,
  EncryptedKeyError,
  encryptPrivateKey,
} from "../crypto/encrypted_key.ts";
import { sha256 } from "../crypto/kdf.ts";
import { importIdentityPrivateKey } from "../crypto/keys.ts";
import { decodePemBlocks, encodePem, type PemBlock } from "../crypto/pem.ts";
import {
  certificateFingerprint,
  certificateSerial,
  createCA,
  identityPublicKey,
  issueClientCertificate,
  issueUserCertificate,
  type KeyedCertificate,
  keyFingerprint,
  MAX_CERT_DAYS,
  parseCertificate,
  privateKeyMatches,
  type X509Certificate,
} from "../crypto/x509.ts";
import * as x509 from "@peculiar/x509";
import {
  DEFAULT_DEVICE,
  deviceLabelProblem,
  deviceUri,
  parseDeviceRef,
} from "../protocol/devices.ts";
import { INVITE_SECRET_BYTES } from "../protocol/invite_token.ts";
import { userNameProblem } from "../protocol/names.ts";
import { ensurePrivateDir, exists, writeFileAtomic } from "../util/files.ts";
import {
  CaStore,
  type CertificateRecord,
  DATABASE_FILE,
  type InviteRecord,
  statusOf,
  StoreError,
} from "./ca_store.ts";

/** File names inside the data directory. */
export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca-key.pem";

/** Lifetime of an invite when none is given. */
export const DEFAULT_INVITE_TTL_MS = 24 * 3_600_000;
/** Longest lifetime of an invite. */
export const MAX_INVITE_TTL_MS = 7 * 86_400_000;
/** Shortest lifetime of an invite. */
export const MIN_INVITE_TTL_MS = 60_000;
/** Invites pending at once, across all users. */
export const MAX_PENDING_INVITES = 1000;
/** Invites pending at once for one user (a device can ask for invites; this bounds it). */
export const MAX_PENDING_INVITES_PER_USER = 10;
/** Devices one user may hold with a valid certificate at once. */
export const MAX_DEVICES_PER_USER = 16;
/** How long after expiry a certificate can still be renewed (never used to chat). */
export const RENEWAL_GRACE_MS = 60 * 86_400_000;
/** Fewest characters of a passphrase that protects the CA key. */
export const MIN_PASSPHRASE_CHARS = 8;
/** Fewest hex characters of an invite id that `cancelInvite` accepts. */
export const MIN_INVITE_ID_CHARS = 6;
/** Characters of an invite id shown by `ca list --invites`. */
export const INVITE_ID_CHARS = 12;

/** Why an authority operation was refused. */
export type AuthorityProblem =
  | "no_ca"
  | "ca_exists"
  | "corrupt"
  | "no_database"
  | "wrong_database"
  | "locked"
  | "wrong_passphrase"
  | "bad_name"
  | "bad_days"
  | "bad_ttl"
  | "bad_request"
  | "unknown_target"
  | "already_revoked"
  | "invalid_invite"
  | "too_many_invites"
  | "too_many_devices"
  | "renewal_refused";

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

/** Checks a device label against the naming rules. */
export function checkDeviceLabel(device: string): void {
  const problem = deviceLabelProblem(device);
  if (problem) {
    throw new AuthorityError(
      "bad_name",
      `Invalid device label ${
        JSON.stringify(device)
      }: ${problem} (the same rule as user names: lower-case a-z, 0-9, '_', '-', 1 to 32 characters)`,
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

/** Checks an invite lifetime. */
export function checkInviteTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < MIN_INVITE_TTL_MS || ttlMs > MAX_INVITE_TTL_MS) {
    throw new AuthorityError(
      "bad_ttl",
      `An invite lives from 1 minute to 7 days (--ttl 1m to 7d), received ${
        Number.isFinite(ttlMs) ? `${Math.round(ttlMs / 1000)} s` : String(ttlMs)
      }`,
    );
  }
}

/** SHA-256 of an invite secret, lower-case hex: the only form in which the CA keeps it. */
export async function inviteHash(secret: Uint8Array): Promise<string> {
  return (await sha256(secret)).toHex();
}

/** Options of {@linkcode CertificateAuthority.load}. */
export interface LoadOptions {
  /**
   * Asked for the passphrase when the CA key is encrypted. Without it an encrypted key stays
   * locked: the CA can then list, invite and revoke, but not sign.
   */
  passphrase?: () => Promise<string>;
  /**
   * The records to use instead of the data directory's database: a cluster's replica
   * (`server/cluster/ca_journal.ts`). Its CA must be this one; empty records are refused.
   */
  records?: CaStore;
}

/** A newly made invite: the secret goes into the token, only its hash into the database. */
export interface NewInvite {
  readonly secret: Uint8Array<ArrayBuffer>;
  readonly record: InviteRecord;
}

/** A certificate the CA signed and recorded for a key it never held. */
export interface IssuedCertificate {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly record: CertificateRecord;
}

/** One device of a user as `devices` lists it: its latest certificate. */
export interface DeviceSummary {
  readonly device: string;
  readonly serial: string;
  readonly status: "valid" | "expired" | "revoked";
  readonly notAfter: string;
  readonly invitedBy: string | null;
}

/** The CA of one data directory. */
export class CertificateAuthority {
  readonly #privateKey: CryptoKey | undefined;

  private constructor(
    /** The data directory it lives in. */
    readonly dataDir: string,
    /** The CA certificate. */
    readonly cert: X509Certificate,
    /** The CA certificate as PEM, as written to identity files. */
    readonly certPem: string,
    privateKey: CryptoKey | undefined,
    /** SHA-256 fingerprint of the CA certificate (colon hex). */
    readonly fingerprint: string,
    /** The same fingerprint as 32 bytes, as invite tokens carry it. */
    readonly fingerprintBytes: Uint8Array<ArrayBuffer>,
    /** Issued and revoked certificates, and invites. */
    readonly store: CaStore,
    /** True when the CA key is stored encrypted with a passphrase. */
    readonly encrypted: boolean,
    /** Set when this load adopted a database from before it recorded its CA. */
    readonly adoptedDatabase: boolean,
  ) {
    this.#privateKey = privateKey;
  }

  /** True when `dataDir` already holds a CA certificate or key. */
  static async existsIn(dataDir: string): Promise<boolean> {
    return await exists(join(dataDir, CA_CERT_FILE)) || await exists(join(dataDir, CA_KEY_FILE));
  }

  /**
   * Creates a CA in `dataDir` (made if missing, mode 0700), with its database. With
   * `passphrase`, the key is stored encrypted (PKCS#8 PBES2).
   *
   * @throws {AuthorityError} `ca_exists` when one is already there; nothing is overwritten.
   */
  static async create(
    directory: string,
    options: { name?: string; passphrase?: string } = {},
  ): Promise<CertificateAuthority> {
    const dataDir = resolve(directory);
    await ensureDataDir(dataDir);
    if (await CertificateAuthority.existsIn(dataDir)) {
      throw new AuthorityError(
        "ca_exists",
        `A CA already exists in ${dataDir}; refusing to overwrite it`,
      );
    }
    const dbPath = join(dataDir, DATABASE_FILE);
    if (await exists(dbPath)) {
      throw new AuthorityError(
        "ca_exists",
        `${dbPath} exists without a CA beside it; refusing to reuse it (move it aside to start afresh)`,
      );
    }
    const name = options.name ?? "openchat CA";
    if (name.trim().length === 0 || name.length > 64 || /[\p{Cc}]/u.test(name)) {
      throw new AuthorityError("bad_name", "--name must be 1 to 64 printable characters");
    }
    if (options.passphrase !== undefined) checkPassphrase(options.passphrase);
    const ca = await createCA({ name });
    // The database first, knowing its CA; then the key; then the certificate. A crash between
    // steps leaves a directory that refuses to load and says why, never a CA without records.
    const store = CaStore.open(dbPath, { create: true });
    try {
      store.setCaFingerprint(await certificateFingerprint(ca.cert));
    } finally {
      store.close();
    }
    const keyPem = options.passphrase === undefined ? ca.privateKeyPem : encodePem(
      await encryptPrivateKey(
        new Uint8Array(await crypto.subtle.exportKey("pkcs8", ca.privateKey)),
        options.passphrase,
      ),
      "ENCRYPTED PRIVATE KEY",
    );
    await writeFileAtomic(join(dataDir, CA_KEY_FILE), keyPem, { createNew: true });
    await writeFileAtomic(join(dataDir, CA_CERT_FILE), ca.certPem, {
      mode: 0o644,
      createNew: true,
    });
    return await CertificateAuthority.load(dataDir, {
      passphrase: options.passphrase === undefined
        ? undefined
        : () => Promise.resolve(options.passphrase!),
    });
  }

  /**
   * Loads the CA of `dataDir`.
   *
   * @throws {AuthorityError} `no_ca` (saying how to make one), `corrupt` (saying which file),
   *   `no_database` or `wrong_database` (saying how to recover), `wrong_passphrase`.
   */
  static async load(directory: string, options: LoadOptions = {}): Promise<CertificateAuthority> {
    const dataDir = resolve(directory);
    const certPath = join(dataDir, CA_CERT_FILE);
    const keyPath = join(dataDir, CA_KEY_FILE);
    const dbPath = join(dataDir, DATABASE_FILE);
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
    try {
      cert = parseCertificate(certPem);
    } catch {
      throw corrupt(dataDir, `${CA_CERT_FILE} is not a PEM certificate`);
    }
    if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw corrupt(dataDir, `${CA_CERT_FILE} is not a CA certificate`);
    }
    const { privateKey, encrypted } = await loadKey(dataDir, keyPem, options);
    if (privateKey && !await privateKeyMatches(cert, privateKey).catch(() => false)) {
      throw corrupt(dataDir, `${CA_KEY_FILE} does not belong to ${CA_CERT_FILE}`);
    }
    const fingerprint = await certificateFingerprint(cert);
    if (options.records) {
      const shared = options.records.caFingerprint();
      if (shared !== fingerprint) {
        throw new AuthorityError(
          shared === undefined ? "no_database" : "wrong_database",
          shared === undefined
            ? `The cluster holds no CA records yet; start the first server with --cluster on the data directory whose ${DATABASE_FILE} should seed them`
            : `The cluster's CA records belong to another CA (fingerprint ${shared}), not to ${certPath} (${fingerprint}). Every server of a cluster holds the same ${CA_CERT_FILE} and ${CA_KEY_FILE}.`,
        );
      }
      return new CertificateAuthority(
        dataDir,
        cert,
        certPem,
        privateKey,
        fingerprint,
        Uint8Array.fromHex(fingerprint.replaceAll(":", "")),
        options.records,
        encrypted,
        false,
      );
    }
    let store: CaStore;
    try {
      store = CaStore.open(dbPath);
    } catch (error) {
      if (error instanceof StoreError && error.code === "missing") {
        throw new AuthorityError(
          "no_database",
          `The CA database ${dbPath} is missing, but the CA key ${keyPath} is there. ` +
            `openchat never recreates it: it is the record of every certificate issued and revoked, ` +
            `and the server admits only what it records. Restore ${DATABASE_FILE} from a backup of ` +
            `${dataDir} (with its -wal file, if any). To start over instead, move the whole data ` +
            `directory aside; every user must then enrol again.`,
        );
      }
      throw corrupt(dataDir, (error as Error).message);
    }
    const recorded = store.caFingerprint();
    if (recorded !== undefined && recorded !== fingerprint) {
      store.close();
      throw new AuthorityError(
        "wrong_database",
        `The CA database ${dbPath} belongs to another CA (fingerprint ${recorded}), not to ` +
          `${certPath} (${fingerprint}). Restore the database and CA files that belong together ` +
          `from a backup of ${dataDir}; nothing was changed.`,
      );
    }
    // A database from before openchat recorded its CA: it was used with this CA's files (they
    // share the directory), so it is adopted, once.
    if (recorded === undefined) await store.commit(() => store.setCaFingerprint(fingerprint));
    return new CertificateAuthority(
      dataDir,
      cert,
      certPem,
      privateKey,
      fingerprint,
      Uint8Array.fromHex(fingerprint.replaceAll(":", "")),
      store,
      encrypted,
      recorded === undefined,
    );
  }

  /**
   * The issuer handle the X.509 module signs with.
   *
   * @throws {AuthorityError} `locked` when the key is encrypted and was loaded without a
   *   passphrase.
   */
  get issuer(): { cert: X509Certificate; privateKey: CryptoKey } {
    if (!this.#privateKey) {
      throw new AuthorityError(
        "locked",
        `The CA key in ${this.dataDir} is encrypted; this needs its passphrase`,
      );
    }
    return { cert: this.cert, privateKey: this.#privateKey };
  }

  /** The CA private key (not extractable), when loaded. */
  get privateKey(): CryptoKey | undefined {
    return this.#privateKey;
  }

  /**
   * Issues a user certificate with a key made here, records it, then calls `persist` (which
   * writes the identity file). If `persist` throws, the record is removed again: a certificate
   * nobody holds is never left in the list. For bots: the operator has held that key.
   */
  async issueUser(
    name: string,
    days: number,
    persist: (issued: KeyedCertificate) => Promise<void>,
    options: { device?: string; now?: Date } = {},
  ): Promise<{ issued: KeyedCertificate; record: CertificateRecord }> {
    const device = options.device ?? DEFAULT_DEVICE;
    checkUserName(name);
    checkDeviceLabel(device);
    checkDays(days);
    const now = options.now ?? new Date();
    const issued = await issueUserCertificate(this.issuer, {
      name,
      uris: [deviceUri(name, device)],
      days,
      now,
    });
    const record = await this.#recordNew(issued.cert, issued.certPem, name, device, now, {});
    try {
      await persist(issued);
    } catch (error) {
      await this.store.commit(() => this.store.forget(record.serial));
      throw error;
    }
    return { issued, record };
  }

  /**
   * Signs a PKCS#10 request made elsewhere (a bot's `openssl req`), for `name`'s `device`. The
   * request's CN, if it has one, must be `name`.
   *
   * @throws {AuthorityError} `bad_request` saying what is wrong with the request.
   */
  async issueForRequest(
    name: string,
    request: Uint8Array | string,
    options: { device?: string; days?: number; now?: Date } = {},
  ): Promise<IssuedCertificate> {
    const device = options.device ?? DEFAULT_DEVICE;
    checkUserName(name);
    checkDeviceLabel(device);
    const days = options.days ?? 30;
    checkDays(days);
    const verified = await verifyCertificateRequest(request).catch((error) => {
      if (error instanceof RequestError) throw new AuthorityError("bad_request", error.message);
      throw error;
    });
    if (verified.commonName !== undefined && verified.commonName !== name) {
      throw new AuthorityError(
        "bad_request",
        `The request names ${JSON.stringify(verified.commonName)}, not ${name}`,
      );
    }
    const now = options.now ?? new Date();
    const { cert, certPem } = await issueClientCertificate(this.issuer, verified.publicKey, {
      name,
      uris: [deviceUri(name, device)],
      days,
      now,
    });
    const record = await this.#recordNew(cert, certPem, name, device, now, {});
    return { cert, certPem, record };
  }

  /**
   * Makes an invite for `name`'s `device`, valid for `ttlMs`, asked for by the device
   * `invitedBy` of the same user (null when the operator made it).
   *
   * @throws {AuthorityError} `bad_name`, `bad_ttl`, `too_many_invites` or `too_many_devices`.
   */
  async createInvite(options: {
    name: string;
    device?: string;
    ttlMs?: number;
    invitedBy?: string | null;
    now?: Date;
  }): Promise<NewInvite> {
    const { name } = options;
    const device = options.device ?? DEFAULT_DEVICE;
    const ttlMs = options.ttlMs ?? DEFAULT_INVITE_TTL_MS;
    const now = options.now ?? new Date();
    checkUserName(name);
    checkDeviceLabel(device);
    checkInviteTtl(ttlMs);
    const secret = randomBytes(INVITE_SECRET_BYTES);
    const record: InviteRecord = {
      hash: await inviteHash(secret),
      name,
      device,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
      invitedBy: options.invitedBy ?? null,
      usedAt: null,
      usedSerial: null,
      cancelledAt: null,
    };
    await this.store.commit(() => {
      if (this.store.pendingInvites(now).length >= MAX_PENDING_INVITES) {
        throw new AuthorityError(
          "too_many_invites",
          `${MAX_PENDING_INVITES} invites are already pending; cancel some (openchat ca list --invites) or wait for them to expire`,
        );
      }
      if (this.store.pendingInvites(now, name).length >= MAX_PENDING_INVITES_PER_USER) {
        throw new AuthorityError(
          "too_many_invites",
          `${name} already has ${MAX_PENDING_INVITES_PER_USER} pending invites; cancel some or wait for them to expire`,
        );
      }
      const others = this.store.activeDevices(name, now).filter((label) => label !== device);
      if (others.length >= MAX_DEVICES_PER_USER) {
        throw new AuthorityError(
          "too_many_devices",
          `${name} already has ${MAX_DEVICES_PER_USER} devices; revoke one first`,
        );
      }
      this.store.recordInvite(record);
    });
    return { secret, record };
  }

  /**
   * Redeems an invite: checks the secret names a pending invite, checks the request (its
   * signature, a P-256 key, its CN equal to the invite's user), signs a certificate for the
   * invite's user and device, and records it while marking the invite used, in one
   * transaction. Earlier certificates of the same device are revoked (the device has a new key).
   *
   * @throws {AuthorityError} `invalid_invite` (unknown, used, cancelled, expired) or
   *   `bad_request`; nothing is recorded then.
   */
  async redeemInvite(
    secret: Uint8Array,
    request: Uint8Array,
    now = new Date(),
    linkRequest?: string,
  ): Promise<IssuedCertificate> {
    const hash = await inviteHash(secret);
    const invite = this.store.invite(hash);
    checkPending(invite, now);
    const verified = await verifyCertificateRequest(request).catch((error) => {
      if (error instanceof RequestError) throw new AuthorityError("bad_request", error.message);
      throw error;
    });
    if (verified.commonName !== invite!.name) {
      throw new AuthorityError(
        "bad_request",
        `The request names ${JSON.stringify(verified.commonName ?? "")}, but the invite is for ${
          invite!.name
        }`,
      );
    }
    const { cert, certPem } = await issueClientCertificate(this.issuer, verified.publicKey, {
      name: invite!.name,
      uris: [deviceUri(invite!.name, invite!.device)],
      now,
    });
    const record = await this.#recordNew(cert, certPem, invite!.name, invite!.device, now, {
      invitedBy: invite!.invitedBy,
      claim: hash,
    });
    if (invite!.invitedBy && linkRequest) {
      // Opaque here: only the inviting device can check it (it holds the vouching secret).
      const invitedBy = invite!.invitedBy;
      await this.store.commit(() =>
        this.store.recordLinkRequest(
          record.name,
          record.device,
          record.keyFingerprint,
          invitedBy,
          linkRequest,
          now,
        )
      );
    }
    return { cert, certPem, record };
  }

  /**
   * Issues a new certificate for the key of `cert` (already verified against this CA): same
   * user, same device, fresh serial and lifetime. The certificate must be recorded and not
   * revoked; it may have expired up to {@linkcode RENEWAL_GRACE_MS} ago.
   *
   * @throws {AuthorityError} `renewal_refused` (the message says why).
   */
  async renew(
    cert: X509Certificate,
    user: string,
    device: string,
    now = new Date(),
  ): Promise<IssuedCertificate> {
    const serial = certificateSerial(cert);
    const status = this.store.recordStatus(serial, await certificateFingerprint(cert));
    if (status !== "issued") {
      throw new AuthorityError(
        "renewal_refused",
        status === "revoked" ? "revoked" : "unknown_certificate",
      );
    }
    if (now.getTime() > cert.notAfter.getTime() + RENEWAL_GRACE_MS) {
      throw new AuthorityError("renewal_refused", "expired");
    }
    const renewed = await issueClientCertificate(this.issuer, await identityPublicKey(cert), {
      name: user,
      uris: [deviceUri(user, device)],
      now,
    });
    const previous = this.store.bySerial(serial);
    const record = await this.#recordNew(renewed.cert, renewed.certPem, user, device, now, {
      invitedBy: previous?.invitedBy ?? null,
      renewedFrom: serial,
    });
    return { ...renewed, record };
  }

  /**
   * Revokes every valid certificate of user `target`, of one device (`alice/phone`), or the one
   * with serial `target`.
   *
   * @returns the records that were revoked (at least one).
   * @throws {AuthorityError} `unknown_target` or `already_revoked`; nothing changes then.
   */
  revoke(target: string, reason: string | null, now = new Date()): Promise<CertificateRecord[]> {
    const ref = parseDeviceRef(target);
    const byName = ref
      ? (ref.device ? this.store.byDevice(ref.user, ref.device) : this.store.byName(ref.user))
      : [];
    const serial = normalizeSerial(target);
    const bySerial = serial ? this.store.bySerial(serial) : undefined;
    const candidates = byName.length > 0 ? byName : bySerial ? [bySerial] : [];
    if (candidates.length === 0) {
      throw new AuthorityError(
        "unknown_target",
        `No certificate was issued to a user, device or serial ${
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
    return this.store.commit(() => {
      for (const record of active) this.store.revoke(record.serial, reason, now);
      return active.map((record) => this.store.bySerial(record.serial)!);
    });
  }

  /**
   * Cancels the pending invite whose id (hash of its secret, hex) starts with `id`.
   *
   * @throws {AuthorityError} `invalid_invite` when no single pending invite matches.
   */
  async cancelInvite(id: string, now = new Date()): Promise<InviteRecord> {
    const prefix = id.trim().toLowerCase();
    if (!/^[0-9a-f]+$/.test(prefix) || prefix.length < MIN_INVITE_ID_CHARS) {
      throw new AuthorityError(
        "invalid_invite",
        `An invite id is at least ${MIN_INVITE_ID_CHARS} hex characters, as \`openchat ca list --invites\` shows; received ${
          JSON.stringify(id)
        }`,
      );
    }
    const matches = this.store.invitesByPrefix(prefix);
    if (matches.length !== 1) {
      throw new AuthorityError(
        "invalid_invite",
        matches.length === 0
          ? `No invite has the id ${prefix} (see \`openchat ca list --invites\`)`
          : `${matches.length} invites start with ${prefix}; give more characters`,
      );
    }
    const invite = matches[0]!;
    if (!(await this.store.commit(() => this.store.cancelInvite(invite.hash, now)))) {
      throw new AuthorityError(
        "invalid_invite",
        `The invite ${prefix} is no longer pending (${inviteState(invite, now)}); nothing changed`,
      );
    }
    return this.store.invite(invite.hash)!;
  }

  /** Every device of `name`, each with its latest certificate, most recently issued first. */
  devicesOf(name: string, now = new Date()): DeviceSummary[] {
    const latest = new Map<string, CertificateRecord>();
    for (const record of this.store.byName(name)) latest.set(record.device, record);
    return [...latest.values()].reverse().map((record) => ({
      device: record.device,
      serial: record.serial,
      status: statusOf(record, now),
      notAfter: record.notAfter,
      invitedBy: record.invitedBy,
    }));
  }

  /**
   * Devices of `name` that its device `invitedBy` invited and has not vouched for yet, with
   * their current certificate (the key to vouch for).
   */
  pendingLinks(
    name: string,
    invitedBy: string,
  ): { device: string; certPem: string; request: string }[] {
    const pending = [];
    for (const link of this.store.pendingLinks(name, invitedBy)) {
      const current = this.store.byDevice(name, link.device).reverse().find((record) =>
        !record.revokedAt && record.keyFingerprint === link.keyFingerprint
      );
      if (current) {
        pending.push({ device: link.device, certPem: current.certPem, request: link.request });
      }
    }
    return pending;
  }

  /** Closes the database. */
  close(): void {
    this.store.close();
  }

  /**
   * Records a certificate just signed. With `claim`, the invite with that hash is marked used
   * in the same transaction (refused if it stopped being pending meanwhile). A new key for a
   * device revokes the device's earlier certificates.
   */
  async #recordNew(
    cert: X509Certificate,
    certPem: string,
    name: string,
    device: string,
    now: Date,
    extra: { invitedBy?: string | null; renewedFrom?: string; claim?: string },
  ): Promise<CertificateRecord> {
    const record: CertificateRecord = {
      serial: certificateSerial(cert),
      name,
      device,
      fingerprint: await certificateFingerprint(cert),
      keyFingerprint: await keyFingerprint(cert),
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      issuedAt: now.toISOString(),
      revokedAt: null,
      revokeReason: null,
      certPem,
      invitedBy: extra.invitedBy ?? null,
      renewedFrom: extra.renewedFrom ?? null,
    };
    await this.store.commit(() => {
      if (extra.claim !== undefined && !this.store.claimInvite(extra.claim, record.serial, now)) {
        checkPending(this.store.invite(extra.claim), now);
        throw new AuthorityError("invalid_invite", "This invite was used meanwhile");
      }
      for (const earlier of this.store.byDevice(name, device)) {
        if (!earlier.revokedAt && earlier.keyFingerprint !== record.keyFingerprint) {
          this.store.revoke(earlier.serial, `replaced: ${name}/${device} has a new key`, now);
        }
      }
      this.store.recordIssued(record);
    });
    return record;
  }
}

/** What state an invite is in at `now`, in words. */
export function inviteState(invite: InviteRecord, now: Date): string {
  if (invite.usedAt) return `used on ${invite.usedAt}`;
  if (invite.cancelledAt) return `cancelled on ${invite.cancelledAt}`;
  if (Date.parse(invite.expiresAt) <= now.getTime()) return `expired on ${invite.expiresAt}`;
  return "pending";
}

function checkPending(invite: InviteRecord | undefined, now: Date): void {
  if (!invite) {
    throw new AuthorityError(
      "invalid_invite",
      "This server knows no such invite (a mistyped token, or one made by another server)",
    );
  }
  const state = inviteState(invite, now);
  if (state !== "pending") {
    throw new AuthorityError(
      "invalid_invite",
      `This invite was ${state.replace(/ on .*/, "")} (${state}); ask for a new one`,
    );
  }
}

function checkPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_CHARS) {
    throw new AuthorityError(
      "bad_name",
      `The passphrase must be at least ${MIN_PASSPHRASE_CHARS} characters`,
    );
  }
}

async function loadKey(
  dataDir: string,
  keyPem: string,
  options: LoadOptions,
): Promise<{ privateKey: CryptoKey | undefined; encrypted: boolean }> {
  let blocks: PemBlock[];
  try {
    blocks = decodePemBlocks(keyPem);
  } catch {
    blocks = [];
  }
  const encrypted = blocks.length === 1 && blocks[0]!.label === "ENCRYPTED PRIVATE KEY";
  if (!encrypted) {
    try {
      return { privateKey: await importIdentityPrivateKey(keyPem), encrypted };
    } catch {
      throw corrupt(dataDir, `${CA_KEY_FILE} is not a PKCS#8 P-256 private key`);
    }
  }
  if (!options.passphrase) return { privateKey: undefined, encrypted };
  const passphrase = await options.passphrase();
  let pkcs8: Uint8Array<ArrayBuffer>;
  try {
    pkcs8 = await decryptPrivateKey(blocks[0]!.der, passphrase);
  } catch (error) {
    if (error instanceof EncryptedKeyError && error.code === "unsupported") {
      throw corrupt(dataDir, `${CA_KEY_FILE}: ${error.message}`);
    }
    throw wrongPassphrase(dataDir);
  }
  try {
    // Imported non-extractable: the running process can sign with it, never export it.
    return { privateKey: await importIdentityPrivateKey(pkcs8), encrypted };
  } catch {
    // A wrong passphrase can decrypt to garbage with valid padding (about 1 in 256).
    throw wrongPassphrase(dataDir);
  } finally {
    pkcs8.fill(0);
  }
}

function wrongPassphrase(dataDir: string): AuthorityError {
  return new AuthorityError(
    "wrong_passphrase",
    `The passphrase does not unlock ${join(dataDir, CA_KEY_FILE)}; nothing was changed`,
  );
}

/** Lower-case hex without colons or leading zero bytes, or undefined if `text` is not hex. */
export function normalizeSerial(text: string): string | undefined {
  const hex = text.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 40) return undefined;
  return hex.replace(/^(00)+(?=.)/, "");
}

/** True when `a` and `b` hold the same public key. */
export function sameKey(a: X509Certificate, b: X509Certificate): boolean {
  return bytesEqual(new Uint8Array(a.publicKey.rawData), new Uint8Array(b.publicKey.rawData));
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
