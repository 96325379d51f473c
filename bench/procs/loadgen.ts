/**
 * A load generator process: holds many client sessions of one kind (openchat's real protocol,
 * the bare relay's framing, or IRC) and drives traffic through them on command from
 * `bench/run.ts` (JSON lines on standard input and output, see `lib/child.ts`).
 *
 * Every payload is 300 printable bytes: `%%<proc>.<seq>.<µs>.` padded with `x`. Receivers count
 * deliveries with a cheap byte check; a few "probe" receivers also read the sender and time, to
 * measure latency (from sends by this same process, so on one clock) and to pace the closed loop.
 *
 * openchat sessions do the client's whole set-up: TLS, hello, a P-256 proof of identity over
 * both nonces and the server certificate, announce, join. They do not check the server's own
 * proof (that is the client's cost, not the server's; the tests cover it).
 *
 * @module
 */

import { fromBase64Url, randomBytes, toBase64Url } from "../../crypto/bytes.ts";
import { importIdentityPrivateKey } from "../../crypto/keys.ts";
import { signLabelled } from "../../crypto/sign.ts";
import { encodeFrame } from "../../protocol/framing.ts";
import { CLIENT_PROOF_LABEL, clientProofData } from "../../protocol/handshake.ts";
import {
  decodeServerMessage,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  type ServerMessage,
} from "../../protocol/messages.ts";
import { FramedConnection } from "../../protocol/transport.ts";
import { reply_, serveCommands, sleep } from "../lib/child.ts";
import type { UsersFile } from "../lib/pki.ts";
import { reduceSamples } from "../lib/stats.ts";

/**
 * TLS over a TCP connection with Nagle's algorithm off, as openchat's own client connects: the
 * same for every server measured, so none of them is charged for the client's delayed writes.
 */
async function connectTls(port: number, caPem: string): Promise<Deno.TlsConn> {
  const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
  tcp.setNoDelay(true);
  return await Deno.startTls(tcp, { hostname: "127.0.0.1", caCerts: [caPem] });
}

/** Size of every chat payload. */
export const PAYLOAD_BYTES = 300;
const PERCENT = 0x25;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Kind = "openchat" | "bare" | "irc";

interface Session {
  readonly index: number;
  readonly name: string;
  probe: boolean;
  closed: boolean;
  send(payload: string, seq: number): void;
  close(): void;
}

const sessions: Session[] = [];
let procId = 0;
let stopping = false;
let unexpectedCloses = 0;
let firstProblem = "";

// Counters the traffic loops read.
let measuring = false;
let deliveries = 0;
let ownSeen = 0;
let onOwnSeen: (() => void) | undefined;
let latencies: number[] = [];
let sampling = false;

function now(): number {
  return performance.now();
}

function payloadOf(seq: number): string {
  const head = `%%${procId}.${seq}.${Math.round(now() * 1000)}.`;
  return head + "x".repeat(PAYLOAD_BYTES - head.length);
}

/** Reads `%%<proc>.<seq>.<µs>.` starting at `at` (the first `%`). */
function readMarker(bytes: Uint8Array, at: number): { proc: number; us: number } | undefined {
  let i = at + 2;
  const field = () => {
    let value = 0;
    for (; i < bytes.length; i++) {
      const c = bytes[i]!;
      if (c === 0x2e) {
        i++;
        return value;
      }
      value = value * 10 + (c - 0x30);
    }
    return NaN;
  };
  const proc = field();
  field();
  const us = field();
  return Number.isFinite(us) ? { proc, us } : undefined;
}

/** Called for every chat payload a session receives; `at` is where `%%` starts in `bytes`. */
function delivered(session: Session, bytes: Uint8Array, at: number): void {
  if (measuring) deliveries += 1;
  if (!session.probe) return;
  const marker = readMarker(bytes, at);
  if (!marker || marker.proc !== procId) return;
  ownSeen += 1;
  if (sampling && measuring) latencies.push(now() - marker.us / 1000);
  onOwnSeen?.();
}

function problem(text: string): void {
  if (!firstProblem) firstProblem = text;
}

function ended(session: Session): void {
  session.closed = true;
  if (!stopping) {
    unexpectedCloses += 1;
    problem(`${session.name} was closed`);
  }
}

// ---- openchat ------------------------------------------------------------------------------

interface OpenchatContext {
  port: number;
  caPem: string;
  key: CryptoKey;
  users: UsersFile["users"];
}

