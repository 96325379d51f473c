/**
 * The server's side of session set-up, as explicit states: waiting for `hello`, then for
 * `auth`, then done. Each step consumes the state it needs and leaves the next; anything
 * unexpected is a {@linkcode ProtocolError} naming what was expected. The only way out with a
 * user is a {@linkcode VerifiedClient}, which only {@linkcode ServerSetup} can make.
 *
 * @module
 */

import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { decodeB64Field } from "../protocol/fields.ts";
import { signLabelled, verifyLabelled } from "../crypto/sign.ts";
import {
  CertificateError,
  type CertificateProblem,
  type VerifiedCertificate,
  verifyCertificate,
  type X509Certificate,
} from "../crypto/x509.ts";
import { type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import {
  CLIENT_PROOF_LABEL,
  clientProofData,
  SERVER_PROOF_LABEL,
  serverProofData,
} from "../protocol/handshake.ts";
import {
  type ClientMessage,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../protocol/messages.ts";
import { userNameProblem } from "../protocol/names.ts";
import type { ServerIdentity } from "./server_identity.ts";

/** What set-up needs from the server. */
export interface SetupContext {
  readonly caCert: X509Certificate;
  readonly identity: ServerIdentity;
  /** True when the CA has revoked the certificate with this serial. */
  isRevoked(serial: string): boolean;
  /** Verifies a client certificate; the server may cache results (see `cert_cache.ts`). */
  verifyClientCertificate?(der: Uint8Array, now: Date): Promise<VerifiedCertificate>;
}

/** A client that proved who it is. Only {@linkcode ServerSetup} makes these. */
export class VerifiedClient {
  static #token = Symbol("VerifiedClient");

  /** @internal */
  constructor(
    token: symbol,
    /** The user name: the certificate's CN, never a value the client claimed. */
    readonly user: string,
    /** The certificate's serial, for revocation. */
    readonly serial: string,
  ) {
    if (token !== VerifiedClient.#token) {
      throw new TypeError("Only ServerSetup makes VerifiedClient");
    }
  }

  /** @internal */
  static make(user: string, serial: string): VerifiedClient {
    return new VerifiedClient(VerifiedClient.#token, user, serial);
  }
}

/** What one set-up step produced. */
export interface SetupStep {
  reply?: ServerMessage;
  verified?: VerifiedClient;
}

type SetupState =
  | { step: "await_hello" }
  | { step: "await_auth"; clientNonce: Uint8Array; serverNonce: Uint8Array }
  | { step: "done" };

const CERTIFICATE_CODES: Record<CertificateProblem, ErrorCode> = {
  malformed: "bad_certificate",
  bad_signature: "bad_certificate",
  bad_key: "bad_certificate",
  wrong_ca: "wrong_ca",
  expired: "expired",
  not_yet_valid: "not_yet_valid",
  wrong_usage: "wrong_usage",
  is_ca: "wrong_usage",
};

/** One connection's set-up. */
export class ServerSetup {
  #state: SetupState = { step: "await_hello" };

  constructor(private readonly context: SetupContext) {}

  /**
   * Handles one client message during set-up.
   *
   * @throws {ProtocolError} naming the reason set-up is refused.
   */
  async handle(message: ClientMessage, now = new Date()): Promise<SetupStep> {
    const state = this.#state;
    switch (state.step) {
      case "await_hello":
        if (message.type !== "hello") throw expected("hello", message.type);
        return await this.#hello(message.version, message.nonce);
      case "await_auth":
        if (message.type !== "auth") throw expected("auth", message.type);
        return await this.#auth(state.clientNonce, state.serverNonce, message, now);
      case "done":
        throw new ProtocolError("unexpected", "Set-up is already complete");
    }
  }

  async #hello(version: number, nonce: string): Promise<SetupStep> {
    if (version !== PROTOCOL_VERSION) {
      throw new ProtocolError(
        "unsupported_version",
        `This server speaks protocol version ${PROTOCOL_VERSION}, not ${version}`,
      );
    }
    const clientNonce = decodeB64Field(nonce, "nonce");
    const serverNonce = randomBytes(NONCE_BYTES);
    const { identity } = this.context;
    const signature = await signLabelled(
      identity.privateKey,
      SERVER_PROOF_LABEL,
      serverProofData(clientNonce, serverNonce),
    );
    this.#state = { step: "await_auth", clientNonce, serverNonce };
    return {
      reply: {
        type: "server_hello",
        version: PROTOCOL_VERSION,
        nonce: toBase64Url(serverNonce, false),
        cert: toBase64Url(identity.certDer, false),
        signature: toBase64Url(signature, false),
      },
    };
  }

  async #auth(
    clientNonce: Uint8Array,
    serverNonce: Uint8Array,
    message: Extract<ClientMessage, { type: "auth" }>,
    now: Date,
  ): Promise<SetupStep> {
    this.#state = { step: "done" };
    const der = decodeB64Field(message.cert, "cert");
    let verified: VerifiedCertificate;
    try {
      verified = this.context.verifyClientCertificate
        ? await this.context.verifyClientCertificate(der, now)
        : await verifyCertificate(der, this.context.caCert, { usage: "client", now });
    } catch (error) {
      if (error instanceof CertificateError) {
        throw new ProtocolError(CERTIFICATE_CODES[error.code], error.message);
      }
      throw error;
    }
    if (userNameProblem(verified.commonName) !== undefined) {
      throw new ProtocolError(
        "bad_name",
        `Certificate name ${
          JSON.stringify(verified.commonName.slice(0, 40))
        } is not a valid user name`,
      );
    }
    const proof = await clientProofData(clientNonce, serverNonce, this.context.identity.certDer);
    const signature = decodeB64Field(message.signature, "signature");
    if (!await verifyLabelled(verified.publicKey, CLIENT_PROOF_LABEL, proof, signature)) {
      throw new ProtocolError("bad_signature");
    }
    // Checked last, so only the key's holder learns that the certificate is revoked.
    if (this.context.isRevoked(verified.serial)) throw new ProtocolError("revoked");
    return { verified: VerifiedClient.make(verified.commonName, verified.serial) };
  }
}

function expected(wanted: string, got: string): ProtocolError {
  return new ProtocolError(
    "unexpected",
    `Expected a "${wanted}" frame during set-up, received "${got}"`,
  );
}
