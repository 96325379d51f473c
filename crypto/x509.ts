/**
 * The certificate authority's mathematics: make a CA, issue server and user certificates, and
 * verify a certificate against the CA with a precise reason when it fails. X.509 is built and
 * parsed with `@peculiar/x509`, which sits on WebCrypto.
 *
 * Every certificate here is ECDSA P-256 with SHA-256 and passes `openssl verify`.
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes } from "./bytes.ts";
import { CryptoError } from "./errors.ts";
import { fingerprintOf } from "./fingerprint.ts";
import { decodeCanonicalCertificate } from "./certificate_der.ts";
import { decodeSinglePem } from "./pem.ts";
import { exportPrivateKeyPem, generateIdentityKeyPair, IDENTITY_KEY_ALGORITHM } from "./keys.ts";

x509.cryptoProvider.set(crypto);

const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 86_400_000;
/** Certificates start this long before they are made, so a peer whose clock is a little behind accepts them. */
export const BACKDATE_MS = 5 * 60_000;
/** Default lifetime of a user (device) certificate: short, because renewal keeps the key. */
export const DEFAULT_USER_CERT_DAYS = 30;
/** Default lifetime of the server's TLS certificate; it is re-issued well before it ends. */
export const DEFAULT_SERVER_CERT_DAYS = 90;
/** Lifetime of the CA certificate. */
export const CA_CERT_DAYS = 3650;
/** Longest lifetime `issue` accepts, in days. */
export const MAX_CERT_DAYS = 3650;

/** Extended key usages openchat issues and checks. */
export type CertificateUsage = "client" | "server";

const EKU_OID: Record<CertificateUsage, string> = {
  client: x509.ExtendedKeyUsage.clientAuth,
  server: x509.ExtendedKeyUsage.serverAuth,
};

/** Why a certificate was refused. Each code has its own message; none reveals key material. */
export type CertificateProblem =
  | "malformed"
  | "wrong_ca"
  | "bad_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_usage"
  | "is_ca"
  | "bad_key";

/** A certificate failed verification; `code` says exactly why. */
export class CertificateError extends CryptoError {
  override readonly code: CertificateProblem;

  constructor(code: CertificateProblem, message: string) {
    super(code, message);
    this.name = "CertificateError";
    this.code = code;
  }
}

/** A certificate with its private key, both in memory. */
export interface KeyedCertificate {
  readonly cert: x509.X509Certificate;
  readonly certPem: string;
  readonly privateKey: CryptoKey;
  readonly privateKeyPem: string;
}

/**
 * Parses a certificate from PEM text or DER bytes, completely and strictly: every part
 * `@peculiar/x509` would otherwise parse later, on first use (names, dates, extensions, the public
 * key), is parsed now, so a malformed extension is a `malformed` certificate here and not a
 * `TypeError` in some later check; and the DER must be the canonical encoding of what it holds
 * (see `certificate_der.ts`), so one certificate has one encoding and one fingerprint.
 *
 * @throws {CertificateError} `malformed`.
 */
export function parseCertificate(input: string | Uint8Array): x509.X509Certificate {
  let der: Uint8Array;
  try {
    der = typeof input === "string" ? decodeSinglePem(input, "CERTIFICATE") : input;
  } catch {
    throw new CertificateError("malformed", "Certificate could not be parsed");
  }
  const decoded = decodeCanonicalCertificate(der);
  if (decoded.kind === "unparsable") {
    throw new CertificateError("malformed", "Certificate could not be parsed");
  }
  if (decoded.kind === "non_canonical") {
    throw new CertificateError("malformed", `Certificate refused: ${decoded.problem}`);
  }
  try {
    // Built from what was just decoded: the DER is parsed once.
    const cert = new x509.X509Certificate(decoded.asn);
    parseEveryPart(cert);
    return cert;
  } catch {
    throw new CertificateError("malformed", "Certificate could not be parsed");
  }
}

