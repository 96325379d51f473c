/**
 * End to end: real clients (`openchat join --json`, one process each) in one room, each line
 * typed on a client's standard input timed until it is displayed (printed as a `message` event)
 * by every other member. Throughput is found with a closed loop (a bounded number of each
 * sender's lines not yet displayed everywhere), latency at half that rate (open loop).
 *
 * @module
 */

import { type Member, memberFiles, spawnMember, stopMember } from "../lib/clients.ts";
import type { UsersFile } from "../lib/pki.ts";
import type { BenchPki } from "../lib/pki.ts";
import { startOpenchat } from "../lib/servers.ts";
import { percentile, round } from "../lib/stats.ts";

const encoder = new TextEncoder();
/** Length of each typed line. */
export const LINE_CHARS = 100;

/** What the end-to-end section is asked to do. */
export interface E2EConfig {
  roomSizes: number[];
  warmupMs: number;
  measureMs: number;
  /** Lines per sender typed but not yet displayed everywhere, in the closed loop. */
  window: number;
}

/** One room size. */
export interface E2EFigure {
  members: number;
  /** Lines per second displayed by every other member (closed loop). */
  messagesPerSec: number;
  displaysPerSec: number;
  half: { messagesPerSec: number; p50Ms: number; p99Ms: number; samples: number };
  saturatedP99Ms: number;
  errors: string[];
}

/** The end-to-end section's result. */
export interface E2EResult {
  config: E2EConfig;
  figures: E2EFigure[];
}

/** Runs the end-to-end section. */
export async function runE2E(
  pki: BenchPki,
  config: E2EConfig,
  log: (line: string) => void,
): Promise<E2EResult> {
  const file: UsersFile = JSON.parse(await Deno.readTextFile(pki.usersFile));
  const figures: E2EFigure[] = [];
  for (const size of config.roomSizes) {
    log(`end to end: a room of ${size} clients ...`);
    figures.push(await measureRoom(pki, file, size, config));
    const f = figures.at(-1)!;
    log(
      `  ${f.messagesPerSec} messages/s displayed by all; at half rate p50 ${f.half.p50Ms} ms, p99 ${f.half.p99Ms} ms`,
    );
  }
  return { config, figures };
}

async function measureRoom(
  pki: BenchPki,
  file: UsersFile,
  size: number,
  config: E2EConfig,
): Promise<E2EFigure> {
  const server = await startOpenchat(pki);
  const dir = await Deno.makeTempDir({ prefix: "openchat-bench-e2e-" });
  const members: Member[] = [];
  try {
    for (let i = 0; i < size; i++) {
      members.push(spawnMember(i, server.port, await memberFiles(dir, file, i), "e2e"));
    }
    // Ready when every member reports the whole room with keys in place.
    await Promise.all(members.map((member) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`client ${member.index} never saw all ${size} members: ${member.stderr}`),
            ),
          60_000,
        );
        member.onEvent = (event) => {
          if (event.type === "members" && (event.members as string[]).length === size) {
            clearTimeout(timer);
            member.onEvent = undefined;
            resolve();
          }
        };
      })
    ));

    // Bookkeeping shared by both loops: typed time of each line, displays still owed.
    const typedAt = new Map<string, number>();
    const owed = new Map<string, number>();
    let measuring = false;
    let displays = 0;
    let completed = 0;
    let latencies: number[] = [];
    const inFlight = new Array(size).fill(0);
    let onComplete: ((sender: number) => void) | undefined;
    const seqs = new Array(size).fill(0);
    const type = (sender: number) => {
      const seq = seqs[sender]++;
      const key = `${sender}-${seq}`;
      const text = `e2e-${key}-`.padEnd(LINE_CHARS, "x");
      typedAt.set(key, performance.now());
      owed.set(key, size - 1);
      inFlight[sender] += 1;
      void members[sender]!.stdin.write(encoder.encode(text + "\n"));
    };
    for (const member of members) {
      member.onEvent = (event) => {
        if (event.type !== "message") return;
        const match = /^e2e-(\d+)-(\d+)-/.exec(event.text as string);
        if (!match) return;
        const key = `${match[1]}-${match[2]}`;
        const at = typedAt.get(key);
        if (at === undefined) return;
        if (measuring) {
          displays += 1;
          latencies.push(performance.now() - at);
        }
        const left = owed.get(key)! - 1;
        if (left > 0) return owed.set(key, left);
        owed.delete(key);
        typedAt.delete(key);
        const sender = Number(match[1]);
        inFlight[sender] -= 1;
        if (measuring) completed += 1;
        onComplete?.(sender);
      };
    }

    // Closed loop.
    let stopTyping = false;
    onComplete = (sender) => {
      if (!stopTyping && inFlight[sender] < config.window) type(sender);
    };
    for (let s = 0; s < size; s++) for (let k = 0; k < config.window; k++) type(s);
    await sleep(config.warmupMs);
    measuring = true;
    const t0 = performance.now();
    await sleep(config.measureMs);
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    stopTyping = true;
    const saturated = { messagesPerSec: completed / seconds, displaysPerSec: displays / seconds };
    const saturatedP99 = percentile(latencies.sort((a, b) => a - b), 99);
    await waitFor(() => owed.size === 0, 20_000);

    // Open loop at half the rate.
    onComplete = undefined;
    displays = 0;
    completed = 0;
    latencies = [];
    const rate = saturated.messagesPerSec / 2;
    const start = performance.now();
    const end = start + config.warmupMs / 2 + config.measureMs;
    let typed = 0;
    let turn = 0;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) * rate) / 1000);
      while (typed < due) {
        type(turn++ % size);
        typed += 1;
      }
      if (!measuring && performance.now() >= start + config.warmupMs / 2) measuring = true;
      await sleep(2);
    }
    await waitFor(() => owed.size === 0, 20_000);
    measuring = false;
    latencies.sort((a, b) => a - b);
    const errors = [...new Set(members.flatMap((m) => m.errors))].slice(0, 3);
    return {
      members: size,
      messagesPerSec: round(saturated.messagesPerSec),
      displaysPerSec: round(saturated.displaysPerSec),
      saturatedP99Ms: round(saturatedP99),
      half: {
        messagesPerSec: round(rate),
        p50Ms: round(percentile(latencies, 50)),
        p99Ms: round(percentile(latencies, 99)),
        samples: latencies.length,
      },
      errors,
    };
  } finally {
    await Promise.all(members.map(stopMember));
    await server.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await sleep(20);
}
