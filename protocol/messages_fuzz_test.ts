/**
 * Fuzz-style: many random and mutated frames through the frame decoder and both message
 * decoders. Whatever the input, the only exception allowed out is a ProtocolError. Seeded, so a
 * failure reproduces; bounded in count.
 */

import { assert } from "../tests/support/assert.ts";
import { ProtocolError } from "./errors.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { decodeClientMessage, decodeServerMessage } from "./messages.ts";

const ITERATIONS = 40_000;

/** mulberry32: a small seeded PRNG, good enough to pick mutations reproducibly. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const S = "A".repeat(22);
const N = "B".repeat(43);
const SAMPLES: Record<string, unknown>[] = [
  { type: "hello", version: 1, nonce: N },
  { type: "hello", version: 1, nonce: N, ca: true },
  { type: "auth", cert: "MIIB", signature: "AAAA" },
  { type: "renew", cert: "MIIB", signature: "AAAA" },
  { type: "enroll", secret: "A".repeat(22), csr: "MIIB" },
  { type: "device_invite", id: "d1", device: "phone" },
  { type: "devices", id: "d2" },
  { type: "device_revoke", id: "d3", device: "phone" },
  { type: "announce", payload: "abc.def" },
  { type: "join", room: "lobby" },
  { type: "leave", room: "lobby" },
  { type: "rooms" },
  { type: "who", room: "lobby" },
  { type: "keys", room: "lobby", items: [{ to: S, payload: "wrapped" }] },
  { type: "keys", items: [{ to: S, payload: "wrapped" }] },
  { type: "agreement", payload: "1.key.sig" },
  { type: "keys", room: "lobby", items: [{ to: "bob/phone", payload: "wrapped" }] },
  { type: "dm", id: "d2", to: "bob", device: "phone", payload: "gAAAA" },
  { type: "history", room: "lobby", after: 4 },
  { type: "inbox", after: 0 },
  { type: "inbox_ack", upto: 9 },
  { type: "prekeys", signed: "1.2.k.s", onetime: ["1.k.s"] },
  { type: "bundles", id: "b1", devices: ["bob/phone"] },
  { type: "msg", id: "m1", room: "lobby", payload: "gAAAA" },
  { type: "dm", id: "d1", to: "bob", session: S, payload: "gAAAA" },
  { type: "lookup", id: "l1", user: "bob" },
  { type: "ping" },
  { type: "pong" },
  { type: "server_hello", version: 1, nonce: N, cert: "MIIB", signature: "AAAA" },
  { type: "server_hello", version: 1, nonce: N, cert: "MIIB", signature: "AAAA", ca: "MIIB" },
  { type: "enrolled", cert: "MIIB" },
  { type: "renewed", cert: "MIIB" },
  {
    type: "welcome",
    user: "alice",
    device: "laptop",
    session: S,
    limits: { maxFrameBytes: 1, ratePerSecond: 1, rateBurst: 1, idleTimeoutMs: 1 },
  },
  { type: "error", code: "bad_field", message: "m", fatal: true, id: "x" },
  {
    type: "joined",
    room: "lobby",
    members: [{ user: "bob", device: "main", session: S, announce: "a" }],
    offline: [{ user: "bob", device: "phone", cert: "AAAA" }],
    version: 3,
    seq: 12,
  },
  {
    type: "offline_device",
    room: "lobby",
    version: 4,
    user: "bob",
    device: "tab",
    state: "removed",
  },
  { type: "left", room: "lobby" },
  {
    type: "presence",
    room: "lobby",
    event: "join",
    user: "bob",
    device: "phone",
    session: S,
    version: 4,
    announce: "a",
    reason: "r",
  },
  { type: "announce", user: "bob", device: "main", session: S, announce: "a" },
  { type: "rooms", rooms: [{ name: "lobby", members: 2 }] },
  { type: "who", room: "lobby", members: ["alice", "bob"] },
  { type: "keys", room: "lobby", from: "bob", device: "main", session: S, payload: "k" },
  { type: "keys", from: "bob", device: "main", session: S, payload: "k" },
  { type: "agreement", user: "bob", device: "main", session: S, payload: "1.k.s" },
  {
    type: "msg",
    room: "lobby",
    from: "bob",
    device: "main",
    session: S,
    ts: 1,
    payload: "p",
    seq: 3,
  },
  {
    type: "history",
    room: "lobby",
    entries: [{ seq: 1, from: "bob", device: "main", session: S, ts: 1, payload: "p" }],
    sessions: [{ user: "bob", device: "main", session: S, announce: "a" }],
    done: true,
  },
  {
    type: "inbox",
    items: [{
      seq: 1,
      kind: "keys",
      room: "lobby",
      from: "bob",
      device: "main",
      session: S,
      ts: 1,
      payload: "k",
    }],
    sessions: [],
    dropped: 0,
    done: true,
  },
  { type: "prekeys_stored", onetime: 3 },
  {
    type: "bundles",
    id: "b1",
    bundles: [{ user: "bob", device: "main", cert: "AAAA", signed: "s" }],
  },
  { type: "dm", from: "bob", device: "main", session: S, ts: 1, payload: "p" },
  { type: "ack", id: "m1", recipients: 2 },
  {
    type: "peer",
    id: "l1",
    user: "bob",
    sessions: [{ device: "main", session: S, announce: "a" }],
  },
  { type: "device_invite", id: "d1", token: "oc1.AAAA" },
  {
    type: "devices",
    id: "d2",
    devices: [{
      device: "phone",
      serial: "ab",
      status: "valid",
      notAfter: "2030",
      invitedBy: "main",
    }],
  },
  { type: "device_revoked", id: "d3", device: "phone" },
  // Moderation (moderation/frames.ts).
  { type: "moderate", id: "k1", room: "lobby", command: "kick", target: "bob", reason: "spam" },
  { type: "moderate", id: "k2", room: "lobby", command: "ban", target: "bob", durationMs: 7200 },
  { type: "moderate", id: "k3", room: "lobby", command: "topic", text: "Be kind" },
  { type: "moderate", id: "k4", room: "lobby", command: "mode", changes: "+m-t" },
  { type: "moderate", id: "k5", command: "motd" },
  {
    type: "moderation",
    action: "ban",
    room: "lobby",
    actor: "alice",
    ts: 1,
    target: "bob",
    until: null,
    reason: "spam",
  },
  {
    type: "moderation",
    action: "mute",
    room: "lobby",
    actor: "alice",
    ts: 1,
    target: "bob",
    until: 9,
  },
  { type: "moderation", action: "topic", room: "lobby", actor: "alice", ts: 1, topic: "Be kind" },
  {
    type: "moderation",
    action: "mode",
    room: "lobby",
    actor: "alice",
    ts: 1,
    modes: "im",
    changes: "+i",
  },
  { type: "moderation", action: "op", room: "lobby", actor: "alice", ts: 1, target: "carol" },
  {
    type: "moderated",
    id: "k1",
    kind: "done",
    event: { action: "kick", room: "lobby", actor: "alice", ts: 1, target: "bob" },
  },
  {
    type: "moderated",
    id: "k6",
    kind: "banned",
    room: "lobby",
    bans: [{ user: "bob", by: "alice", reason: "", at: 1, until: null }],
    more: true,
  },
  { type: "moderated", id: "k7", kind: "topic", room: "lobby", topic: "t", modes: "t" },
  { type: "moderated", id: "k8", kind: "modes", room: "lobby", modes: "" },
  { type: "motd", text: "Welcome\n\tBe kind." },
  { type: "motd", id: "k5", text: null },
  {
    type: "who",
    room: "lobby",
    members: ["alice", "bob"],
    roles: [{ user: "alice", role: "owner" }, { user: "bob", role: "member", muted: true }],
  },
];

function randomValue(random: () => number, depth = 0): unknown {
  const pick = Math.floor(random() * 12);
  switch (pick) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.floor(random() * 2 ** 40) * (random() < 0.5 ? -1 : 1);
    case 3:
      return random() * 1e308 * 10; // includes Infinity, which JSON spells null
    case 4:
      return "x".repeat(Math.floor(random() * 70_000));
    case 5:
      return String.fromCharCode(...Array.from({ length: 8 }, () => Math.floor(random() * 0x3000)));
    case 6:
      return depth > 3
        ? []
        : Array.from({ length: Math.floor(random() * 4) }, () => randomValue(random, depth + 1));
    case 7:
      return depth > 3 ? {} : {
        type: randomValue(random, depth + 1),
        __proto__: { polluted: true },
        k: randomValue(random, depth + 1),
      };
    case 8:
      return "lobby";
    case 9:
      return S;
    case 10:
      return "../../etc/passwd";
    default:
      return 1;
  }
}

function mutateJson(random: () => number, sample: Record<string, unknown>): Uint8Array {
  const copy: Record<string, unknown> = structuredClone(sample);
  const keys = Object.keys(copy);
  const key = keys[Math.floor(random() * keys.length)]!;
  switch (Math.floor(random() * 4)) {
    case 0:
      delete copy[key];
      break;
    case 1:
      copy[key] = randomValue(random);
      break;
    case 2:
      copy[`extra${Math.floor(random() * 3)}`] = randomValue(random);
      break;
    default:
      copy.type = SAMPLES[Math.floor(random() * SAMPLES.length)]!.type;
  }
  return new TextEncoder().encode(JSON.stringify(copy));
}

function mutateBytes(random: () => number, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    switch (Math.floor(random() * 4)) {
      case 0:
        if (out.length) out[at % out.length] = Math.floor(random() * 256);
        break;
      case 1:
        out.splice(at, 1);
        break;
      case 2:
        out.splice(at, 0, Math.floor(random() * 256));
        break;
      default:
        out.length = Math.floor(random() * out.length);
    }
  }
  return Uint8Array.from(out);
}

function onlyProtocolErrors(fn: () => unknown, input: Uint8Array) {
  try {
    fn();
  } catch (error) {
    assert(
      error instanceof ProtocolError,
      `Non-protocol error ${String(error)} for input ${
        JSON.stringify(new TextDecoder().decode(input).slice(0, 200))
      }`,
    );
  }
}

Deno.test("fuzz: random and mutated frames never raise anything but ProtocolError", () => {
  const random = prng(0x0c4a7);
  let decoded = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const sample = SAMPLES[i % SAMPLES.length]!;
    const roll = random();
    const body = roll < 0.45
      ? mutateJson(random, sample)
      : roll < 0.9
      ? mutateBytes(random, new TextEncoder().encode(JSON.stringify(sample)))
      : Uint8Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256));
    onlyProtocolErrors(() => decodeClientMessage(body), body);
    onlyProtocolErrors(() => decodeServerMessage(body), body);

    // And through the stream decoder, cut at random points, with random garbage headers.
    const decoder = new FrameDecoder();
    const stream = random() < 0.8
      ? encodeFrameBody(body)
      : mutateBytes(random, encodeFrameBody(body));
    onlyProtocolErrors(() => {
      for (let at = 0; at < stream.length;) {
        const step = 1 + Math.floor(random() * 50);
        decoder.push(stream.subarray(at, at + step));
        at += step;
        for (let frame = decoder.next(); frame; frame = decoder.next()) {
          onlyProtocolErrors(() => decodeClientMessage(frame), frame);
          decoded += 1;
        }
      }
    }, stream);
  }
  assert(decoded > ITERATIONS / 2, `only ${decoded} frames made it through the stream decoder`);
});

Deno.test("every sample decodes on its own side, so the fuzzer starts from valid frames", () => {
  for (const sample of SAMPLES) {
    const body = new TextEncoder().encode(JSON.stringify(sample));
    let ok = false;
    for (const decode of [decodeClientMessage, decodeServerMessage]) {
      try {
        decode(body);
        ok = true;
      } catch {
        // the other side's message
      }
    }
    assert(ok, `sample ${JSON.stringify(sample)} decodes nowhere`);
  }
});

function encodeFrameBody(body: Uint8Array): Uint8Array {
  try {
    return encodeFrame(JSON.parse(new TextDecoder().decode(body)));
  } catch {
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    return frame;
  }
}
