/**
 * A framed connection over any Deno stream connection (TLS in openchat): a read loop that hands
 * whole frame bodies to a handler, and a bounded outbound queue whose writer coalesces every
 * frame queued since the last write into one `write` call. Both server and client use it.
 *
 * The queue is bounded in bytes: {@linkcode FramedConnection.send} returns false once the bound
 * is passed, and the owner decides what that means (the server closes a slow reader). Below that
 * hard bound the queue has two marks: past the upper one the connection is *behind* (since
 * {@linkcode FramedConnection.behindSince}) until it drains to the lower one, so an owner can
 * hold back whoever fills it (back-pressure) and tell a reader that is merely busy from one that
 * never catches up.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from "./framing.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Largest read buffer of a connection. Each starts at {@linkcode INITIAL_READ_BUFFER_BYTES} and
 * doubles whenever a read fills it, so an idle session holds 1 KiB while a busy one reads in
 * large pieces.
 */
export const READ_BUFFER_BYTES = 16 * 1024;
/** Read buffer of a new connection. */
export const INITIAL_READ_BUFFER_BYTES = 1024;
/** Largest single write; a longer queue is written in pieces of about this size. */
export const MAX_WRITE_BYTES = 256 * 1024;

/**
 * When a connection writes what was queued: at the end of the current task (`"task"`, the
 * default: a client sends a few frames at a time and wants them out at once), or at the end of
 * the current turn of the event loop (`"turn"`, the server: everything queued for a connection
 * while the turn's reads were handled goes in one write, so a member of a busy room gets one
 * TLS write per turn instead of one per message; a write costs far more than its bytes).
 */
export type WriteTiming = "task" | "turn";

/** Flushes of `"turn"` connections waiting for the end of the turn, all started at once. */
let turnFlushes: (() => void)[] = [];

function flushAtEndOfTurn(flush: () => void): void {
  turnFlushes.push(flush);
  if (turnFlushes.length > 1) return;
  // One callback per turn for every connection, after the turn's I/O callbacks.
  setImmediate(() => {
    const flushes = turnFlushes;
    turnFlushes = [];
    for (const start of flushes) start();
  });
}

/** What the read loop calls. A returned promise is awaited before the next frame is handled. */
export type FrameHandler = (body: Uint8Array) => void | Promise<void>;

/** Why a connection ended, as the read loop saw it. */
export type CloseCause =
  | { kind: "eof" }
  | { kind: "closed" }
  | { kind: "io"; error: Error }
  | { kind: "protocol"; error: ProtocolError }
  | { kind: "internal"; error: Error };

/** Options of a {@linkcode FramedConnection}. */
export interface FramedConnectionOptions {
  /** Largest frame body accepted from the peer. */
  maxFrameBytes?: number;
  /** Bytes that may wait in the outbound queue. */
  maxOutboundBytes?: number;
  /** Queued bytes past which the connection is behind; infinite (never behind) by default. */
  behindBytes?: number;
  /** Queued bytes at or below which a connection that was behind has caught up again. */
  caughtUpBytes?: number;
  /** When queued frames are written; see {@linkcode WriteTiming}. Default `"task"`. */
  writeTiming?: WriteTiming;
}

/**
 * The little a framed connection needs from a socket. `Deno.Conn` (client side) has it, and so
 * does the server's wrapper around Node's TLS sockets (`server/tls_listener.ts`).
 */
export interface ByteStream {
  readonly remoteAddr: Deno.Addr;
  /** Reads into `buffer`; resolves with the count, or null at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves with how many were taken. */
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

/** A connection that speaks length-prefixed frames. */
export class FramedConnection {
  readonly #conn: ByteStream;
  readonly #decoder: FrameDecoder;
  readonly #maxOutboundBytes: number;
  readonly #behindBytes: number;
  readonly #caughtUpBytes: number;
  readonly #startFlush: () => void;
  #behindSince: number | undefined;
  #caughtUp: (() => void)[] = [];
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #writing = false;
  #drained: (() => void)[] = [];
  #closed = false;

  /** Monotonic time (ms) the last bytes arrived from the peer. */
  lastReceivedAt = performance.now();

  constructor(conn: ByteStream, options: FramedConnectionOptions = {}) {
    this.#conn = conn;
    this.#decoder = new FrameDecoder(options.maxFrameBytes ?? MAX_FRAME_BYTES);
    this.#maxOutboundBytes = options.maxOutboundBytes ?? Infinity;
    this.#behindBytes = options.behindBytes ?? Infinity;
    this.#caughtUpBytes = Math.min(options.caughtUpBytes ?? 0, this.#behindBytes);
    const flush = () => void this.#flush();
    this.#startFlush = options.writeTiming === "turn"
      ? () => flushAtEndOfTurn(flush)
      : () => queueMicrotask(flush);
  }

  /** The peer's address as `host:port`. */
  get remote(): string {
    const addr = this.#conn.remoteAddr as Deno.NetAddr;
    return addr.hostname?.includes(":")
      ? `[${addr.hostname}]:${addr.port}`
      : `${addr.hostname}:${addr.port}`;
  }

  /** True once {@linkcode FramedConnection.close} has run or the peer went away. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes waiting to be written, including the write in progress. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Monotonic time (ms) the queue passed the `behindBytes` mark, if it has not drained to
   * `caughtUpBytes` since; undefined while the peer keeps up.
   */
  get behindSince(): number | undefined {
    return this.#behindSince;
  }