/** Touches every lazily parsed part of `cert`, so that any parse error happens now. */
function parseEveryPart(cert: x509.X509Certificate): void {
  void [
    cert.serialNumber,
    cert.subject,
    cert.issuer,
    cert.notBefore,
    cert.notAfter,
    cert.signatureAlgorithm,
    cert.signature,
    cert.publicKey.algorithm,
    cert.extensions,
  ];
}

/** Options for {@linkcode createCA}. */
export interface CreateCAOptions {
  /** Common name of the CA, shown to users; defaults to "openchat CA". */
  name?: string;
  days?: number;
  now?: Date;
}

/** Makes a self-signed CA: basicConstraints CA:true pathlen 0, keyUsage keyCertSign and cRLSign. */
export async function createCA(options: CreateCAOptions = {}): Promise<KeyedCertificate> {
  const now = options.now ?? new Date();
  const keys = await generateIdentityKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [options.name ?? "openchat CA"] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (options.days ?? CA_CERT_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return await keyed(parseCertificate(new Uint8Array(cert.rawData)), keys.privateKey);
}

/** What every leaf certificate is issued from. */
export interface Issuer {
  readonly cert: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

/** Options common to the leaf certificates. */
interface LeafOptions {
  readonly subject: string;
  readonly usage: CertificateUsage;
  readonly days: number;
  readonly now?: Date;
  readonly altNames?: x509.JsonGeneralNames;
}

/** Signs a leaf certificate for `publicKey`, whoever holds its private half. */
async function signLeaf(
  issuer: Issuer,
  publicKey: CryptoKey,
  options: LeafOptions,
): Promise<x509.X509Certificate> {
  checkDays(options.days);
  const now = options.now ?? new Date();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([EKU_OID[options.usage]], false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
  ];
  if (options.altNames) {
    extensions.push(new x509.SubjectAlternativeNameExtension(options.altNames, false));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [options.subject] }],
    issuer: issuer.cert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + options.days * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey,
    signingKey: issuer.privateKey,
    extensions,
  });
  // Read back as every reader will (complete and canonical), so that a certificate the CA could
  // not have used is never handed out or recorded: an invite spent on it would be lost.
  return parseCertificate(new Uint8Array(cert.rawData));
}

async function issueLeaf(issuer: Issuer, options: LeafOptions): Promise<KeyedCertificate> {
  checkDays(options.days);
  const keys = await generateIdentityKeyPair();
  return await keyed(await signLeaf(issuer, keys.publicKey, options), keys.privateKey);
}

/** Options for {@linkcode issueClientCertificate} and {@linkcode issueUserCertificate}. */
export interface UserCertificateOptions {
  /** The user name; becomes the certificate's CN. The caller validates it. */
  name: string;
  /**
   * URIs for the subjectAltName (openchat puts the device there, `openchat:USER/DEVICE`; see
   * `protocol/devices.ts`). None by default.
   */
  uris?: readonly string[];
  days?: number;
  now?: Date;
}

function clientLeaf(options: UserCertificateOptions): LeafOptions {
  return {
    subject: options.name,
    usage: "client",
    days: options.days ?? DEFAULT_USER_CERT_DAYS,
    now: options.now,
    altNames: options.uris?.length
      ? options.uris.map((value) => ({ type: "url" as const, value }))
      : undefined,
  };
}

/**
 * Issues a client certificate for a public key the CA never held the private half of (from a
 * certificate signing request, or a certificate being renewed): CN = name, EKU clientAuth,
 * 128-bit random serial.
 */
export async function issueClientCertificate(
  issuer: Issuer,
  publicKey: CryptoKey,
  options: UserCertificateOptions,
): Promise<{ cert: x509.X509Certificate; certPem: string }> {
  const cert = await signLeaf(issuer, publicKey, clientLeaf(options));
  return { cert, certPem: cert.toString("pem") + "\n" };
}

