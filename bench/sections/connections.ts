/**
 * Connections: the server's memory per idle authenticated session (the slope of its RSS
 * between two session counts, so the runtime's fixed cost drops out), and how many full
 * set-ups (TLS, proof of identity, announce, join) it completes per second in a burst.
 *
 * @module
 */

import { rssKiB, sleep } from "../lib/child.ts";
import { cpuSeconds } from "../lib/cpu.ts";
import { LoadGroup } from "../lib/loadgens.ts";
import type { BenchPki } from "../lib/pki.ts";
import { startOpenchat } from "../lib/servers.ts";
import { round } from "../lib/stats.ts";

/** What the connections section is asked to do. */
export interface ConnectionsConfig {
  /** RSS is read at these two session counts. */
  memoryLow: number;
  memoryHigh: number;
  /** Members per room for the idle sessions. */
  roomSize: number;
  /** Sessions set up at once for the burst. */
  burst: number;
  /** Least time to let the server's heap settle before reading its RSS. */
  settleMs: number;
}

/** The connections section's result. */
export interface ConnectionsResult {
  config: ConnectionsConfig;
  rssKiB: { empty: number; low: number; high: number };
  kibPerSession: number;
  setupsPerSec: number;
  setupBurstSeconds: number;
  serverCpuMsPerSetup: number;
}

/**
 * RSS once it has settled. V8 shrinks its heap by itself (its memory reducer) some seconds after
 * allocation stops; reading RSS before that counts the set-ups' garbage as memory the idle
 * sessions hold. So: wait `settleMs`, then until three readings a second apart agree within
 * 0.5% (at most 20 s more). A forced `gc()` does not do this: it collects but keeps the pages.
 */
async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const readings = [await rssKiB(pid)];
  for (let i = 0; i < 20; i++) {
    await sleep(1000);
    readings.push(await rssKiB(pid));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= last[0]! * 0.005) break;
  }
  return readings.at(-1)!;
}

/** Runs the connections section. */
export async function runConnections(
  pki: BenchPki,
  config: ConnectionsConfig,
  log: (line: string) => void,
): Promise<ConnectionsResult> {
  // Memory: a fresh server, idle sessions in rooms of `roomSize`, RSS at two counts.
  let server = await startOpenchat(pki);
  let group = LoadGroup.start(config.memoryHigh > 2000 ? 3 : 2);
  let empty: number, low: number, high: number;
  try {
    empty = await settledRss(server.pid, config.settleMs);
    log(`connections: ${config.memoryLow} idle sessions ...`);
    await group.setup(server, pki.usersFile, 0, config.memoryLow, { roomSize: config.roomSize });
    low = await settledRss(server.pid, config.settleMs);
    log(`connections: ${config.memoryHigh} idle sessions ...`);
    await group.setup(server, pki.usersFile, config.memoryLow, config.memoryHigh, {
      roomSize: config.roomSize,
    });
    high = await settledRss(server.pid, config.settleMs);
    const status = await group.all({ cmd: "status" });
    const closed = status.reduce((a, r) => a + (r.closed as number), 0);
    if (closed > 0) throw new Error(`${closed} idle sessions were closed: ${status[0]?.problem}`);
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await server.stop();
  }
  const kibPerSession = (high - low) / (config.memoryHigh - config.memoryLow);
  log(`  ${kibPerSession.toFixed(1)} KiB per idle session (RSS ${empty} / ${low} / ${high} KiB)`);

  // Set-ups: a fresh server (no certificate seen before), a burst from two processes.
  server = await startOpenchat(pki);
  group = LoadGroup.start(2);
  let seconds: number, cpu: number;
  try {
    log(`connections: burst of ${config.burst} set-ups ...`);
    const before = await cpuSeconds(server.pid);
    const result = await group.setup(server, pki.usersFile, 0, config.burst, {
      roomSize: config.roomSize,
      concurrency: 128,
    });
    cpu = (await cpuSeconds(server.pid)) - before;
    seconds = result.seconds;
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await server.stop();
  }
  const setupsPerSec = config.burst / seconds;
  log(`  ${setupsPerSec.toFixed(0)} set-ups/s (${seconds.toFixed(2)} s for ${config.burst})`);
  return {
    config,
    rssKiB: { empty, low, high },
    kibPerSession: round(kibPerSession),
    setupsPerSec: round(setupsPerSec),
    setupBurstSeconds: round(seconds),
    serverCpuMsPerSetup: round((cpu / config.burst) * 1000),
  };
}