  /** Resolves once the connection is no longer behind (or is closed). */
  caughtUp(): Promise<void> {
    if (this.#behindSince === undefined || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#caughtUp.push(resolve));
  }

  /**
   * Reads until the connection ends, handing each frame body to `onFrame`. Resolves with why it
   * ended; never rejects. A {@linkcode ProtocolError} thrown by the decoder or by `onFrame` ends
   * the loop with kind "protocol" (the caller answers it); any other error from `onFrame` is
   * kind "internal" (a bug to log), and a socket failure is kind "io".
   */
  async run(onFrame: FrameHandler): Promise<CloseCause> {
    let buffer = new Uint8Array(INITIAL_READ_BUFFER_BYTES);
    try {
      for (;;) {
        const count = await this.#conn.read(buffer);
        if (count === null) return { kind: "eof" };
        if (this.#closed) return { kind: "closed" };
        this.lastReceivedAt = performance.now();
        this.#decoder.push(buffer.subarray(0, count));
        if (count === buffer.length && buffer.length < READ_BUFFER_BYTES) {
          buffer = new Uint8Array(buffer.length * 2);
        }
        for (let body = this.#decoder.next(); body; body = this.#decoder.next()) {
          try {
            const pending = onFrame(body);
            if (pending) await pending;
          } catch (error) {
            if (error instanceof ProtocolError) return { kind: "protocol", error };
            return { kind: "internal", error: error as Error };
          }
          if (this.#closed) return { kind: "closed" };
        }
      }
    } catch (error) {
      if (error instanceof ProtocolError) return { kind: "protocol", error };
      if (this.#closed) return { kind: "closed" };
      return { kind: "io", error: error as Error };
    }
  }

  /**
   * Queues an encoded frame. Returns false (and queues nothing) when the connection is closed or
   * the frame would pass the outbound bound.
   */
  send(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#queuedBytes + frame.length > this.#maxOutboundBytes) return false;
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    if (this.#behindSince === undefined && this.#queuedBytes > this.#behindBytes) {
      this.#behindSince = performance.now();
    }
    if (!this.#writing) {
      this.#writing = true;
      // Start writing after the current task (or turn), so every frame queued by it goes in one
      // write.
      this.#startFlush();
    }
    return true;
  }

  /**
   * Queues a last frame, ignoring the outbound bound: after everything already queued, or, with
   * `dropQueued`, ahead of everything not yet being written, which is dropped (for telling a peer
   * that fell behind why it is being closed, without making it read the backlog first).
   */
  sendFinal(frame: Uint8Array, dropQueued = false): void {
    if (this.#closed) return;
    if (dropQueued) {
      let dropped = 0;
      for (const queued of this.#queue) dropped += queued.length;
      this.#queue = [];
      this.#queuedBytes -= dropped;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
    this.#checkCaughtUp();
    if (!this.#writing) {
      this.#writing = true;
      this.#startFlush();
    }
  }

  /** Encodes and queues a message; see {@linkcode FramedConnection.send}. */
  sendMessage(message: unknown): boolean {
    return this.send(encodeFrame(message));
  }

  /** Resolves when everything queued so far has been written (or the connection closed). */
  drained(): Promise<void> {
    if (!this.#writing || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /**
   * Closes the connection. With `graceMs`, first waits up to that long for the queue to be
   * written, so a final error frame can reach the peer; a reader that does not read does not
   * hold the connection open past it.
   */
  async close(graceMs = 0): Promise<void> {
    if (this.#closed) return;
    if (graceMs > 0 && this.#writing) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.drained(),
        new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    }
    this.#shut();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
    for (const resolve of this.#drained.splice(0)) resolve();
    this.#behindSince = undefined;
    for (const resolve of this.#caughtUp.splice(0)) resolve();
  }

  /** Ends the behind state once the queue has drained to the lower mark. */
  #checkCaughtUp(): void {
    if (this.#behindSince === undefined || this.#queuedBytes > this.#caughtUpBytes) return;
    this.#behindSince = undefined;
    for (const resolve of this.#caughtUp.splice(0)) resolve();
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#takeChunk();
        let offset = 0;
        while (offset < chunk.length) offset += await this.#conn.write(chunk.subarray(offset));
        this.#queuedBytes -= chunk.length;
        this.#checkCaughtUp();
      }
    } catch {
      this.#shut();
    } finally {
      this.#writing = false;
      if (this.#queue.length === 0) {
        for (const resolve of this.#drained.splice(0)) resolve();
      } else if (!this.#closed) {
        this.#writing = true;
        this.#startFlush();
      }
    }
  }

  /** Takes queued frames totalling about {@linkcode MAX_WRITE_BYTES} as one buffer. */
  #takeChunk(): Uint8Array {
    const queue = this.#queue;
    if (queue.length === 1 || queue[0]!.length >= MAX_WRITE_BYTES) return queue.shift()!;
    let count = 0;
    let length = 0;
    while (count < queue.length && length + queue[count]!.length <= MAX_WRITE_BYTES) {
      length += queue[count]!.length;
      count += 1;
    }
    const chunk = new Uint8Array(length);
    let offset = 0;
    for (const frame of queue.splice(0, count)) {
      chunk.set(frame, offset);
      offset += frame.length;
    }
    return chunk;
  }
}
