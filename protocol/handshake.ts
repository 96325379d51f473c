/**
 * The bytes each side signs during set-up. Both proofs cover both nonces, so neither can be
 * replayed into another session; each has its own label, so one can never pass for the other;
 * the client's also covers the server certificate it checked, binding its proof to that server.
 *
 * Order: client `hello` (nonce) -> server `server_hello` (nonce, certificate, signature over
 * {@linkcode serverProofData}) -> client `auth` (certificate, signature over
 * {@linkcode clientProofData}) -> server `welcome`, or `error` and close.
 *
 * @module
 */

import { concatBytes } from "../crypto/bytes.ts";
import { sha256 } from "../crypto/kdf.ts";

/** Label of the server's signature in `server_hello`. */
export const SERVER_PROOF_LABEL = "openchat/v1 server-hello";
/** Label of the client's signature in `auth`. */
export const CLIENT_PROOF_LABEL = "openchat/v1 client-auth";
/**
 * Label of the client's signature in `renew`: the same bytes as `auth` signs, under its own
 * label, so a renewal proof can never pass for a login and the reverse.
 */
export const RENEW_PROOF_LABEL = "openchat/v1 client-renew";

/** What the server signs: the client's nonce, then its own. */
export function serverProofData(clientNonce: Uint8Array, serverNonce: Uint8Array): Uint8Array {
  return concatBytes(clientNonce, serverNonce);
}

/** SHA-256 of certificates seen before, by identity: the server hashes its own at every set-up. */
const certificateDigests = new WeakMap<Uint8Array, Promise<Uint8Array>>();

/** What the client signs: both nonces, then the SHA-256 of the server certificate's DER. */
export async function clientProofData(
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
  serverCertDer: Uint8Array,
): Promise<Uint8Array> {
  let digest = certificateDigests.get(serverCertDer);
  if (!digest) {
    digest = sha256(serverCertDer);
    certificateDigests.set(serverCertDer, digest);
  }
  return concatBytes(clientNonce, serverNonce, await digest);
}
