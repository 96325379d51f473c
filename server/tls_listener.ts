/**
 * The server's TLS listener. It is Node's `tls` server (Deno's `node:tls`) rather than
 * `Deno.listenTls` for one reason: `Deno.listenTls` gives no way to set `TCP_NODELAY` on the
 * accepted sockets, and without it Nagle's algorithm holds a small frame back until the previous
 * one is acknowledged, which the receiver may delay by up to 40 ms: every relayed chat message
 * would wait for it. Node's sockets can turn Nagle off. Each accepted socket is wrapped as the
 * small byte-stream interface `protocol/transport.ts` reads and writes.
 *
 * The listener is also where set-up starts: it notes the moment of the TCP accept (the one
 * set-up deadline counts from it), gives each connection one of its address's set-up slots or
 * closes it at once (`address_slots.ts`), and closes sockets so that what was written arrives.
 *
 * @module
 */

import type net from "node:net";
import tls from "node:tls";
import type { ByteStream } from "../protocol/transport.ts";
import { AddressSlots } from "./address_slots.ts";

/** Bytes read from a socket and not yet taken before it is paused (back-pressure). */
const PAUSE_ABOVE_BYTES = 256 * 1024;
/**
 * How long a closed socket may take to flush what was written to it and close TLS cleanly
 * (`close_notify`, then FIN) before it is destroyed. Meanwhile whatever the peer still sends is
 * read and dropped: closing a socket with unread data makes the kernel answer with a reset, and
 * a reset makes the peer's kernel throw away what it had received and not yet delivered, which is
 * how a flooding client used to lose the very error frame that told it why it was closed.
 */
export const CLOSE_FLUSH_MS = 2_000;

/** Options of {@linkcode TlsListener.listen}. */
export interface TlsListenOptions {
  hostname: string;
  port: number;
  certPem: string;
  keyPem: string;
  /** TLS handshakes not finished this long after the TCP accept are dropped. */
  handshakeTimeoutMs: number;
  /** Open sockets (in TLS handshake or past it) beyond which new ones are closed at once. */
  maxConnections?: number;
  /**
   * Connections one address may have in set-up (from TCP accept until the owner calls
   * {@linkcode AcceptedStream.endSetup}); more from that address are closed at once, before TLS.
   */
  maxSetupsPerAddress?: number;
}

/**
 * An accepted connection: a byte stream that knows when TCP accepted it, and holds one of its
 * address's set-up slots until set-up ends.
 */
export interface AcceptedStream extends ByteStream {
  /** Monotonic time (ms, `performance.now()`) of the TCP accept: set-up deadlines start here. */
  readonly acceptedAt: number;
  /** Gives the address's set-up slot back; closing the connection does so too. */
  endSetup(): void;
}

/** What the listener knows about a TCP connection before its TLS handshake is done. */
interface Accepted {
  readonly acceptedAt: number;
  readonly endSetup: () => void;
}

/** A listening TLS server handing out accepted connections one at a time. */
export class TlsListener {
  readonly #server: tls.Server;
  readonly #accepted: AcceptedStream[] = [];
  #waiter: ((stream: AcceptedStream | null) => void) | undefined;
  #closed = false;

