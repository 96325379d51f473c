/**
 * Catching up (issue 12's offline delivery, on the client): bob is a member of a room but
 * offline while `senders` other members send `messages` messages into it between them; then
 * bob's client starts and shows them all. (Several senders, as in a room: a single one starts a
 * new chain every 100 messages and a client keeps the newest 64 epochs of each sender, so one
 * sender's messages past 6,400 could not all be read.) All are real `openchat join --json`
 * processes against a server with its store, so bob's client does everything a person's would: set-up, its inbox first (the senders' chain keys,
 * wrapped to bob's pre-keys: a new chain every 100 messages), then the room's log, each message
 * verified, decrypted, kept in its local history and printed.
 *
 * Timed: from bob's session being set up (`status: connected`) to the last message shown, and
 * from starting the process; and bob's CPU time over its whole run.
 *
 * @module
 */

import { cpuSeconds } from "../lib/cpu.ts";
import { type Member, memberFiles, nextEvent, spawnMember, stopMember } from "../lib/clients.ts";
import type { BenchPki, UsersFile } from "../lib/pki.ts";
import { startOpenchat } from "../lib/servers.ts";
import { round } from "../lib/stats.ts";

const encoder = new TextEncoder();
/** Length of each line a sender types. */
export const LINE_CHARS = 100;
const ROOM = "catchup";

/** What the catch-up section is asked to do. */
export interface CatchupConfig {
  /** Messages stored while bob is away, from all senders together. */
  messages: number;
  /** Members who send them (each an `openchat join` process). */
  senders: number;
  /** Lines each sender has typed and not seen delivered, at most. */
  window: number;
}

/** The catch-up section's result. */
export interface CatchupResult {
  config: CatchupConfig;
  /** How long the senders took to send them (each delivered = stored by the server). */
  sendSeconds: number;
  /** Messages bob showed, marked as history, verified. */
  shown: number;
  verified: number;
  /** From bob's `status: connected` to the last message shown. */
  catchupSeconds: number;
  /** From starting bob's process to the last message shown. */
  totalSeconds: number;
  /** Bob's CPU time over its whole run (start-up, set-up and catch-up). */
  clientCpuSeconds: number;
  /** Messages shown per second of bob's CPU. */
  perCpuSecond: number;
  errors: string[];
}

/** Runs the catch-up section. */
export async function runCatchup(
  pki: BenchPki,
  config: CatchupConfig,
  log: (line: string) => void,
): Promise<CatchupResult> {
  const file: UsersFile = JSON.parse(await Deno.readTextFile(pki.usersFile));
  const server = await startOpenchat(pki);
  const dir = await Deno.makeTempDir({ prefix: "openchat-bench-catchup-" });
  const running: Member[] = [];
  const start = (index: number, files: { identityFile: string; configDir: string }) => {
    const member = spawnMember(index, server.port, files, ROOM);
    running.push(member);
    return member;
  };
  try {
    // Bob is user 0; the senders are users 1..senders.
    const bobFiles = await memberFiles(dir, file, 0);
    const senders: Member[] = [];
    log(`catch-up: bob and ${config.senders} members join, bob leaves ...`);
    for (let i = 1; i <= config.senders; i++) {
      senders.push(start(i, await memberFiles(dir, file, i)));
    }
    await Promise.all(senders.map((m) => nextEvent(m, (e) => e.type === "ready", 60_000, "ready")));
    let bob = start(0, bobFiles);
    await nextEvent(bob, (e) => e.type === "ready", 60_000, "ready");
    await stopMember(bob);
    running.splice(running.indexOf(bob), 1);
    // The senders learn that bob's device is offline before they type.
    await sleep(500);

    log(`catch-up: ${config.messages} messages while bob is offline ...`);
    const t = performance.now();
    await Promise.all(senders.map((sender, i) => {
      const share = Math.floor(config.messages / config.senders) +
        (i < config.messages % config.senders ? 1 : 0);
      return send(sender, share, config.window);
    }));
    const sendSeconds = (performance.now() - t) / 1000;

    log("catch-up: bob comes back ...");
    const t0 = performance.now();
    bob = start(0, bobFiles);
    let connectedAt = NaN;
    let shown = 0;
    let verified = 0;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`bob showed ${shown} of ${config.messages} in 120 s: ${bob.stderr}`)),
        120_000,
      );
      bob.onEvent = (event) => {
        if (event.type === "status" && event.state === "connected") connectedAt = performance.now();
        if (event.type !== "message" || !event.history) return;
        shown += 1;
        if (event.verified) verified += 1;
        if (shown === config.messages) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    await done;
    const end = performance.now();
    const clientCpuSeconds = await cpuSeconds(bob.child.pid);
    return {
      config,
      sendSeconds: round(sendSeconds),
      shown,
      verified,
      catchupSeconds: round((end - connectedAt) / 1000),
      totalSeconds: round((end - t0) / 1000),
      clientCpuSeconds: round(clientCpuSeconds),
      perCpuSecond: round(shown / clientCpuSeconds),
      errors: [...new Set([...senders.flatMap((m) => m.errors), ...bob.errors])].slice(0, 3),
    };
  } finally {
    await Promise.all(running.map(stopMember));
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `sender` types `count` lines, at most `window` not yet delivered. */
async function send(sender: Member, count: number, window: number): Promise<void> {
  const t0 = performance.now();
  let typed = 0;
  let delivered = 0;
  let undelivered = "";
  let wake: (() => void) | undefined;
  sender.onEvent = (event) => {
    if (event.type === "delivered") delivered += 1;
    else if (event.type === "undelivered") undelivered ||= String(event.reason);
    else return;
    wake?.();
  };
  const deadline = t0 + 300_000;
  while (delivered < count) {
    if (undelivered) throw new Error(`a message was not delivered: ${undelivered}`);
    while (typed < count && typed - delivered < window) {
      const text = `catchup-${sender.index}-${typed}-`.padEnd(LINE_CHARS, "x");
      typed += 1;
      void sender.stdin.write(encoder.encode(text + "\n"));
    }
    if (performance.now() > deadline) {
      throw new Error(`client ${sender.index}: ${delivered} of ${count} delivered in 300 s`);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, 1000);
    });
    clearTimeout(timer);
  }
  sender.onEvent = undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
