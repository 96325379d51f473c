/**
 * Session announcements: a session's Ed25519 (signing) and first X25519 (agreement) public keys,
 * certified once by its device's P-256 certificate key over the user, the device, the session id
 * and a timestamp. An announcement from an old session cannot pass for a new one (the session id
 * is signed) and one older than {@linkcode ANNOUNCE_MAX_AGE_MS} is refused outright.
 *
 *     payload = 2.<ts>.<x25519>.<ed25519>.<cert>.<signature>
 *     signed  = "openchat/v2 announce" 0x00 user 0x00 device 0x00 session 0x00 u64(ts)
 *               x25519(32) ed25519(32)
 *
 * `ts` is a canonical decimal; the byte fields are unpadded base64url. The X25519 key is the
 * session's agreement key of sequence 0; later ones come as agreement statements
 * (`agreement.ts`).
 *
 * @module
 */

import { concatBytes, toBase64Url, uint64be, utf8 } from "../../crypto/bytes.ts";
import { generateSessionSigningKeyPair, RAW_25519_PUBLIC_BYTES } from "../../crypto/keys.ts";
import { exportRawPublicKey, importSessionVerifyKey } from "../../crypto/keys.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import {
  CertificateError,
  type VerifiedCertificate,
  type X509Certificate,
} from "../../crypto/x509.ts";
import { sha256 } from "../../crypto/kdf.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { bytesField, decimalField, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

/** Label of the announcement signature. */
export const ANNOUNCE_LABEL = "openchat/v2 announce";
/** Announcements older than this are refused. */
export const ANNOUNCE_MAX_AGE_MS = 24 * 3_600_000;
/** Announcements dated further than this in the future are refused. */
export const ANNOUNCE_MAX_SKEW_MS = 5 * 60_000;
/** A session re-announces (same keys, new timestamp) this often, staying well inside the age limit. */
export const ANNOUNCE_REFRESH_MS = 6 * 3_600_000;
const FORMAT = "2";

/** A session's signing key pair. */
export interface SigningKeys {
  readonly pair: CryptoKeyPair;
  readonly publicKey: Uint8Array<ArrayBuffer>;
}

/** Makes a session's Ed25519 signing key pair. */
export async function createSigningKeys(): Promise<SigningKeys> {
  const pair = await generateSessionSigningKeyPair();
  return { pair, publicKey: await exportRawPublicKey(pair.publicKey) };
}

/** Who an announcement is for. */
export interface AnnouncedSession {
  readonly user: string;
  readonly device: string;
  readonly session: string;
}

function signedBytes(
  who: AnnouncedSession,
  ts: number,
  x25519: Uint8Array,
  ed25519: Uint8Array,
): Uint8Array {
  return concatBytes(
    utf8(who.user),
    Uint8Array.of(0),
    utf8(who.device),
    Uint8Array.of(0),
    utf8(who.session),
    Uint8Array.of(0),
    uint64be(ts),
    x25519,
    ed25519,
  );
}

/** Builds this session's announcement, signed with the device's certificate key. */
export async function buildAnnouncement(options: {
  who: AnnouncedSession;
  certDer: Uint8Array;
  deviceKey: CryptoKey;
  agreementPublic: Uint8Array;
  signingPublic: Uint8Array;
  ts: number;
}): Promise<string> {
  const { who, ts } = options;
  const signature = await signLabelled(
    options.deviceKey,
    ANNOUNCE_LABEL,
    signedBytes(who, ts, options.agreementPublic, options.signingPublic),
  );
  return [
    FORMAT,
    String(ts),
    toBase64Url(options.agreementPublic, false),
    toBase64Url(options.signingPublic, false),
    toBase64Url(options.certDer, false),
    toBase64Url(signature, false),
  ].join(".");
}

/** A peer session whose announcement verified. */
export interface VerifiedAnnouncement extends AnnouncedSession {
  readonly ts: number;
  /** The session's agreement key of sequence 0. */
  readonly agreementPublic: Uint8Array<ArrayBuffer>;
  readonly signingKey: CryptoKey;
  readonly signingPublic: Uint8Array<ArrayBuffer>;
  readonly cert: X509Certificate;
  /** SHA-256 of the device's public key (SubjectPublicKeyInfo DER), raw. */
  readonly keyDigest: Uint8Array<ArrayBuffer>;
  /** The same, as colon-separated hex: what people compare with `/whois`. */
  readonly keyFingerprint: string;
}

