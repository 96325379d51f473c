/**
 * The client's link to a server: TLS trusting only what the identity file's CA signed (on top
 * of the runtime's public roots, which Deno always adds, hence the in-band proof), then the
 * set-up of docs/PROTOCOL.md in both directions. A link exists only after the server proved
 * its identity and accepted ours.
 *
 * The same set-up also carries the two short exchanges that end with a certificate instead of a
 * session: `renew` (a new certificate for the identity's key) and, for a device that has no
 * certificate yet, `enroll` (see `enrolment.ts` for why that one runs over `node:tls`).
 *
 * @module
 */

import { bytesEqual, randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { signLabelled, verifyLabelled } from "../crypto/sign.ts";
import type { X509Certificate } from "../crypto/x509.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { decodeB64Field } from "../protocol/fields.ts";
import {
  CLIENT_PROOF_LABEL,
  clientProofData,
  RENEW_PROOF_LABEL,
  SERVER_PROOF_LABEL,
  serverProofData,
} from "../protocol/handshake.ts";
import {
  type ClientMessage,
  decodeServerMessage,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../protocol/messages.ts";
import { type ByteStream, type CloseCause, FramedConnection } from "../protocol/transport.ts";
import type { Identity } from "./identity.ts";
import { connectNodeTls } from "./node_tls_stream.ts";
import { checkServerCertificate } from "./server_certificate.ts";
import { SetupError } from "./setup_error.ts";

/** Time allowed for TLS and the whole set-up. */
export const CLIENT_SETUP_TIMEOUT_MS = 15_000;

export { SetupError } from "./setup_error.ts";

/** The server accepted us. */
export type Welcome = Extract<ServerMessage, { type: "welcome" }>;

/** Where to connect. */
export interface Endpoint {
  host: string;
  port: number;
}

/** Parses `HOST:PORT` (IPv6 in brackets). */
export function parseEndpoint(text: string): Endpoint {
  const match = text.match(/^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new TypeError(
      `Expected HOST:PORT (e.g. localhost:7443 or [::1]:7443), received ${JSON.stringify(text)}`,
    );
  }
  return { host: (match[1] ?? match[2])!, port };
}

type Waiter = (message: ServerMessage | CloseCause) => void;

/** What the server proved in `server_hello`, before the client sent anything of its own. */
interface ServerProof {
  readonly clientNonce: Uint8Array;
  readonly serverNonce: Uint8Array;
  readonly serverCertDer: Uint8Array;
  /** The CA certificate DER, when asked for. */
  readonly ca?: Uint8Array;
}

/** How to check the server in `server_hello`. */
interface HelloOptions {
  /** The CA the server certificate must chain to; omitted only to fetch the CA itself. */
  readonly ca?: X509Certificate;
  /** Ask for the CA certificate in `server_hello`. */
  readonly withCa?: boolean;
  /** The certificate the server presented in TLS, which must be the one it proves in-band. */
  readonly tlsCertificate?: Uint8Array;
}

/** An authenticated connection to a server. */
export class ServerLink {
  readonly #conn: FramedConnection;
  readonly #backlog: ServerMessage[] = [];
  #waiter: Waiter | undefined;
  #handler: ((message: ServerMessage) => void) | undefined;
  readonly ended: Promise<CloseCause>;

  private constructor(conn: FramedConnection) {
    this.#conn = conn;
    this.ended = conn.run((body) => this.#dispatch(decodeServerMessage(body))).then((cause) => {
      this.#conn.close();
      this.#waiter?.(cause);
      return cause;
    });
  }

  /**
   * Connects to `endpoint` and runs set-up as `identity`.
   *
   * @throws {SetupError} naming what failed: TLS, the server's proof, or the server's refusal.
   */
  static async open(
    endpoint: Endpoint,
    identity: Identity,
  ): Promise<{ link: ServerLink; welcome: Welcome }> {
    const link = new ServerLink(new FramedConnection(await denoTls(endpoint, identity.caPem)));
    const welcome = await link.#run(async () => {
      const proof = await link.#hello(endpoint, { ca: identity.caCert });
      return await link.#auth(proof, identity);
    });
    return { link, welcome };
  }

  /**
   * Renews `identity`'s certificate: a short connection that proves the key (under its own
   * label) and receives a new certificate for the same key; no session is made.
   *
   * @returns the new certificate's DER, not yet checked (see `renewal.ts`).
   * @throws {SetupError} naming what failed, or the server's refusal (`revoked`, `expired`...).
   */
  static async renew(endpoint: Endpoint, identity: Identity): Promise<Uint8Array> {
    const link = new ServerLink(new FramedConnection(await denoTls(endpoint, identity.caPem)));
    try {
      return await link.#run(async () => {
        const proof = await link.#hello(endpoint, { ca: identity.caCert });
        const signature = await signLabelled(
          identity.privateKey,
          RENEW_PROOF_LABEL,
          await clientProofData(proof.clientNonce, proof.serverNonce, proof.serverCertDer),
        );
        link.send({
          type: "renew",
          cert: toBase64Url(identity.certDer, false),
          signature: toBase64Url(signature, false),
        });
        const reply = await link.#next();
        if (reply.type !== "renewed") {
          throw new SetupError("unexpected", `Expected renewed, received ${reply.type}`);
        }
        return decodeB64Field(reply.cert, "cert");
      });
    } finally {
      link.close();
    }
  }

  /**
   * Asks the server at `endpoint` for its CA certificate over TLS that checks nothing: what
   * comes back is trusted only if its SHA-256 is the fingerprint the caller already holds (from
   * an invite). Nothing secret is sent on this connection.
   *
   * @returns the CA certificate DER as the server sent it.
   */
  static async fetchCa(endpoint: Endpoint): Promise<Uint8Array> {
    const { stream } = await nodeTls(endpoint, undefined);
    const link = new ServerLink(new FramedConnection(stream));
    try {
      return await link.#run(async () => {
        const proof = await link.#hello(endpoint, { withCa: true });
        if (!proof.ca) throw new SetupError("unexpected", "The server sent no CA certificate");
        return proof.ca;
      });
    } finally {
      link.close();
    }
  }

  /**
   * Redeems an invite: connects trusting only `ca` (and insisting that the certificate the
   * server presents in TLS is the one it proves holding in-band), and only then sends the
   * invite's secret with the certificate signing request.
   *
   * @returns the issued certificate's DER, not yet checked (see `enrolment.ts`).
   * @throws {SetupError} naming what failed, or the server's refusal (`invalid_invite`...).
   */
  static async enroll(
    endpoint: Endpoint,
    ca: { cert: X509Certificate; pem: string },
    secret: Uint8Array,
    csr: Uint8Array,
    linkRequest?: string,
  ): Promise<Uint8Array> {
    const { stream, peerCertificate } = await nodeTls(endpoint, ca.pem);
    const link = new ServerLink(new FramedConnection(stream));
    try {
      return await link.#run(async () => {
        await link.#hello(endpoint, {
          ca: ca.cert,
          tlsCertificate: peerCertificate ?? new Uint8Array(0),
        });
        link.send({
          type: "enroll",
          secret: toBase64Url(secret, false),
          csr: toBase64Url(csr, false),
          ...(linkRequest ? { link_request: linkRequest } : {}),
        });
        const reply = await link.#next();
        if (reply.type !== "enrolled") {
          throw new SetupError("unexpected", `Expected enrolled, received ${reply.type}`);
        }
        return decodeB64Field(reply.cert, "cert");
      });
    } finally {
      link.close();
    }
  }

  /** Runs a set-up exchange within the time limit, closing the link if it fails. */
  async #run<T>(exchange: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(exchange(), CLIENT_SETUP_TIMEOUT_MS, "set-up");
    } catch (error) {
      this.close();
      if (error instanceof SetupError) throw error;
      if (error instanceof ProtocolError) {
        throw new SetupError(error.code, `The server sent an invalid frame: ${error.message}`);
      }
      throw error;
    }
  }

  /** Starts handing every later message to `handler` (messages that already arrived first). */
  onMessage(handler: (message: ServerMessage) => void): void {
    this.#handler = handler;
    for (const message of this.#backlog.splice(0)) handler(message);
  }

  /** Monotonic time (ms) anything last arrived from the server. */
  get lastReceivedAt(): number {
    return this.#conn.lastReceivedAt;
  }

  /** Queues a message for the server. */
  send(message: ClientMessage): boolean {
    return this.#conn.sendMessage(message);
  }

  /** Closes the connection. */
  close(): void {
    void this.#conn.close();
  }

  /** Closes after flushing what is queued (up to `graceMs`). */
  closeGracefully(graceMs = 1_000): Promise<void> {
    return this.#conn.close(graceMs);
  }

  #dispatch(message: ServerMessage): void {
    if (this.#handler) return this.#handler(message);
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      return waiter(message);
    }
    this.#backlog.push(message);
  }

  async #next(): Promise<ServerMessage> {
    const queued = this.#backlog.shift();
    const message = queued ??
      await new Promise<ServerMessage | CloseCause>((resolve) => this.#waiter = resolve);
    if ("kind" in message) {
      if (message.kind === "protocol") throw message.error;
      throw new SetupError("connection_lost", "The server closed the connection during set-up");
    }
    if (message.type === "error") {
      throw new SetupError(message.code, message.message, true);
    }
    return message;
  }

  /**
   * Sends `hello` and checks `server_hello`: the certificate chains to `options.ca` and names
   * the host dialled, and the signature over both nonces verifies (all skipped when fetching
   * the CA, which has nothing to check against yet).
   */
  async #hello(endpoint: Endpoint, options: HelloOptions): Promise<ServerProof> {
    const clientNonce = randomBytes(NONCE_BYTES);
    this.send({
      type: "hello",
      version: PROTOCOL_VERSION,
      nonce: toBase64Url(clientNonce, false),
      ...(options.withCa ? { ca: true } : {}),
    });
    const hello = await this.#next();
    if (hello.type !== "server_hello") {
      throw new SetupError("unexpected", `Expected server_hello, received ${hello.type}`);
    }
    if (hello.version !== PROTOCOL_VERSION) {
      throw new SetupError(
        "unsupported_version",
        `The server speaks protocol ${hello.version}, this client ${PROTOCOL_VERSION}`,
      );
    }
    const serverNonce = decodeB64Field(hello.nonce, "nonce");
    const serverCertDer = decodeB64Field(hello.cert, "cert");
    const ca = hello.ca === undefined ? undefined : decodeB64Field(hello.ca, "ca");
    if (!options.ca) return { clientNonce, serverNonce, serverCertDer, ca };
    if (options.tlsCertificate && !bytesEqual(options.tlsCertificate, serverCertDer)) {
      throw new SetupError(
        "server_certificate",
        "The certificate the server presented in TLS is not the one it proved holding",
      );
    }
    const serverKey = await checkServerCertificate(serverCertDer, options.ca, endpoint.host);
    const signedByServer = await verifyLabelled(
      serverKey,
      SERVER_PROOF_LABEL,
      serverProofData(clientNonce, serverNonce),
      decodeB64Field(hello.signature, "signature"),
    );
    if (!signedByServer) {
      throw new SetupError(
        "server_proof",
        "The server could not prove it holds its certificate's key",
      );
    }
    return { clientNonce, serverNonce, serverCertDer, ca };
  }

  /** Proves `identity` with `auth` and waits for `welcome`. */
  async #auth(server: ServerProof, identity: Identity): Promise<Welcome> {
    const proof = await clientProofData(
      server.clientNonce,
      server.serverNonce,
      server.serverCertDer,
    );
    const signature = await signLabelled(identity.privateKey, CLIENT_PROOF_LABEL, proof);
    this.send({
      type: "auth",
      cert: toBase64Url(identity.certDer, false),
      signature: toBase64Url(signature, false),
    });
    const welcome = await this.#next();
    if (welcome.type !== "welcome") {
      throw new SetupError("unexpected", `Expected welcome, received ${welcome.type}`);
    }
    if (welcome.user !== identity.user || welcome.device !== identity.device) {
      throw new SetupError(
        "wrong_user",
        `The server welcomed ${welcome.user}/${welcome.device}, but this identity is ${identity.user}/${identity.device}`,
      );
    }
    return welcome;
  }
}