async function openchatSession(
  ctx: OpenchatContext,
  index: number,
  room: string,
): Promise<Session> {
  const user = ctx.users[index]!;
  const tls = await connectTls(ctx.port, ctx.caPem);
  const conn = new FramedConnection(tls);
  const backlog: ServerMessage[] = [];
  let waiter: ((message: ServerMessage) => void) | undefined;
  let ready = false;
  const session: Session = {
    index,
    name: user.name,
    probe: false,
    closed: false,
    send(payload, seq) {
      conn.send(encodeFrame({ type: "msg", id: String(seq), room, payload }));
    },
    close: () => void conn.close(),
  };
  const pong = encodeFrame({ type: "pong" });
  const ending = conn.run((body) => {
    if (ready) {
      // {"type":"msg"...: relayed chat; {"type":"ping": answer; {"type":"error": report.
      const t = body[9];
      if (t === 0x6d && body[10] === 0x73 && body[11] === 0x67 && body[12] === 0x22) {
        const at = body.indexOf(PERCENT, 60);
        if (at >= 0 && body[at + 1] === PERCENT) delivered(session, body, at);
      } else if (t === 0x70 && body[10] === 0x69) conn.send(pong);
      else if (t === 0x65) problem(`${user.name}: ${decoder.decode(body)}`);
      return;
    }
    const message = decodeServerMessage(body);
    if (message.type === "error") problem(`${user.name}: ${message.code} ${message.message}`);
    if (waiter) {
      const resolve = waiter;
      waiter = undefined;
      resolve(message);
    } else backlog.push(message);
  });
  void ending.then(() => {
    ended(session);
    waiter?.({ type: "error", code: "closed", message: "connection closed", fatal: true });
  });
  const next = async <T extends ServerMessage["type"]>(type: T) => {
    for (;;) {
      const message = backlog.shift() ??
        await new Promise<ServerMessage>((resolve) => waiter = resolve);
      if (message.type === type) return message as Extract<ServerMessage, { type: T }>;
      if (message.type === "error" && message.fatal) {
        throw new Error(`${user.name}: ${message.code} ${message.message}`);
      }
    }
  };
  const clientNonce = randomBytes(NONCE_BYTES);
  conn.sendMessage({
    type: "hello",
    version: PROTOCOL_VERSION,
    nonce: toBase64Url(clientNonce, false),
  });
  const hello = await next("server_hello");
  const proof = await clientProofData(
    clientNonce,
    fromBase64Url(hello.nonce, false),
    fromBase64Url(hello.cert, false),
  );
  const signature = await signLabelled(ctx.key, CLIENT_PROOF_LABEL, proof);
  conn.sendMessage({ type: "auth", cert: user.cert, signature: toBase64Url(signature, false) });
  await next("welcome");
  conn.sendMessage({ type: "announce", payload: `bench-announcement-of-${user.name}` });
  conn.sendMessage({ type: "join", room });
  await next("joined");
  backlog.length = 0;
  ready = true;
  return session;
}

// ---- bare relay ----------------------------------------------------------------------------

async function bareSession(
  port: number,
  caPem: string,
  index: number,
  name: string,
): Promise<Session> {
  const tls = await connectTls(port, caPem);
  await tls.handshake();
  const conn = new FramedConnection(tls);
  const session: Session = {
    index,
    name,
    probe: false,
    closed: false,
    send(payload, seq) {
      // The same frame an openchat client sends; the bare relay forwards it untouched.
      conn.send(encodeFrame({ type: "msg", id: String(seq), room: "bench", payload }));
    },
    close: () => void conn.close(),
  };
  void conn.run((body) => {
    const at = body.indexOf(PERCENT, 40);
    if (at >= 0 && body[at + 1] === PERCENT) delivered(session, body, at);
  }).then(() => ended(session));
  return session;
}

// ---- IRC -----------------------------------------------------------------------------------