/**
 * Issues a user certificate with a key pair made here: the caller then holds (and has held) the
 * private key. For bots and tests; people enrol with a key made on their own device.
 */
export function issueUserCertificate(
  issuer: Issuer,
  options: UserCertificateOptions,
): Promise<KeyedCertificate> {
  return issueLeaf(issuer, clientLeaf(options));
}

/** Options for {@linkcode issueServerCertificate}. */
export interface ServerCertificateOptions {
  /** DNS names and IP addresses the server answers to. */
  hostnames: readonly string[];
  days?: number;
  now?: Date;
}

/** Issues the server's TLS certificate: EKU serverAuth, one SAN per host name or IP address. */
export function issueServerCertificate(
  issuer: Issuer,
  options: ServerCertificateOptions,
): Promise<KeyedCertificate> {
  if (options.hostnames.length === 0) throw new RangeError("A server needs at least one name");
  return issueLeaf(issuer, {
    subject: options.hostnames[0]!,
    usage: "server",
    days: options.days ?? DEFAULT_SERVER_CERT_DAYS,
    now: options.now,
    altNames: options.hostnames.map((host) => ({
      type: isIpAddress(host) ? "ip" : "dns",
      value: host,
    })),
  });
}

/**
 * The DNS names and IP addresses in a certificate's subjectAltName, as issued.
 *
 * @throws {CertificateError} `malformed` when the extension cannot be read.
 */
export function subjectAltNames(cert: x509.X509Certificate): string[] {
  return subjectAltNameItems(cert).filter((name) => name.type === "dns" || name.type === "ip")
    .map((name) => name.value);
}

/**
 * The URIs in a certificate's subjectAltName (openchat's device names live there).
 *
 * @throws {CertificateError} `malformed` when the extension cannot be read.
 */
export function subjectAltUris(cert: x509.X509Certificate): string[] {
  return subjectAltNameItems(cert).filter((name) => name.type === "url").map((name) => name.value);
}

/** Every name in a certificate's subjectAltName; a malformed extension is a `CertificateError`. */
function subjectAltNameItems(cert: x509.X509Certificate): readonly x509.GeneralName[] {
  try {
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    return san ? san.names.items : [];
  } catch {
    throw new CertificateError("malformed", "Certificate subjectAltName could not be read");
  }
}

/** A certificate that {@linkcode verifyCertificate} accepted, with what was checked about it. */
export class VerifiedCertificate {
  static readonly #token = Symbol("VerifiedCertificate");

  /** @internal Only {@linkcode verifyCertificate} can make one. */
  constructor(
    token: symbol,
    readonly cert: x509.X509Certificate,
    readonly commonName: string,
    readonly publicKey: CryptoKey,
    readonly usage: CertificateUsage,
  ) {
    if (token !== VerifiedCertificate.#token) {
      throw new TypeError("VerifiedCertificate can only be made by verifyCertificate()");
    }
  }

