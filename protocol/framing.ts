/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. The
 * decoder refuses a frame as soon as its header announces more than {@linkcode MAX_FRAME_BYTES},
 * before buffering any of it, so a peer cannot make us hold more than one maximum frame.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";

/** Largest frame body either side accepts, in bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Size of the length prefix. */
export const FRAME_HEADER_BYTES = 4;

const encoder = new TextEncoder();

/**
 * Encodes a JSON value as one frame.
 *
 * @throws {ProtocolError} `frame_too_large` when the encoding exceeds {@linkcode MAX_FRAME_BYTES}.
 */
export function encodeFrame(value: unknown): Uint8Array<ArrayBuffer> {
  return frameBytes(encoder.encode(JSON.stringify(value)));
}

/** Prefixes `body` with its length. */
export function frameBytes(body: Uint8Array): Uint8Array<ArrayBuffer> {
  if (body.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(
      "frame_too_large",
      `Frame of ${body.length} bytes exceeds ${MAX_FRAME_BYTES}`,
    );
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frame bodies. Feed it whatever the socket gave; take whole frames
 * out. It keeps at most one partial frame.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./framing.ts";
 * const decoder = new FrameDecoder();
 * decoder.push(encodeFrame({ type: "ping" }));
 * decoder.next(); // the body bytes of {"type":"ping"}
 * ```
 */
export class FrameDecoder {
  #buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  readonly #maxFrameBytes: number;
  #start = 0;
  #end = 0;

  /** @param maxFrameBytes the largest frame body accepted; at most {@linkcode MAX_FRAME_BYTES}. */
  constructor(maxFrameBytes = MAX_FRAME_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held that do not yet form a whole frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Appends bytes from the stream. The decoder copies them; `chunk` may be reused afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#end + chunk.length > this.#buffer.length) {
      const held = this.#end - this.#start;
      const needed = held + chunk.length;
      if (needed <= this.#buffer.length && this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2, 1024));
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * The next whole frame body, or undefined when more bytes are needed. The returned view is
   * valid until the next `push`.
   *
   * @throws {ProtocolError} `frame_too_large` or `bad_frame` (a zero-length frame).
   */
  next(): Uint8Array | undefined {
    const held = this.#end - this.#start;
    if (held < FRAME_HEADER_BYTES) return this.#compact();
    const b = this.#buffer;
    const s = this.#start;
    const length = ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0;
    if (length > this.#maxFrameBytes) {
      throw new ProtocolError(
        "frame_too_large",
        `Frame of ${length} bytes exceeds ${this.#maxFrameBytes}`,
      );
    }
    if (length === 0) throw new ProtocolError("bad_frame", "Empty frame");
    if (held < FRAME_HEADER_BYTES + length) return undefined;
    const body = this.#buffer.subarray(
      this.#start + FRAME_HEADER_BYTES,
      this.#start + FRAME_HEADER_BYTES + length,
    );
    this.#start += FRAME_HEADER_BYTES + length;
    return body;
  }

  /** Releases a large buffer once it is empty, so an idle connection holds little memory. */
  #compact(): undefined {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      if (this.#buffer.length > 16 * 1024) this.#buffer = new Uint8Array(0);
    }
    return undefined;
  }
}
