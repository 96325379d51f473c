/**
 * The server's side of session set-up, as explicit states: waiting for `hello`, then for one
 * of `auth` (a login), `enroll` (redeem an invite) or `renew` (a new certificate for the same
 * key), then done. Each step consumes the state it needs and leaves the next; anything
 * unexpected is a {@linkcode ProtocolError} naming what was expected. The only way out with a
 * user is a {@linkcode VerifiedClient}, which only {@linkcode ServerSetup} can make; `enroll`
 * and `renew` end with a certificate and a closed connection, never a session.
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
import { type ClientCertificate, clientCertificateOf } from "./client_certificates.ts";
import { type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import {
  CLIENT_PROOF_LABEL,
  clientProofData,
  RENEW_PROOF_LABEL,
  SERVER_PROOF_LABEL,
  serverProofData,
} from "../protocol/handshake.ts";
import {
  type ClientMessage,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../protocol/messages.ts";
import type { ServerIdentity } from "./server_identity.ts";
import { RENEWAL_GRACE_MS } from "./authority.ts";

/** What the CA records about a certificate (matched by serial and fingerprint together). */
export type RecordStatus = "issued" | "revoked" | "unknown";

/** Enrolment and renewal, as the CA does them (`registrar.ts`); refusals are `ProtocolError`s. */
/** What an enrolment produced. */
export interface Enrolment {
  /** The certificate, DER. */
  readonly der: Uint8Array;
  readonly user: string;
  readonly device: string;
  /** The device of the same user that asked for the invite, if one did. */
  readonly invitedBy: string | null;
}

/** What set-up needs to enrol and renew devices. */
export interface SetupRegistrar {
  /**
   * Redeems the invite with `secret` for the request `csr`, keeping `linkRequest` (opaque) for
   * the device that asked for the invite.
   */
  enroll(
    secret: Uint8Array,
    csr: Uint8Array,
    now: Date,
    linkRequest?: string,
  ): Promise<Enrolment>;
  /** Issues a new certificate for the key of the verified `cert`; returns its DER. */
  renew(cert: X509Certificate, user: string, device: string, now: Date): Promise<Uint8Array>;
}

/** What set-up needs from the server. */
export interface SetupContext {
  readonly caCert: X509Certificate;
  readonly identity: ServerIdentity;
  /** Whether the CA records the certificate with this serial and SHA-256 fingerprint. */
  certificateStatus(serial: string, fingerprint: string): RecordStatus;
  /**
   * Verifies a client certificate for a login; the server remembers results
   * (`client_certificates.ts`). Without it, every login verifies from scratch.
   */
  verifyClientCertificate?(der: Uint8Array, now: Date): Promise<ClientCertificate>;
  /** Enrolment and renewal; without it, `enroll` and `renew` are refused as unexpected. */
  readonly registrar?: SetupRegistrar;
}

/** A client that proved who it is. Only {@linkcode ServerSetup} makes these. */
export class VerifiedClient {
  static #token = Symbol("VerifiedClient");

  /** @internal */
  constructor(
    token: symbol,
    /** The user name: the certificate's CN, never a value the client claimed. */
    readonly user: string,
    /** The device label: the certificate's `openchat:USER/DEVICE` URI. */
    readonly device: string,
    /** The certificate's serial, for revocation. */
    readonly serial: string,
  ) {
    if (token !== VerifiedClient.#token) {
      throw new TypeError("Only ServerSetup makes VerifiedClient");
    }
  }