  /** @internal */
  static make(
    cert: x509.X509Certificate,
    commonName: string,
    publicKey: CryptoKey,
    usage: CertificateUsage,
  ): VerifiedCertificate {
    return new VerifiedCertificate(VerifiedCertificate.#token, cert, commonName, publicKey, usage);
  }

  /** The serial number as lower-case hex, as `ca list` shows it. */
  get serial(): string {
    return certificateSerial(this.cert);
  }
}

/** Options for {@linkcode verifyCertificate}. */
export interface VerifyOptions {
  /** What the certificate must be usable for. */
  usage: CertificateUsage;
  /** The clock to check validity against; defaults to now. */
  now?: Date;
  /**
   * Accept a certificate that expired at most this long ago (renewal only; never for chatting).
   * Defaults to 0.
   */
  expiredGraceMs?: number;
}

/**
 * Verifies `candidate` against `ca`, one guard at a time: structure (complete and canonical, see
 * {@linkcode parseCertificate}), issuer, CA signature, validity dates, that it is not itself a
 * CA, key usage and extended key usage, key type.
 *
 * Whatever the candidate holds, the only error is a {@linkcode CertificateError}: anything else
 * the X.509 library might still throw on a hostile certificate is reported as `malformed`.
 *
 * @returns a {@linkcode VerifiedCertificate} holding the CN and a verification key.
 * @throws {CertificateError} naming the first check that failed.
 */
export async function verifyCertificate(
  candidate: x509.X509Certificate | string | Uint8Array,
  ca: x509.X509Certificate,
  options: VerifyOptions,
): Promise<VerifiedCertificate> {
  try {
    const cert = parseCertificate(
      candidate instanceof x509.X509Certificate ? new Uint8Array(candidate.rawData) : candidate,
    );
    return await verifyParsed(cert, ca, options);
  } catch (error) {
    if (error instanceof CertificateError) throw error;
    throw new CertificateError("malformed", "Certificate could not be parsed");
  }
}

async function verifyParsed(
  cert: x509.X509Certificate,
  ca: x509.X509Certificate,
  options: VerifyOptions,
): Promise<VerifiedCertificate> {
  if (cert.issuer !== ca.subject || !authorityKeyMatches(cert, ca)) {
    throw new CertificateError("wrong_ca", "Certificate was not issued by this CA");
  }
  if (!await signedBy(cert, ca)) {
    throw new CertificateError(
      "bad_signature",
      "Certificate signature does not verify with the CA key",
    );
  }
  checkValidityPeriod(cert, options.now ?? new Date(), options.expiredGraceMs);
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca) {
    throw new CertificateError("is_ca", "A CA certificate cannot be used as a user or server");
  }
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && !(keyUsage.usages & x509.KeyUsageFlags.digitalSignature)) {
    throw new CertificateError("wrong_usage", "Certificate key usage does not allow signatures");
  }
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  if (!eku || !eku.usages.includes(EKU_OID[options.usage])) {
    throw new CertificateError(
      "wrong_usage",
      `Certificate is not issued for ${options.usage} authentication`,
    );
  }
  const commonName = singleCommonName(cert);
  const publicKey = await identityPublicKey(cert);
  return VerifiedCertificate.make(cert, commonName, publicKey, options.usage);
}

/**
 * Checks that `now` falls within the certificate's validity period, extended by
 * `expiredGraceMs` past its end.
 *
 * @throws {CertificateError} `expired` or `not_yet_valid`.
 */
export function checkValidityPeriod(
  cert: x509.X509Certificate,
  now: Date,
  expiredGraceMs = 0,
): void {
  if (now.getTime() > cert.notAfter.getTime() + expiredGraceMs) {
    throw new CertificateError("expired", `Certificate expired on ${cert.notAfter.toISOString()}`);
  }
  if (now.getTime() < cert.notBefore.getTime()) {
    throw new CertificateError(
      "not_yet_valid",
      `Certificate is not valid before ${cert.notBefore.toISOString()}`,
    );
  }
}

/** Imports a certificate's public key for ECDSA P-256 verification. */
export function identityPublicKey(cert: x509.X509Certificate): Promise<CryptoKey> {
  return p256PublicKey(cert.publicKey);
}

/**
 * Imports a SubjectPublicKeyInfo (a certificate's or a request's) as an ECDSA P-256
 * verification key; the CA certifies such a key object as it is.
 *
 * @throws {CertificateError} `bad_key` for any other kind of key.
 */
export async function p256PublicKey(publicKey: x509.PublicKey): Promise<CryptoKey> {
  let algorithm: Partial<EcKeyAlgorithm>;
  try {
    algorithm = publicKey.algorithm as Partial<EcKeyAlgorithm>;
  } catch {
    throw new CertificateError("bad_key", "Key algorithm could not be read");
  }
  if (algorithm.name !== "ECDSA" || algorithm.namedCurve !== "P-256") {
    throw new CertificateError("bad_key", "Certificate key is not ECDSA P-256");
  }
  try {
    return await publicKey.export(IDENTITY_KEY_ALGORITHM, ["verify"]);
  } catch {
    throw new CertificateError("bad_key", "Certificate key could not be imported");
  }
}

