import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame, frameBytes, FrameDecoder, MAX_FRAME_BYTES } from "./framing.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("FrameDecoder reassembles frames split at every byte and several frames per chunk", () => {
  const frames = [
    encodeFrame({ type: "ping" }),
    encodeFrame({ type: "msg", payload: "x".repeat(5000) }),
    encodeFrame({ a: 1 }),
  ];
  const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let offset = 0;
  for (const frame of frames) {
    stream.set(frame, offset);
    offset += frame.length;
  }
  for (const step of [1, 3, 7, 1000, stream.length]) {
    const decoder = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < stream.length; i += step) {
      decoder.push(stream.subarray(i, i + step));
      for (let body = decoder.next(); body; body = decoder.next()) out.push(text(body));
    }
    assertEquals(out.map((body) => JSON.parse(body)), [{ type: "ping" }, {
      type: "msg",
      payload: "x".repeat(5000),
    }, { a: 1 }], `step ${step}`);
    assertEquals(decoder.buffered, 0);
  }
});

Deno.test("FrameDecoder accepts a frame of exactly the maximum and refuses one byte more from the header alone", () => {
  const decoder = new FrameDecoder();
  decoder.push(frameBytes(new Uint8Array(MAX_FRAME_BYTES).fill(0x20)));
  assertEquals(decoder.next()?.length, MAX_FRAME_BYTES);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  decoder.push(header);
  const error = assertThrows(() => decoder.next(), ProtocolError, `exceeds ${MAX_FRAME_BYTES}`);
  assertEquals(error.code, "frame_too_large");
  const small = new FrameDecoder(100);
  small.push(frameBytes(new Uint8Array(101)));
  assertEquals(assertThrows(() => small.next(), ProtocolError).code, "frame_too_large");
});

Deno.test("FrameDecoder refuses an empty frame; frameBytes refuses an oversized body", () => {
  const decoder = new FrameDecoder();
  decoder.push(new Uint8Array(4));
  assertEquals(assertThrows(() => decoder.next(), ProtocolError).code, "bad_frame");
  assertEquals(
    assertThrows(() => frameBytes(new Uint8Array(MAX_FRAME_BYTES + 1)), ProtocolError).code,
    "frame_too_large",
  );
});
