/**
 * Devices vouching for devices. When a user adds a device from one they already have
 * (`/device add LABEL`), the old device signs a **link** over the new device's key with its own
 * certificate key; peers that accept the old device then accept the new one without a prompt.
 * A device nobody vouched for (one the CA's operator minted, say) stays not accepted.
 *
 * The old device must know that the key it signs is the one the invitee made, not one the
 * server swapped in. So the invite shown to the user carries a secret `v` the server never
 * sees; the enrolling device proves it holds the token with a **link request**:
 *
 *     request = HMAC-SHA256(v, "openchat/v2 link-request" 0x00 user 0x00 device 0x00 keyDigest)
 *
 * which the server stores opaquely and hands to the inviting device, which checks it before it
 * signs:
 *
 *     link    = 1.<ts>.<device>.<keyDigest>.<signerCert>.<proof>.<signature>
 *     proof   = HMAC-SHA256(v, "openchat/v2 link-proof" 0x00 user 0x00 device 0x00 keyDigest
 *                              signerKeyDigest)
 *     signed  = "openchat/v2 device-link" 0x00 user 0x00 device 0x00 keyDigest(32) u64(ts)
 *               proof(32)
 *
 * (`keyDigest` is SHA-256 of the new device's SubjectPublicKeyInfo; byte fields unpadded
 * base64url; `signerCert` the vouching device's certificate, DER.) Peers check the signature;
 * the new device itself, which kept `v`, also checks the proof, and so accepts the device that
 * invited it (the server, without `v`, cannot make a link that passes).
 *
 * @module
 */