/** A certificate's serial number as lower-case hex without leading zero bytes. */
export function certificateSerial(cert: x509.X509Certificate): string {
  return cert.serialNumber.toLowerCase().replace(/^(00)+(?=.)/, "");
}

/** SHA-256 fingerprint of a certificate's DER encoding. */
export function certificateFingerprint(cert: x509.X509Certificate): Promise<string> {
  return fingerprintOf(new Uint8Array(cert.rawData));
}

/** SHA-256 fingerprint of a certificate's public key (SubjectPublicKeyInfo DER). */
export function keyFingerprint(cert: x509.X509Certificate): Promise<string> {
  return fingerprintOf(new Uint8Array(cert.publicKey.rawData));
}

/** The certificate's CN; exactly one is required. */
export function singleCommonName(cert: x509.X509Certificate): string {
  const names = cert.subjectName.getField("CN");
  if (names.length !== 1 || !names[0]) {
    throw new CertificateError("malformed", "Certificate must have exactly one common name");
  }
  return names[0];
}

/** True when `cert` and a key file hold the two halves of one key pair. */
export async function privateKeyMatches(
  cert: x509.X509Certificate,
  privateKey: CryptoKey,
): Promise<boolean> {
  const challenge = randomBytes(32);
  const signature = await crypto.subtle.sign(SIGNING_ALGORITHM, privateKey, challenge);
  return await crypto.subtle.verify(
    SIGNING_ALGORITHM,
    await identityPublicKey(cert),
    signature,
    challenge,
  );
}

/** Each CA certificate's key, imported once for verifying (a server verifies with it at every set-up). */
const caVerifyKeys = new WeakMap<x509.X509Certificate, Promise<CryptoKey | undefined>>();

function caVerifyKey(ca: x509.X509Certificate): Promise<CryptoKey | undefined> {
  let key = caVerifyKeys.get(ca);
  if (!key) {
    // Not a P-256 key: undefined, and the library imports it itself as it would without a cache.
    key = ca.publicKey.export(IDENTITY_KEY_ALGORITHM, ["verify"]).catch(() => undefined);
    caVerifyKeys.set(ca, key);
  }
  return key;
}

async function signedBy(cert: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  try {
    const key = await caVerifyKey(ca);
    return await cert.verify({ publicKey: key ?? ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

function authorityKeyMatches(cert: x509.X509Certificate, ca: x509.X509Certificate): boolean {
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  // Both present: they must agree. Either absent: the issuer name and signature decide.
  return !aki?.keyId || !ski || aki.keyId === ski.keyId;
}

async function keyed(cert: x509.X509Certificate, privateKey: CryptoKey): Promise<KeyedCertificate> {
  return {
    cert,
    certPem: cert.toString("pem") + "\n",
    privateKey,
    privateKeyPem: await exportPrivateKeyPem(privateKey),
  };
}

/**
 * A random 128-bit serial number as hex, positive and minimally encoded in DER (a leading 00
 * when the top bit is set; a zero first byte is drawn again).
 */
export function randomSerial(): string {
  for (;;) {
    const bytes = randomBytes(16);
    if (bytes[0] === 0) continue;
    return (bytes[0]! >= 0x80 ? "00" : "") + bytes.toHex();
  }
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERT_DAYS) {
    throw new RangeError(
      `Certificate lifetime must be 1 to ${MAX_CERT_DAYS} days, received ${days}`,
    );
  }
}

/** True for a textual IPv4 or IPv6 address. */
export function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ||
    (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

export type { X509Certificate } from "@peculiar/x509";
