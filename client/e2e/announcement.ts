/**
 * Session announcements: a session's fresh X25519 (agreement) and Ed25519 (signing) public keys,
 * certified once by the user's P-256 certificate key over the user name, the session id and a
 * timestamp. An announcement from an old session cannot pass for a new one (the session id is
 * signed) and one older than {@linkcode ANNOUNCE_MAX_AGE_MS} is refused outright.
 *
 * Wire form (the `announce` payload): `1.<ts>.<x25519>.<ed25519>.<cert>.<signature>`, numbers in
 * decimal, bytes in unpadded base64url. Signed bytes, under label "openchat/v1 announce":
 * `user 0x00 session 0x00 ts(8, big-endian) x25519(32) ed25519(32)`.
 *
 * @module
 */

import { concatBytes, fromBase64Url, toBase64Url, uint64be, utf8 } from "../../crypto/bytes.ts";
import { generateAgreementKeyPair } from "../../crypto/ecdh.ts";
import {
  exportRawPublicKey,
  generateSessionSigningKeyPair,
  importSessionVerifyKey,
  RAW_25519_PUBLIC_BYTES,
} from "../../crypto/keys.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import {
  CertificateError,
  keyFingerprint,
  type VerifiedCertificate,
  type X509Certificate,
} from "../../crypto/x509.ts";
import { deviceOf } from "../../protocol/devices.ts";
import { E2EError } from "./errors.ts";

/** Label of the announcement signature. */
export const ANNOUNCE_LABEL = "openchat/v1 announce";
/** Announcements older than this are refused. */
export const ANNOUNCE_MAX_AGE_MS = 24 * 3_600_000;
/** Announcements dated further than this in the future are refused. */
export const ANNOUNCE_MAX_SKEW_MS = 5 * 60_000;
/** A session re-announces (same keys, new timestamp) this often, staying well inside the age limit. */
export const ANNOUNCE_REFRESH_MS = 6 * 3_600_000;

/** One session's own key pairs. */
export interface SessionKeys {
  readonly agreement: CryptoKeyPair;
  readonly agreementPublic: Uint8Array<ArrayBuffer>;
  readonly signing: CryptoKeyPair;
  readonly signingPublic: Uint8Array<ArrayBuffer>;
}

/** Makes the key pairs of a new session. */
export async function createSessionKeys(): Promise<SessionKeys> {
  const [agreement, signing] = await Promise.all([
    generateAgreementKeyPair(),
    generateSessionSigningKeyPair(),
  ]);
  const [agreementPublic, signingPublic] = await Promise.all([
    exportRawPublicKey(agreement.publicKey),
    exportRawPublicKey(signing.publicKey),
  ]);
  return { agreement, agreementPublic, signing, signingPublic };
}

function signedBytes(
  user: string,
  session: string,
  ts: number,
  x25519: Uint8Array,
  ed25519: Uint8Array,
) {
  return concatBytes(
    utf8(user),
    Uint8Array.of(0),
    utf8(session),
    Uint8Array.of(0),
    uint64be(ts),
    x25519,
    ed25519,
  );
}

/** Builds this session's announcement. */
export async function buildAnnouncement(
  user: string,
  session: string,
  certDer: Uint8Array,
  identityKey: CryptoKey,
  keys: SessionKeys,
  ts = Date.now(),
): Promise<string> {
  const signature = await signLabelled(
    identityKey,
    ANNOUNCE_LABEL,
    signedBytes(user, session, ts, keys.agreementPublic, keys.signingPublic),
  );
  return [
    "1",
    String(ts),
    toBase64Url(keys.agreementPublic, false),
    toBase64Url(keys.signingPublic, false),
    toBase64Url(certDer, false),
    toBase64Url(signature, false),
  ].join(".");
}

/** A peer session whose announcement verified. */
export interface VerifiedAnnouncement {
  readonly user: string;
  /** The device, from the certificate's `openchat:USER/DEVICE` URI. */
  readonly device: string;
  readonly session: string;
  readonly ts: number;
  readonly agreementPublic: Uint8Array<ArrayBuffer>;
  readonly signingKey: CryptoKey;
  readonly cert: X509Certificate;
  /** SHA-256 of the user's certificate public key, for the trust store. */
  readonly keyFingerprint: string;
}

