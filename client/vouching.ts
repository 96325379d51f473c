/**
 * This device vouching for a device it invited: the server hands over the new device's
 * certificate and its link request; the request must prove the holder of the invite made that
 * key (only then does this device sign), so a key the server swapped in is never vouched for.
 *
 * @module
 */

import { fromBase64Url } from "../crypto/bytes.ts";
import type { CertificateCache } from "../crypto/certificate_cache.ts";
import { sha256 } from "../crypto/kdf.ts";
import { deviceOf } from "../protocol/devices.ts";
import type { LinkRequestInfo } from "../protocol/messages.ts";
import { checkLinkRequest, signDeviceLink } from "./e2e/device_link.ts";
import type { Identity } from "./identity.ts";
import type { VouchStore } from "./vouches.ts";

/** What answering one request came to. */
export type VouchAnswer =
  | { readonly kind: "link"; readonly device: string; readonly link: string }
  | { readonly kind: "unknown"; readonly device: string }
  | { readonly kind: "refused"; readonly device: string; readonly reason: string };

/**
 * Checks one link request and, when it holds, signs the link that vouches for its key.
 *
 * @returns `unknown` when this device kept no secret for that device (another device, or
 *   another config directory, asked for its invite), `refused` when the request does not prove
 *   the key, else the link to send.
 */
export async function answerLinkRequest(
  request: LinkRequestInfo,
  identity: Identity,
  vouches: VouchStore,
  certificates: CertificateCache,
  now: Date,
): Promise<VouchAnswer> {
  const secret = vouches.invited(request.device);
  if (!secret) return { kind: "unknown", device: request.device };
  let keyDigest: Uint8Array;
  try {
    const verified = await certificates.verify(fromBase64Url(request.cert, false), now);
    if (verified.commonName !== identity.user || deviceOf(verified.cert) !== request.device) {
      throw new Error("it names someone else");
    }
    keyDigest = await sha256(new Uint8Array(verified.cert.publicKey.rawData));
    const proven = await checkLinkRequest(
      request.request,
      secret,
      identity.user,
      request.device,
      keyDigest,
    );
    if (!proven) throw new Error("its link request does not prove it holds your invite");
  } catch (error) {
    return {
      kind: "refused",
      device: request.device,
      reason: `The server offered a key for ${identity.user}/${request.device} that ${
        (error as Error).message
      }; it was not vouched for`,
    };
  }
  const link = await signDeviceLink({
    user: identity.user,
    device: request.device,
    keyDigest,
    secret,
    signerCertDer: identity.certDer,
    signerKeyDigest: await sha256(new Uint8Array(identity.cert.publicKey.rawData)),
    signerKey: identity.privateKey,
    ts: now.getTime(),
  });
  return { kind: "link", device: request.device, link };
}