  private constructor(server: tls.Server, options: TlsListenOptions) {
    this.#server = server;
    const slots = new AddressSlots(options.maxSetupsPerAddress ?? Infinity);
    // Node's `handshakeTimeout` is not enforced here, so a socket that never finishes its TLS
    // handshake is closed by this timer instead, counted from the TCP accept; the chat server's
    // set-up deadline, counted from the same moment, takes over once the handshake is done.
    const accepted = new WeakMap<object, Accepted>();
    const secured = new WeakSet<object>();
    server.on("connection", (raw: net.Socket) => {
      const acceptedAt = performance.now();
      // Refused before any TLS work: an address at its bound gets no handshake at all.
      const endSetup = raw.remoteAddress ? slots.take(raw.remoteAddress) : undefined;
      if (!endSetup) return void raw.destroy();
      const timer = setTimeout(() => {
        if (!secured.has(raw)) raw.destroy();
      }, options.handshakeTimeoutMs);
      raw.once("close", () => {
        clearTimeout(timer);
        endSetup();
      });
      accepted.set(raw, { acceptedAt, endSetup });
    });
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      // The plain socket under the TLS one (tests/server_test.ts checks this stays true).
      const raw = (socket as unknown as { _parent?: object })._parent;
      const known = raw && accepted.get(raw);
      if (!raw || !known) return void socket.destroy();
      secured.add(raw);
      const stream = new NodeTlsStream(socket, known.acceptedAt, known.endSetup);
      if (this.#waiter) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter(stream);
      } else this.#accepted.push(stream);
    });
    // A failed handshake concerns only that client; it never reaches the chat server.
    server.on("tlsClientError", () => {});
  }

  /**
   * Listens on `hostname:port`.
   *
   * @throws {Error} when the address cannot be bound (in use, not local, no permission).
   */
  static listen(options: TlsListenOptions): Promise<TlsListener> {
    const server = tls.createServer({
      cert: options.certPem,
      key: options.keyPem,
      handshakeTimeout: options.handshakeTimeoutMs,
      minVersion: "TLSv1.2",
    });
    // Sockets still in their TLS handshake never reach the chat server's own limits; this
    // bounds them (and everything else) in one place.
    if (options.maxConnections) server.maxConnections = options.maxConnections;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.hostname, () => {
        server.off("error", reject);
        resolve(new TlsListener(server, options));
      });
    });
  }

  /** The bound address (with the real port when 0 was asked for). */
  get addr(): Deno.NetAddr {
    const address = this.#server.address() as { address: string; port: number };
    return { transport: "tcp", hostname: address.address, port: address.port };
  }

  /** The next accepted connection, or null once the listener is closed. */
  accept(): Promise<AcceptedStream | null> {
    const ready = this.#accepted.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  /** Stops accepting; connections already accepted stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    this.#waiter?.(null);
    this.#waiter = undefined;
  }
}

/** One accepted TLS socket, as a byte stream with read, write and close. */
class NodeTlsStream implements AcceptedStream {
  readonly remoteAddr: Deno.NetAddr;
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #ended = false;
  #closing = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(
    socket: tls.TLSSocket,
    readonly acceptedAt: number,
    readonly endSetup: () => void,
  ) {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.remoteAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "unknown",
      port: socket.remotePort ?? 0,
    };
    socket.on("data", (chunk: Uint8Array) => {
      if (this.#closing) return; // read and dropped: see CLOSE_FLUSH_MS
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > PAUSE_ABOVE_BYTES) socket.pause();
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
    while (this.#buffered === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let copied = 0;
    while (copied < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length - this.#offset, buffer.length - copied);
      buffer.set(chunk.subarray(this.#offset, this.#offset + take), copied);
      copied += take;
      this.#offset += take;
      if (this.#offset === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      }
    }
    this.#buffered -= copied;
    if (this.#buffered <= PAUSE_ABOVE_BYTES / 2 && this.#socket.isPaused()) this.#socket.resume();
    return copied;
  }

  /**
   * Hands `bytes` to the socket. While the socket's own buffer is below its high-water mark
   * (16 KiB) this resolves at once, and Node gathers such writes into few system calls; past it,
   * it resolves on `drain`, so unsent data keeps waiting in the caller's bounded queue, where the
   * slow-reader limit sees it. Waiting for every write's callback instead costs about six times
   * the CPU per write here.
   */
  write(bytes: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.reject(new Deno.errors.BrokenPipe("connection closed"));
    if (this.#socket.write(bytes)) return Promise.resolve(bytes.length);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.#socket.off("drain", done);
        this.#socket.off("close", done);
        if (this.#ended || this.#error) {
          reject(this.#error ?? new Deno.errors.BrokenPipe("connection closed"));
        } else resolve(bytes.length);
      };
      this.#socket.on("drain", done);
      this.#socket.on("close", done);
    });
  }

  /**
   * Ends the connection without losing what was written: Node flushes its buffer, then TLS sends
   * `close_notify` and TCP its FIN. A peer that does not read (or does not close its side) cannot
   * hold the socket open: it is destroyed after {@linkcode CLOSE_FLUSH_MS}.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ended = true;
    this.#chunks.length = 0;
    this.#buffered = 0;
    const socket = this.#socket;
    this.#notify();
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), CLOSE_FLUSH_MS);
    socket.once("close", () => clearTimeout(timer));
    socket.resume();
    socket.end();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
