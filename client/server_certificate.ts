/**
 * The client's check of the certificate a server presents in `server_hello`: it must be a server
 * certificate of the client's own CA (complete, canonical, signed, in date, for serverAuth) and
 * name the host that was dialled. Whatever the bytes, the outcome is a key or a `SetupError`.
 *
 * @module
 */

import {
  CertificateError,
  subjectAltNames,
  verifyCertificate,
  type X509Certificate,
} from "../crypto/x509.ts";
import { SetupError } from "./setup_error.ts";

/**
 * Verifies the server certificate `der` against `caCert` for `host`.
 *
 * @returns the server's verification key.
 * @throws {SetupError} `server_certificate` when the certificate is refused, `wrong_server` when
 *   it does not name `host`.
 */
export async function checkServerCertificate(
  der: Uint8Array,
  caCert: X509Certificate,
  host: string,
  now = new Date(),
): Promise<CryptoKey> {
  try {
    const verified = await verifyCertificate(der, caCert, { usage: "server", now });
    const names = subjectAltNames(verified.cert).map((name) => name.toLowerCase());
    if (!names.includes(host.toLowerCase())) {
      throw new SetupError(
        "wrong_server",
        `The server's certificate does not name ${host} (it names ${names.join(", ")})`,
      );
    }
    return verified.publicKey;
  } catch (error) {
    if (error instanceof CertificateError) {
      throw new SetupError(
        "server_certificate",
        `The server's certificate was refused: ${error.message}`,
      );
    }
    throw error;
  }
}
