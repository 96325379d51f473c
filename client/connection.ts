/**
 * The client's link to a server: TLS trusting only what the identity file's CA signed (on top
 * of the runtime's public roots, which Deno always adds, hence the in-band proof), then the
 * set-up of docs/PROTOCOL.md in both directions. A link exists only after the server proved
 * its identity and accepted ours.
 *
 * @module
 */

import { randomBytes, toBase64Url } from "../crypto/bytes.ts";
import { signLabelled, verifyLabelled } from "../crypto/sign.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { decodeB64Field } from "../protocol/fields.ts";
import {
  CLIENT_PROOF_LABEL,
  clientProofData,
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
import { type CloseCause, FramedConnection } from "../protocol/transport.ts";
import type { Identity } from "./identity.ts";
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
    let tls: Deno.TlsConn;
    try {
      tls = await withTimeout(
        connectTls(endpoint, identity.caPem),
        CLIENT_SETUP_TIMEOUT_MS,
        "connect",
      );
      await withTimeout(tls.handshake(), CLIENT_SETUP_TIMEOUT_MS, "TLS handshake");
    } catch (error) {
      if (error instanceof SetupError) throw error;
      throw new SetupError(
        "connect_failed",
        `Cannot connect to ${endpoint.host}:${endpoint.port}: ${(error as Error).message}`,
      );
    }
    const link = new ServerLink(new FramedConnection(tls));
    try {
      const welcome = await withTimeout(
        link.#setUp(endpoint, identity),
        CLIENT_SETUP_TIMEOUT_MS,
        "set-up",
      );
      return { link, welcome };
    } catch (error) {
      link.close();
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

  async #setUp(endpoint: Endpoint, identity: Identity): Promise<Welcome> {
    const clientNonce = randomBytes(NONCE_BYTES);
    this.send({ type: "hello", version: PROTOCOL_VERSION, nonce: toBase64Url(clientNonce, false) });
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
    const serverKey = await checkServerCertificate(serverCertDer, identity.caCert, endpoint.host);
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
    const proof = await clientProofData(clientNonce, serverNonce, serverCertDer);
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
    if (welcome.user !== identity.user) {
      throw new SetupError(
        "wrong_user",
        `The server welcomed ${welcome.user}, but this identity is ${identity.user}`,
      );
    }
    return welcome;
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
