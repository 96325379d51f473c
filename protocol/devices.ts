/**
 * The device in a user certificate. A user has devices, each with its own key and certificate;
 * the certificate names the user in its CN and the device in exactly one subjectAltName URI,
 * `openchat:USER/DEVICE`. Device labels follow the user-name rule. The server and every client
 * read the device from a verified certificate with {@linkcode deviceOf}, never from a claim.
 *
 * @module
 */

import { CertificateError, singleCommonName, subjectAltUris } from "../crypto/x509.ts";
import type { X509Certificate } from "../crypto/x509.ts";
import { isValidUserName, userNameProblem } from "./names.ts";

/** Scheme of the device URI in a certificate's subjectAltName. */
export const DEVICE_URI_SCHEME = "openchat:";
/** The device label used when none is given (`ca invite alice`, `ca issue bot`). */
export const DEFAULT_DEVICE = "main";

/** True when `label` is a valid device label (the user-name rule). */
export function isValidDeviceLabel(label: unknown): label is string {
  return isValidUserName(label);
}

/** Explains why `label` is not a valid device label, or returns undefined when it is. */
export function deviceLabelProblem(label: string): string | undefined {
  return userNameProblem(label);
}

/** The subjectAltName URI naming `device` of `user`. */
export function deviceUri(user: string, device: string): string {
  return `${DEVICE_URI_SCHEME}${user}/${device}`;
}

/**
 * The device label a certificate names: exactly one `openchat:USER/DEVICE` URI, whose user is
 * the certificate's CN and whose labels are valid.
 *
 * @throws {CertificateError} `malformed`, saying what is wrong.
 */
export function deviceOf(cert: X509Certificate): string {
  const user = singleCommonName(cert);
  const uris = subjectAltUris(cert).filter((uri) => uri.startsWith(DEVICE_URI_SCHEME));
  if (uris.length !== 1) {
    throw new CertificateError(
      "malformed",
      `Certificate must name exactly one device (a subjectAltName URI ${DEVICE_URI_SCHEME}USER/DEVICE), found ${uris.length}`,
    );
  }
  const match = uris[0]!.slice(DEVICE_URI_SCHEME.length).match(/^([^/]*)\/([^/]*)$/);
  if (!match || match[1] !== user || !isValidDeviceLabel(match[2])) {
    throw new CertificateError(
      "malformed",
      `Certificate device URI ${
        JSON.stringify(uris[0]!.slice(0, 80))
      } must be ${DEVICE_URI_SCHEME}${user}/DEVICE with a valid device label`,
    );
  }
  return match[2]!;
}

/** A `USER/DEVICE` reference, as `ca revoke alice/phone` takes it. */
export interface DeviceRef {
  user: string;
  device?: string;
}

/** Splits `alice` or `alice/phone`; undefined when either part is not a valid name. */
export function parseDeviceRef(text: string): DeviceRef | undefined {
  const [user, device, ...rest] = text.split("/");
  if (rest.length > 0 || !isValidUserName(user)) return undefined;
  if (device === undefined) return { user };
  return isValidDeviceLabel(device) ? { user, device } : undefined;
}