  /** @internal */
  static make(user: string, device: string, serial: string): VerifiedClient {
    return new VerifiedClient(VerifiedClient.#token, user, device, serial);
  }
}

/** What one set-up step produced. */
export interface SetupStep {
  reply?: ServerMessage;
  verified?: VerifiedClient;
  /** Set when the exchange is over (enrolled or renewed): close after the reply. */
  close?: boolean;
  /** Set by an enrolment: who enrolled, and which device asked for the invite. */
  enrolled?: Enrolment;
}

type SetupState =
  | { step: "await_hello" }
  | { step: "await_proof"; clientNonce: Uint8Array; serverNonce: Uint8Array }
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
        return await this.#hello(message.version, message.nonce, message.ca === true);
      case "await_proof":
        this.#state = { step: "done" };
        switch (message.type) {
          case "auth":
            return await this.#auth(state.clientNonce, state.serverNonce, message, now);
          case "renew":
            return await this.#renew(state.clientNonce, state.serverNonce, message, now);
          case "enroll":
            return await this.#enroll(message, now);
          default:
            throw expected("auth", message.type);
        }
      case "done":
        throw new ProtocolError("unexpected", "Set-up is already complete");
    }
  }

  async #hello(version: number, nonce: string, withCa: boolean): Promise<SetupStep> {
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
    this.#state = { step: "await_proof", clientNonce, serverNonce };
    return {
      reply: {
        type: "server_hello",
        version: PROTOCOL_VERSION,
        nonce: toBase64Url(serverNonce, false),
        cert: toBase64Url(identity.certDer, false),
        signature: toBase64Url(signature, false),
        ...(withCa ? { ca: toBase64Url(new Uint8Array(this.context.caCert.rawData), false) } : {}),
      },
    };
  }

  async #auth(
    clientNonce: Uint8Array,
    serverNonce: Uint8Array,
    message: Extract<ClientMessage, { type: "auth" }>,
    now: Date,
  ): Promise<SetupStep> {
    const { client } = await this.#prove(
      clientNonce,
      serverNonce,
      message,
      CLIENT_PROOF_LABEL,
      now,
      0,
    );
    // Checked last, so only the key's holder learns that the certificate is revoked or unknown.
    const status = this.context.certificateStatus(client.serial, client.fingerprint);
    if (status === "revoked") throw new ProtocolError("revoked");
    if (status === "unknown") throw new ProtocolError("unknown_certificate");
    return { verified: VerifiedClient.make(client.commonName, client.device, client.serial) };
  }

  async #renew(
    clientNonce: Uint8Array,
    serverNonce: Uint8Array,
    message: Extract<ClientMessage, { type: "renew" }>,
    now: Date,
  ): Promise<SetupStep> {
    const registrar = this.#registrar("renew");
    const { client, verified } = await this.#prove(
      clientNonce,
      serverNonce,
      message,
      RENEW_PROOF_LABEL,
      now,
      RENEWAL_GRACE_MS,
    );
    const der = await registrar.renew(verified!.cert, client.commonName, client.device, now);
    return { reply: { type: "renewed", cert: toBase64Url(der, false) }, close: true };
  }

  async #enroll(
    message: Extract<ClientMessage, { type: "enroll" }>,
    now: Date,
  ): Promise<SetupStep> {
    const registrar = this.#registrar("enroll");
    const secret = decodeB64Field(message.secret, "secret");
    const csr = decodeB64Field(message.csr, "csr");
    const enrolled = await registrar.enroll(secret, csr, now, message.link_request);
    return {
      reply: { type: "enrolled", cert: toBase64Url(enrolled.der, false) },
      close: true,
      enrolled,
    };
  }

  #registrar(what: string): SetupRegistrar {
    if (!this.context.registrar) {
      throw new ProtocolError("unexpected", `This server does not accept "${what}"`);
    }
    return this.context.registrar;
  }

  /**
   * The checks `auth` and `renew` share, in order: the certificate (chain, dates, usage), its
   * name, its device, then the signature over both nonces and the server certificate. A login
   * goes through the server's memory of certificates (`verifyClientCertificate`); a renewal,
   * which may accept an expired one, always verifies from scratch and returns it too.
   */
  async #prove(
    clientNonce: Uint8Array,
    serverNonce: Uint8Array,
    message: { cert: string; signature: string },
    label: string,
    now: Date,
    expiredGraceMs: number,
  ): Promise<{ client: ClientCertificate; verified?: VerifiedCertificate }> {
    const der = decodeB64Field(message.cert, "cert");
    let client: ClientCertificate;
    let verified: VerifiedCertificate | undefined;
    try {
      if (expiredGraceMs === 0 && this.context.verifyClientCertificate) {
        client = await this.context.verifyClientCertificate(der, now);
      } else {
        verified = await verifyCertificate(der, this.context.caCert, {
          usage: "client",
          now,
          expiredGraceMs,
        });
        client = await clientCertificateOf(verified);
      }
    } catch (error) {
      if (error instanceof CertificateError) {
        throw new ProtocolError(CERTIFICATE_CODES[error.code], error.message);
      }
      throw error;
    }
    const proof = await clientProofData(clientNonce, serverNonce, this.context.identity.certDer);
    const signature = decodeB64Field(message.signature, "signature");
    if (!await verifyLabelled(client.publicKey, label, proof, signature)) {
      throw new ProtocolError("bad_signature");
    }
    return { client, verified };
  }
}

function expected(wanted: string, got: string): ProtocolError {
  return new ProtocolError(
    "unexpected",
    wanted === "auth"
      ? `Expected "auth", "enroll" or "renew" during set-up, received "${got}"`
      : `Expected a "${wanted}" frame during set-up, received "${got}"`,
  );
}