async function ircSession(
  port: number,
  caPem: string,
  index: number,
  name: string,
  channel: string,
): Promise<Session> {
  const tls = await connectTls(port, caPem);
  await tls.handshake();
  let queue: string[] = [];
  let writing = false;
  const flush = async () => {
    try {
      while (queue.length > 0) {
        const bytes = encoder.encode(queue.join(""));
        queue = [];
        let offset = 0;
        while (offset < bytes.length) offset += await tls.write(bytes.subarray(offset));
      }
    } catch {
      // the read loop reports the close
    } finally {
      writing = false;
    }
  };
  const write = (line: string) => {
    queue.push(line + "\r\n");
    if (!writing) {
      writing = true;
      queueMicrotask(flush);
    }
  };
  const session: Session = {
    index,
    name,
    probe: false,
    closed: false,
    send(payload) {
      write(`PRIVMSG ${channel} :${payload}`);
    },
    close: () => {
      try {
        tls.close();
      } catch {
        // already closed
      }
    },
  };
  let registered: (() => void) | undefined;
  let joined: (() => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  const onLine = (line: Uint8Array) => {
    const at = line.indexOf(PERCENT);
    if (at >= 0 && line[at + 1] === PERCENT) return delivered(session, line, at);
    const text = decoder.decode(line);
    if (text.startsWith("PING ")) return write(`PONG ${text.slice(5)}`);
    if (text.startsWith("ERROR")) {
      problem(`${name}: ${text}`);
      failed?.(new Error(`${name}: ${text}`));
    }
    const code = text.split(" ", 3)[1];
    if (code === "001") registered?.();
    else if (code === "366") joined?.();
    else if (code && /^[45]\d\d$/.test(code)) problem(`${name}: ${text}`);
  };
  void (async () => {
    const buffer = new Uint8Array(64 * 1024);
    let pending = new Uint8Array(0);
    try {
      for (;;) {
        const count = await tls.read(buffer);
        if (count === null) break;
        let chunk = buffer.subarray(0, count);
        if (pending.length) {
          const joinedBytes = new Uint8Array(pending.length + count);
          joinedBytes.set(pending);
          joinedBytes.set(chunk, pending.length);
          chunk = joinedBytes;
        }
        let start = 0;
        for (let end = chunk.indexOf(0x0a); end >= 0; end = chunk.indexOf(0x0a, start)) {
          onLine(chunk.subarray(start, end > start && chunk[end - 1] === 0x0d ? end - 1 : end));
          start = end + 1;
        }
        pending = chunk.slice(start);
      }
    } catch {
      // closed
    }
    ended(session);
    failed?.(new Error(`${name}: connection closed during registration`));
  })();
  const step = (send: string[], set: (resolve: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      failed = reject;
      set(resolve);
      for (const line of send) write(line);
    });
  await step([`NICK ${name}`, `USER ${name} 0 * :bench`], (r) => registered = r);
  await step([`JOIN ${channel}`], (r) => joined = r);
  failed = undefined;
  return session;
}

// ---- commands ------------------------------------------------------------------------------

interface SetupCommand {
  kind: Kind;
  port: number;
  usersFile: string;
  procId: number;
  from: number;
  to: number;
  /** One room for all, or rooms of this many consecutive users. */
  room?: string;
  roomSize?: number;
  concurrency?: number;
}

async function setup(command: SetupCommand): Promise<Record<string, unknown>> {
  procId = command.procId;
  const file: UsersFile = JSON.parse(await Deno.readTextFile(command.usersFile));
  const ctx: OpenchatContext = {
    port: command.port,
    caPem: file.caPem,
    key: await importIdentityPrivateKey(file.keyPem),
    users: file.users,
  };
  const roomOf = (index: number) =>
    command.room ?? `r${Math.floor(index / (command.roomSize ?? 10))}`;
  const open = (index: number): Promise<Session> => {
    const name = file.users[index]!.name;
    switch (command.kind) {
      case "openchat":
        return openchatSession(ctx, index, roomOf(index));
      case "bare":
        return bareSession(command.port, file.caPem, index, name);
      case "irc":
        return ircSession(command.port, file.caPem, index, name, `#${roomOf(index)}`);
    }
  };
  const startedAt = performance.timeOrigin + now();
  const t0 = now();
  let nextIndex = command.from;
  const made: Session[] = [];
  const worker = async () => {
    while (nextIndex < command.to) {
      const index = nextIndex++;
      made.push(await open(index));
    }
  };
  const concurrency = Math.min(command.concurrency ?? 32, command.to - command.from);
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = now() - t0;
  const endedAt = performance.timeOrigin + now();
  made.sort((a, b) => a.index - b.index);
  sessions.push(...made);
  return { sessions: sessions.length, ms, startedAt, endedAt };
}

function markProbes(count: number): Session[] {
  for (const session of sessions) session.probe = false;
  const probes: Session[] = [];
  const live = sessions.filter((s) => !s.closed);
  // The last to join is last in the server's fan-out order: it paces the closed loop.
  for (let k = 0; k < Math.min(count, live.length); k++) {
    const session = live[live.length - 1 - Math.floor((k * live.length) / count)]!;
    session.probe = true;
    probes.push(session);
  }
  return probes;
}

function resetCounters(): void {
  deliveries = 0;
  ownSeen = 0;
  latencies = [];
  unexpectedCloses = 0;
  firstProblem = "";
}

/**
 * Closed loop: keeps `window` messages of this process in flight, counted until the last-joined
 * local session (the probe) receives them, sending round-robin from every session.
 */
async function saturate(command: { warmupMs: number; measureMs: number; window: number }) {
  resetCounters();
  const probe = markProbes(1)[0]!;
  const senders = sessions.filter((s) => !s.closed);
  let seq = 0;
  let tracked = 0;
  let sent = 0;
  let turn = 0;
  const start = now();
  const measureFrom = start + command.warmupMs;
  const end = measureFrom + command.measureMs;
  let sentAtMeasure = 0;
  const pump = () => {
    if (now() >= end) return;
    while (tracked - ownSeen < command.window) {
      const sender = senders[turn++ % senders.length]!;
      if (sender.closed) continue;
      sender.send(payloadOf(seq), seq);
      seq += 1;
      sent += 1;
      if (sender !== probe) tracked += 1;
    }
  };
  onOwnSeen = pump;
  pump();
  let lastSeen = -1;
  let stalledSince = now();
  while (now() < end) {
    await sleep(20);
    if (!measuring && now() >= measureFrom) {
      measuring = true;
      sentAtMeasure = sent;
    }
    if (ownSeen !== lastSeen) {
      lastSeen = ownSeen;
      stalledSince = now();
    } else if (now() - stalledSince > 10_000) {
      throw new Error(`no progress for 10 s (${firstProblem || "no error seen"})`);
    }
    pump();
  }
  measuring = false;
  onOwnSeen = undefined;
  const seconds = (now() - measureFrom) / 1000;
  await drain(tracked);
  return {
    deliveries,
    seconds,
    sent: sent - sentAtMeasure,
    unexpectedCloses,
    problem: firstProblem,
  };
}

/** Waits (bounded) until the probe has seen what was sent, so the next phase starts quiet. */
async function drain(tracked: number): Promise<void> {
  const deadline = now() + 10_000;
  while (ownSeen < tracked && now() < deadline) await sleep(20);
  await sleep(200);
}

/** Open loop at `rate` messages per second from this process; latency at `probes` receivers. */
async function rate(
  command: { rate: number; warmupMs: number; measureMs: number; probes: number },
) {
  resetCounters();
  markProbes(command.probes);
  const senders = sessions.filter((s) => !s.closed);
  sampling = true;
  let sent = 0;
  let turn = 0;
  const start = now();
  const measureFrom = start + command.warmupMs;
  const end = measureFrom + command.measureMs;
  let sentAtMeasure = 0;
  while (now() < end) {
    const due = Math.floor(((now() - start) * command.rate) / 1000);
    while (sent < due) {
      const sender = senders[turn++ % senders.length]!;
      if (sender.closed) continue;
      sender.send(payloadOf(sent), sent);
      sent += 1;
    }
    if (!measuring && now() >= measureFrom) {
      measuring = true;
      sentAtMeasure = sent;
    }
    await sleep(1);
  }
  // Let the last messages land before the window closes on their deliveries.
  await sleep(300);
  measuring = false;
  sampling = false;
  const seconds = (end - measureFrom) / 1000;
  const samples = reduceSamples(Float64Array.from(latencies));
  latencies = [];
  return {
    deliveries,
    seconds,
    sent: sent - sentAtMeasure,
    latency: samples,
    unexpectedCloses,
    problem: firstProblem,
  };
}

await serveCommands(async (command) => {
  switch (command.cmd) {
    case "setup":
      return await setup(command as unknown as SetupCommand);
    case "saturate":
      return await saturate(command as unknown as Parameters<typeof saturate>[0]);
    case "rate":
      return await rate(command as unknown as Parameters<typeof rate>[0]);
    case "status":
      return {
        sessions: sessions.length,
        closed: sessions.filter((s) => s.closed).length,
        problem: firstProblem,
      };
    case "close": {
      stopping = true;
      for (const session of sessions) session.close();
      sessions.length = 0;
      stopping = false;
      return {};
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command.cmd)}`);
  }
});
stopping = true;
for (const session of sessions) session.close();
reply_({ ok: true, bye: true });
Deno.exit(0);