/** Verifies peer certificates; the client passes a {@linkcode CertificateCache}'s `verify`. */
export type CertificateVerifier = (der: Uint8Array, now: Date) => Promise<VerifiedCertificate>;

/**
 * Verifies an announcement that the server says comes from `user`'s session `session`: the
 * certificate chains to our CA with a matching name (and device, when the server named one),
 * the signature covers user, session, time and keys, and the time is recent.
 *
 * @throws {E2EError} `bad_announcement` or `stale_announcement`.
 */
export async function verifyAnnouncement(
  payload: string,
  user: string,
  session: string,
  verifyCert: CertificateVerifier,
  now = new Date(),
  device?: string,
): Promise<VerifiedAnnouncement> {
  const fields = payload.split(".");
  if (fields.length !== 6 || fields[0] !== "1" || !/^\d{1,15}$/.test(fields[1]!)) {
    throw new E2EError("bad_announcement", `Malformed announcement from ${user}`);
  }
  const ts = Number(fields[1]);
  let agreementPublic: Uint8Array<ArrayBuffer>;
  let signingPublic: Uint8Array<ArrayBuffer>;
  let certDer: Uint8Array<ArrayBuffer>;
  let signature: Uint8Array<ArrayBuffer>;
  try {
    [agreementPublic, signingPublic, certDer, signature] = fields.slice(2).map((f) =>
      fromBase64Url(f, false)
    ) as [
      Uint8Array<ArrayBuffer>,
      Uint8Array<ArrayBuffer>,
      Uint8Array<ArrayBuffer>,
      Uint8Array<ArrayBuffer>,
    ];
  } catch {
    throw new E2EError("bad_announcement", `Malformed announcement from ${user}`);
  }
  if (
    agreementPublic.length !== RAW_25519_PUBLIC_BYTES ||
    signingPublic.length !== RAW_25519_PUBLIC_BYTES
  ) {
    throw new E2EError("bad_announcement", `Announcement from ${user} has keys of the wrong size`);
  }
  let verified: VerifiedCertificate;
  try {
    verified = await verifyCert(certDer, now);
  } catch (error) {
    const reason = error instanceof CertificateError ? error.message : String(error);
    throw new E2EError("bad_announcement", `${user}'s certificate was refused: ${reason}`);
  }
  if (verified.commonName !== user) {
    throw new E2EError(
      "bad_announcement",
      `The server says this is ${user}, but the certificate names ${verified.commonName}`,
    );
  }
  let certDevice: string;
  try {
    certDevice = deviceOf(verified.cert);
  } catch (error) {
    throw new E2EError("bad_announcement", `${user}'s certificate: ${(error as Error).message}`);
  }
  if (device !== undefined && device !== certDevice) {
    throw new E2EError(
      "bad_announcement",
      `The server says this is ${user}/${device}, but the certificate names ${user}/${certDevice}`,
    );
  }
  const ok = await verifyLabelled(
    verified.publicKey,
    ANNOUNCE_LABEL,
    signedBytes(user, session, ts, agreementPublic, signingPublic),
    signature,
  );
  if (!ok) {
    throw new E2EError("bad_announcement", `${user}'s announcement signature does not verify`);
  }
  if (ts < now.getTime() - ANNOUNCE_MAX_AGE_MS || ts > now.getTime() + ANNOUNCE_MAX_SKEW_MS) {
    throw new E2EError(
      "stale_announcement",
      `${user}'s announcement is dated ${new Date(ts).toISOString()}`,
    );
  }
  let signingKey: CryptoKey;
  try {
    signingKey = await importSessionVerifyKey(signingPublic);
  } catch {
    throw new E2EError("bad_announcement", `${user}'s session signing key is invalid`);
  }
  return {
    user,
    device: certDevice,
    session,
    ts,
    agreementPublic,
    signingKey,
    cert: verified.cert,
    keyFingerprint: await keyFingerprint(verified.cert),
  };
}
