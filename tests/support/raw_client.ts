/**
 * A deliberately small client written straight against `protocol/`, for driving the server in
 * tests, including in ways a well-behaved client never would: wrong signatures, garbage bytes,
 * floods, never reading.
 *
 * @module
 */

import { fromBase64Url, randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { parseCertificate, verifyCertificate } from "../../crypto/x509.ts";
import { encodeFrame, frameBytes, FrameDecoder } from "../../protocol/framing.ts";
import {
  CLIENT_PROOF_LABEL,
  clientProofData,
  SERVER_PROOF_LABEL,
  serverProofData,
} from "../../protocol/handshake.ts";
import {
  decodeServerMessage,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../protocol/messages.ts";
import type { TestIdentity } from "./server_fixture.ts";

/** How long `next` waits by default. */
export const WAIT_MS = 5_000;

type Waiter = { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void };

/** Options for {@linkcode RawClient.authenticate}. */
export interface AuthOptions {
  /** Sign these bytes instead of the real proof. */
  signOver?: (proof: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Replace the signature after signing. */
  signature?: Uint8Array;
  /** Answer server pings automatically (default true). */
  autoPong?: boolean;
}

/** A TLS connection to the server that speaks frames. */
export class RawClient {
  readonly received: ServerMessage[] = [];
  /** Every message received, in order, including those `next` took (for checks over all frames). */
  readonly all: ServerMessage[] = [];
  readonly #conn: Deno.TlsConn;
  readonly #decoder = new FrameDecoder();
  #waiters: Waiter[] = [];
  #ended = false;
  #endWaiters: (() => void)[] = [];
  #reading = false;
  #paused = false;
  #resumers: (() => void)[] = [];
  autoPong = true;
  clientNonce?: Uint8Array;
  serverNonce?: Uint8Array;
  serverCertDer?: Uint8Array;

  private constructor(conn: Deno.TlsConn) {
    this.#conn = conn;
  }

  /** Connects with TLS, trusting `caPem`. With `read: false` nothing is read until `startReading`. */
  static async connect(port: number, caPem: string, options: { read?: boolean } = {}) {
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caPem] });
    const client = new RawClient(conn);
    if (options.read !== false) client.startReading();
    return client;
  }

  /** True once the server closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Stops reading from the socket until {@linkcode RawClient.startReading} (a slow reader). */
  stopReading(): Promise<void> {
    this.#paused = true;
    return Promise.resolve();
  }

  /** Starts the read loop (once), or resumes it after {@linkcode RawClient.stopReading}. */
  startReading(): void {
    if (this.#paused) {
      this.#paused = false;
      for (const resume of this.#resumers.splice(0)) resume();
    }
    if (this.#reading) return;
    this.#reading = true;
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        if (this.#paused) await new Promise<void>((resume) => this.#resumers.push(resume));
        const count = await this.#conn.read(buffer);
        if (count === null) break;
        this.#decoder.push(buffer.subarray(0, count));
        for (let body = this.#decoder.next(); body; body = this.#decoder.next()) {
          const message = decodeServerMessage(body);
          if (message.type === "ping" && this.autoPong) this.send({ type: "pong" });
          this.received.push(message);
          this.all.push(message);
          const waiter = this.#waiters.find((w) => w.match(message));
          if (waiter) {
            this.#waiters = this.#waiters.filter((w) => w !== waiter);
            waiter.resolve(message);
          }
        }
      }
    } catch {
      // reset or closed: the connection has ended either way
    }
    // Close our side too, as a real client does: the server holds the connection (and its
    // address's set-up slot) until the client closes or its close deadline passes.
    this.close();
    this.#ended = true;
    for (const resolve of this.#endWaiters.splice(0)) resolve();
  }

  /** Sends a message as one frame (no validation: tests send bad ones on purpose). */
  send(message: unknown): Promise<void> {
    return this.sendRaw(encodeFrame(message));
  }

  /** Sends raw bytes. */
  async sendRaw(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    try {
      while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
    } catch {
      // The server may close first; the test checks what it received.
    }
  }

  /** Sends a frame body of any bytes, with a correct length prefix. */
  sendBody(body: Uint8Array): Promise<void> {
    return this.sendRaw(frameBytes(body));
  }

  /**
   * The first received message (already received or yet to come) that matches, waiting up to
   * `timeoutMs`.
   */
  next<T extends ServerMessage["type"]>(
    type: T,
    where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = WAIT_MS,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (m: ServerMessage) =>
      m.type === type && where(m as Extract<ServerMessage, { type: T }>);
    const index = this.received.findIndex(match);
    if (index >= 0) {
      return Promise.resolve(
        this.received.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>,
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `No "${type}" within ${timeoutMs} ms; received ${
              JSON.stringify(this.received).slice(0, 800)
            }`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        match,
        resolve: (m) => {
          clearTimeout(timer);
          const i = this.received.indexOf(m);
          if (i >= 0) this.received.splice(i, 1);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves when the server has closed the connection, or rejects after `timeoutMs`. */
  whenEnded(timeoutMs = WAIT_MS): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Connection still open after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#endWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Expects a fatal error with `code`, then the connection closing. */
  async expectRefusal(code: string, timeoutMs = WAIT_MS) {
    const error = await this.next("error", () => true, timeoutMs);
    if (error.code !== code || !error.fatal) {
      throw new Error(`Expected fatal ${code}, got ${JSON.stringify(error)}`);
    }
    await this.whenEnded(timeoutMs);
    return error;
  }

  /** Sends `hello` and checks the server's proof; returns the server hello. */
  async hello(caPem: string) {
    this.clientNonce = randomBytes(NONCE_BYTES);
    await this.send({
      type: "hello",
      version: PROTOCOL_VERSION,
      nonce: toBase64Url(this.clientNonce, false),
    });
    const hello = await this.next("server_hello");
    this.serverNonce = fromBase64Url(hello.nonce, false);
    this.serverCertDer = fromBase64Url(hello.cert, false);
    const serverCert = await verifyCertificate(this.serverCertDer, parseCertificate(caPem), {
      usage: "server",
    });
    const ok = await verifyLabelled(
      serverCert.publicKey,
      SERVER_PROOF_LABEL,
      serverProofData(this.clientNonce, this.serverNonce),
      fromBase64Url(hello.signature, false),
    );
    if (!ok) throw new Error("server proof did not verify");
    return hello;
  }

  /** The proof this session's client should sign. */
  proof(): Promise<Uint8Array> {
    return clientProofData(this.clientNonce!, this.serverNonce!, this.serverCertDer!);
  }

  /** Sends `auth` for `identity` (optionally signing something else). */
  async sendAuth(identity: TestIdentity, options: AuthOptions = {}): Promise<void> {
    const proof = await this.proof();
    const signed = options.signOver ? await options.signOver(proof) : proof;
    const signature = options.signature ??
      await signLabelled(identity.privateKey, CLIENT_PROOF_LABEL, signed);
    await this.send({
      type: "auth",
      cert: toBase64Url(identity.certDer, false),
      signature: toBase64Url(signature, false),
    });
  }

  /** Completes set-up as `identity` and returns the welcome. */
  async authenticate(caPem: string, identity: TestIdentity, options: AuthOptions = {}) {
    this.autoPong = options.autoPong ?? true;
    await this.hello(caPem);
    await this.sendAuth(identity, options);
    return await this.next("welcome");
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

/** Frames back to back in one buffer, for sending in a single write. */
export function concatFrames(frames: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
  let offset = 0;
  for (const frame of frames) {
    all.set(frame, offset);
    offset += frame.length;
  }
  return all;
}

/** Connects, authenticates, announces (an opaque placeholder) and joins `room`. */
export async function joinedClient(
  port: number,
  caPem: string,
  identity: TestIdentity,
  room = "lobby",
): Promise<RawClient> {
  const client = await RawClient.connect(port, caPem);
  await client.authenticate(caPem, identity);
  await client.send({ type: "announce", payload: `announce-of-${identity.name}` });
  await client.send({ type: "join", room });
  await client.next("joined", (m) => m.room === room);
  return client;
}