/** TCP with Nagle off, then TLS trusting `caPem` (and the runtime's roots), within the limit. */
async function denoTls(endpoint: Endpoint, caPem: string): Promise<Deno.TlsConn> {
  try {
    const tls = await withTimeout(connectTls(endpoint, caPem), CLIENT_SETUP_TIMEOUT_MS, "connect");
    await withTimeout(tls.handshake(), CLIENT_SETUP_TIMEOUT_MS, "TLS handshake");
    return tls;
  } catch (error) {
    if (error instanceof SetupError) throw error;
    throw new SetupError(
      "connect_failed",
      `Cannot connect to ${endpoint.host}:${endpoint.port}: ${(error as Error).message}`,
    );
  }
}

/** TLS through `node:tls`: verifying against `caPem` only, or not at all when it is omitted. */
async function nodeTls(
  endpoint: Endpoint,
  caPem: string | undefined,
): Promise<{ stream: ByteStream; peerCertificate: Uint8Array | undefined }> {
  try {
    return await connectNodeTls({
      host: endpoint.host,
      port: endpoint.port,
      caPem,
      timeoutMs: CLIENT_SETUP_TIMEOUT_MS,
    });
  } catch (error) {
    throw new SetupError(
      "connect_failed",
      `Cannot connect to ${endpoint.host}:${endpoint.port}: ${(error as Error).message}`,
    );
  }
}

/**
 * TCP first, so Nagle's algorithm can be turned off (a chat message should leave at once, not
 * wait for the previous one's acknowledgement), then TLS over it, trusting the identity's CA.
 */
async function connectTls(endpoint: Endpoint, caPem: string): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: endpoint.host, port: endpoint.port });
  try {
    tcp.setNoDelay(true);
    return await Deno.startTls(tcp, { hostname: endpoint.host, caCerts: [caPem] });
  } catch (error) {
    tcp.close();
    throw error;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SetupError("timeout", `${what} took longer than ${ms} ms`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