import { bytesEqual, concatBytes, toBase64Url, uint64be, utf8 } from "../../crypto/bytes.ts";
import { formatFingerprint } from "../../crypto/fingerprint.ts";
import { hmacSha256, importHmacKey, sha256 } from "../../crypto/kdf.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { isValidUserName } from "../../protocol/names.ts";
import type { CertificateVerifier, DeviceReader } from "./announcement.ts";
import { bytesField, decimalField, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";
import type { VouchingLink } from "./trust.ts";

/** Label of link signatures. */
export const DEVICE_LINK_LABEL = "openchat/v2 device-link";
/** Label of link requests. */
export const LINK_REQUEST_LABEL = "openchat/v2 link-request";
/** Label of the proof inside a link that its signer held the invite's vouching secret. */
export const LINK_PROOF_LABEL = "openchat/v2 link-proof";
export { VOUCH_SECRET_BYTES } from "../../protocol/invite_token.ts";

function named(user: string, device: string, keyDigest: Uint8Array): Uint8Array {
  return concatBytes(utf8(user), Uint8Array.of(0), utf8(device), Uint8Array.of(0), keyDigest);
}

async function mac(secret: Uint8Array, label: string, data: Uint8Array): Promise<Uint8Array> {
  return await hmacSha256(
    await importHmacKey(secret),
    concatBytes(utf8(label), Uint8Array.of(0), data),
  );
}

/** The request an enrolling device sends with its certificate request (opaque to the server). */
export async function linkRequest(
  secret: Uint8Array,
  user: string,
  device: string,
  keyDigest: Uint8Array,
): Promise<string> {
  return toBase64Url(
    await mac(secret, LINK_REQUEST_LABEL, named(user, device, keyDigest)),
    false,
  );
}

/** True when `request` proves the holder of `secret` enrolled `device` with the key `keyDigest`. */
export async function checkLinkRequest(
  request: string,
  secret: Uint8Array,
  user: string,
  device: string,
  keyDigest: Uint8Array,
): Promise<boolean> {
  const expected = await linkRequest(secret, user, device, keyDigest);
  return request.length === expected.length && bytesEqual(utf8(request), utf8(expected));
}

/**
 * Signs a link by which this device (`signerCertDer`, `signerKey`) vouches for `device`'s key,
 * with the proof that it holds the invite's vouching `secret`.
 */
export async function signDeviceLink(options: {
  user: string;
  device: string;
  keyDigest: Uint8Array;
  secret: Uint8Array;
  signerCertDer: Uint8Array;
  signerKeyDigest: Uint8Array;
  signerKey: CryptoKey;
  ts: number;
}): Promise<string> {
  const named_ = named(options.user, options.device, options.keyDigest);
  const proof = await mac(
    options.secret,
    LINK_PROOF_LABEL,
    concatBytes(named_, options.signerKeyDigest),
  );
  const signature = await signLabelled(
    options.signerKey,
    DEVICE_LINK_LABEL,
    concatBytes(named_, uint64be(options.ts), proof),
  );
  return [
    "1",
    String(options.ts),
    options.device,
    toBase64Url(options.keyDigest, false),
    toBase64Url(options.signerCertDer, false),
    toBase64Url(proof, false),
    toBase64Url(signature, false),
  ].join(".");
}

/** A link that verified, with what its proof needs checking against. */
export interface VerifiedLink extends VouchingLink {
  /** The proof that the signer held the vouching secret (only the new device can check it). */
  readonly proof: Uint8Array;
  readonly keyDigest: Uint8Array;
  readonly signerKeyDigest: Uint8Array;
}

/**
 * True when `link`'s proof shows its signer held `secret`: for the device the link names, which
 * kept the secret from its invite, this makes the signer the device that invited it.
 */
export async function checkLinkProof(
  link: VerifiedLink,
  user: string,
  secret: Uint8Array,
): Promise<boolean> {
  const expected = await mac(
    secret,
    LINK_PROOF_LABEL,
    concatBytes(named(user, link.device, link.keyDigest), link.signerKeyDigest),
  );
  return bytesEqual(expected, link.proof);
}

/**
 * Verifies a link for one of `user`'s devices: the signer's certificate chains to our CA and
 * names `user`, and its key signed the named device and key.
 *
 * @returns who vouched for which key; whether the signer is accepted is the caller's to decide.
 * @throws {E2EError} `bad_payload` or `bad_signature`.
 */
export async function verifyDeviceLink(
  link: string,
  user: string,
  verifyCert: CertificateVerifier,
  deviceOf: DeviceReader,
  now = new Date(),
): Promise<VerifiedLink> {
  const from = `${user}'s device link`;
  const [format, tsText, device, digestText, certText, proofText, signatureText] = splitFields(
    link,
    7,
    "device link",
    from,
  );
  if (format !== "1" || !isValidUserName(device)) {
    throw new E2EError("bad_payload", `Malformed device link for ${user}`);
  }
  const ts = decimalField(tsText!, Number.MAX_SAFE_INTEGER, "device link", from);
  const keyDigest = bytesField(digestText!, "device link", from, 32);
  const certDer = bytesField(certText!, "device link", from);
  const proof = bytesField(proofText!, "device link", from, 32);
  const signature = bytesField(signatureText!, "device link", from);
  let signer;
  let signerDevice: string;
  try {
    signer = await verifyCert(certDer, now);
    signerDevice = deviceOf(signer.cert);
  } catch {
    throw new E2EError(
      "bad_signature",
      `A device link for ${user} was signed by a refused certificate`,
    );
  }
  const ok = signer.commonName === user && signerDevice !== device && await verifyLabelled(
    signer.publicKey,
    DEVICE_LINK_LABEL,
    concatBytes(named(user, device!, keyDigest), uint64be(ts), proof),
    signature,
  );
  if (!ok) throw new E2EError("bad_signature", `A device link for ${user} does not verify`);
  const signerKeyDigest = await sha256(new Uint8Array(signer.cert.publicKey.rawData));
  return {
    signerDevice,
    signerFingerprint: formatFingerprint(signerKeyDigest),
    fingerprint: formatFingerprint(keyDigest),
    device: device!,
    proof,
    keyDigest,
    signerKeyDigest,
  };
}