/** Verifies peer certificates; the client passes a certificate cache's `verify`. */
export type CertificateVerifier = (der: Uint8Array, now: Date) => Promise<VerifiedCertificate>;

/** Reads the device label a verified certificate names. */
export type DeviceReader = (cert: X509Certificate) => string;

/**
 * Verifies an announcement that the server says comes from `who`: the certificate chains to our
 * CA and names that user and device, the signature covers user, device, session, time and keys,
 * and the time is recent.
 *
 * With `historical`, it is the announcement of the sender of stored traffic (a room's log, an
 * inbox), which may be older than a day: the certificate is then checked as of the
 * announcement's own time, and the age is not.
 *
 * @throws {E2EError} `bad_announcement` or `stale_announcement`.
 */
export async function verifyAnnouncement(
  payload: string,
  who: AnnouncedSession,
  verifyCert: CertificateVerifier,
  deviceOf: DeviceReader,
  now = new Date(),
  historical = false,
): Promise<VerifiedAnnouncement> {
  const from = `${who.user}/${who.device}`;
  let fields: string[];
  let ts: number;
  let agreementPublic: Uint8Array<ArrayBuffer>;
  let signingPublic: Uint8Array<ArrayBuffer>;
  let certDer: Uint8Array<ArrayBuffer>;
  let signature: Uint8Array<ArrayBuffer>;
  try {
    fields = splitFields(payload, 6, "announcement", from);
    if (fields[0] !== FORMAT) throw new E2EError("bad_payload", "format");
    ts = decimalField(fields[1]!, Number.MAX_SAFE_INTEGER, "announcement", from);
    agreementPublic = bytesField(fields[2]!, "announcement", from, RAW_25519_PUBLIC_BYTES);
    signingPublic = bytesField(fields[3]!, "announcement", from, RAW_25519_PUBLIC_BYTES);
    certDer = bytesField(fields[4]!, "announcement", from);
    signature = bytesField(fields[5]!, "announcement", from);
  } catch {
    throw new E2EError("bad_announcement", `Malformed announcement from ${from}`);
  }
  let verified: VerifiedCertificate;
  let device: string;
  try {
    verified = await verifyCert(certDer, historical ? new Date(ts) : now);
    device = deviceOf(verified.cert);
  } catch (error) {
    const reason = error instanceof CertificateError ? error.message : String(error);
    throw new E2EError("bad_announcement", `${from}'s certificate was refused: ${reason}`);
  }
  if (verified.commonName !== who.user || device !== who.device) {
    throw new E2EError(
      "bad_announcement",
      `The server says this is ${from}, but the certificate names ${verified.commonName}/${device}`,
    );
  }
  const ok = await verifyLabelled(
    verified.publicKey,
    ANNOUNCE_LABEL,
    signedBytes(who, ts, agreementPublic, signingPublic),
    signature,
  );
  if (!ok) {
    throw new E2EError("bad_announcement", `${from}'s announcement signature does not verify`);
  }
  const stale = historical
    ? ts > now.getTime() + ANNOUNCE_MAX_SKEW_MS
    : ts < now.getTime() - ANNOUNCE_MAX_AGE_MS || ts > now.getTime() + ANNOUNCE_MAX_SKEW_MS;
  if (stale) {
    throw new E2EError(
      "stale_announcement",
      `${from}'s announcement is dated ${new Date(ts).toISOString()}`,
    );
  }
  let signingKey: CryptoKey;
  try {
    signingKey = await importSessionVerifyKey(signingPublic);
  } catch {
    throw new E2EError("bad_announcement", `${from}'s session signing key is invalid`);
  }
  const keyDigest = await sha256(new Uint8Array(verified.cert.publicKey.rawData));
  return {
    ...who,
    ts,
    agreementPublic,
    signingKey,
    signingPublic,
    cert: verified.cert,
    keyDigest,
    keyFingerprint: formatFingerprint(keyDigest),
  };
}
