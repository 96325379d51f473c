/**
 * A TLS client connection through Node's `tls` (Deno's `node:tls`), for enrolment only. It is
 * used because it can do two things `Deno.startTls` cannot: connect without checking the
 * server's certificate at all (to fetch the CA certificate, which is then checked against the
 * invite's fingerprint before anything is trusted), and report the certificate the server
 * presented in TLS, so the client can insist it is the very certificate the server proved
 * holding in-band, issued by the pinned CA, and not one from a public root.
 *
 * @module
 */

import tls from "node:tls";
import type { ByteStream } from "../protocol/transport.ts";
import { isIpAddress } from "../crypto/x509.ts";

/** Where and how to connect. */
export interface NodeTlsOptions {
  host: string;
  port: number;
  /** CA certificates (PEM) to verify the server against; omitted: no verification at all. */
  caPem?: string;
  timeoutMs: number;
}

/** A connected stream and the DER of the certificate the server presented in TLS. */
export interface NodeTlsConnection {
  readonly stream: ByteStream;
  readonly peerCertificate: Uint8Array | undefined;
}

/**
 * Connects with TLS, verifying the server against `caPem` (and the host name) when given.
 *
 * @throws {Error} when the connection or the TLS handshake fails or times out.
 */
export function connectNodeTls(options: NodeTlsOptions): Promise<NodeTlsConnection> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: options.host,
      port: options.port,
      ...(isIpAddress(options.host) ? {} : { servername: options.host }),
      ...(options.caPem === undefined
        ? { rejectUnauthorized: false }
        : { ca: [options.caPem], rejectUnauthorized: true }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TLS set-up took longer than ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    socket.once("error", (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      const raw = socket.getPeerCertificate(true)?.raw as Uint8Array | undefined;
      resolve({
        stream: new NodeClientStream(socket),
        peerCertificate: raw ? new Uint8Array(raw) : undefined,
      });
    });
  });
}

class NodeClientStream implements ByteStream {
  readonly remoteAddr: Deno.NetAddr;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "unknown",
      port: socket.remotePort ?? 0,
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(new Uint8Array(chunk));
      this.#notify();
    });
    const ended = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", ended);
    socket.on("close", ended);
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#notify();
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks[0]!;
    const take = Math.min(chunk.length, buffer.length);
    buffer.set(chunk.subarray(0, take));
    if (take === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(take);
    return take;
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.reject(new Deno.errors.BrokenPipe("connection closed"));
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(bytes.length);
      });
    });
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
