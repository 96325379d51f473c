/**
 * Connections: how the server's cost grows with idle authenticated sessions, and what a set-up
 * costs it.
 *
 * - **Scale curve.** One server; idle sessions (TLS, proof of identity, announce, join, in rooms
 *   of `roomSize`) are added in steps up to each count of `steps` (1k, 5k, 10k, 20k in a full
 *   run). At each: the server's settled RSS, its open descriptors, and how fast the step's
 *   set-ups went (and the server's CPU per set-up in it). Memory per idle session is the RSS
 *   slope between steps, so the runtime's fixed cost drops out. A step the descriptor limit
 *   cannot hold is lowered to fit, and the report says so.
 * - **Transport floor.** The bare relay (same TLS listener and framed connection, nothing else)
 *   with `floorConnections` idle connections: the transport's share of a session's memory.
 * - **Set-up burst.** A fresh server (no certificate seen before, as after a restart) and a
 *   burst of `burst` set-ups from load generators pinned away from the server's CPU: the server's
 *   CPU per set-up and set-ups per second, with each side's CPU utilisation.
 *
 * @module
 */

import { rssKiB, sleep } from "../lib/child.ts";
import { CpuWindow } from "../lib/cpu.ts";
import { LoadGroup } from "../lib/loadgens.ts";
import type { BenchPki } from "../lib/pki.ts";
import { openFileLimits, openFiles } from "../lib/placement.ts";
import { startBare, startOpenchat } from "../lib/servers.ts";
import { round } from "../lib/stats.ts";

/** What the connections section is asked to do. */
export interface ConnectionsConfig {
  /** Idle session counts of the scale curve, ascending. */
  steps: number[];
  /** Members per room for the idle sessions. */
  roomSize: number;
  /** Sessions set up at once for the burst on a fresh server. */
  burst: number;
  /** Least time to let the server's heap settle before reading its RSS. */
  settleMs: number;
  /** Most sessions one load generator process holds. */
  sessionsPerLoadProcess: number;
  /** Idle connections to the bare relay for the transport's own share. */
  floorConnections: number;
}

/** The bare relay's memory per idle connection (TLS listener and framed connection only). */
export interface TransportFloor {
  connections: number;
  kibPerConnection: number;
}

/** One point of the scale curve. */
export interface ScalePoint {
  /** Idle sessions open. */
  sessions: number;
  /** Asked for, when the descriptor limit lowered it. */
  asked?: number;
  rssKiB: number;
  /** RSS slope from the previous point (from the empty server for the first). */
  kibPerSession: number;
  /** Descriptors the server has open. */
  fds: number;
  /** Set-ups of this step (from the previous count), per second of wall time. */
  setupsPerSec: number;
  /** Server CPU per set-up in this step. */
  serverCpuMsPerSetup: number;
  /** Share of a core the server and the load generators were busy during this step's set-ups. */
  serverBusy: number;
  loadBusy: number;
  foreign: number;
}

/** The set-up burst on a fresh server. */
export interface SetupBurst {
  count: number;
  seconds: number;
  setupsPerSec: number;
  serverCpuMsPerSetup: number;
  loadCpuMsPerSetup: number;
  serverBusy: number;
  loadBusy: number;
  foreign: number;
  loadAverage: number;
}

/** The connections section's result. */
export interface ConnectionsResult {
  config: ConnectionsConfig;
  /** The server's open-file limits (soft, hard). */
  fdLimit: { soft: number; hard: number };
  emptyRssKiB: number;
  emptyFds: number;
  curve: ScalePoint[];
  /** RSS slope over the whole curve (first to last point): memory per idle session. */
  kibPerSession: number;
  floor: TransportFloor;
  burst: SetupBurst;
  notes: string[];
}

/**
 * RSS once it has settled. V8 shrinks its heap by itself (its memory reducer) some seconds after
 * allocation stops: here about 12 s after a burst of set-ups, RSS fell by a quarter at once,
 * after holding steady for 10 s. Reading RSS before that counts the set-ups' garbage as memory
 * the idle sessions hold. So: wait `settleMs` (15 s or more), then until three readings a second
 * apart agree within 1% (at most 20 s more). A forced `gc()` does not do this: it collects but
 * keeps the pages.
 */
async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const readings = [await rssKiB(pid)];
  for (let i = 0; i < 20; i++) {
    await sleep(1000);
    readings.push(await rssKiB(pid));
    const last = readings.slice(-3);
    if (last.length === 3 && Math.max(...last) - Math.min(...last) <= last[0]! * 0.01) break;
  }
  return readings.at(-1)!;
}

/** Descriptors kept free of sessions in the server (its runtime, listener, store, pipes). */
const FD_MARGIN = 64;

/** Runs the connections section. */
export async function runConnections(
  pki: BenchPki,
  config: ConnectionsConfig,
  log: (line: string) => void,
): Promise<ConnectionsResult> {
  const notes: string[] = [];
  const top = config.steps.at(-1)!;
  const server = await startOpenchat(pki);
  const processes = Math.max(2, Math.ceil(top / config.sessionsPerLoadProcess));
  const group = LoadGroup.start(processes);
  const curve: ScalePoint[] = [];
  let fdLimit: { soft: number; hard: number };
  let emptyRss: number;
  let emptyFds: number;
  try {
    fdLimit = await openFileLimits(server.pid);
    emptyRss = await settledRss(server.pid, config.settleMs);
    emptyFds = await openFiles(server.pid);
    let open = 0;
    let lastRss = emptyRss;
    for (const asked of config.steps) {
      const room = fdLimit.soft - emptyFds - FD_MARGIN;
      const target = Math.min(asked, room);
      if (target <= open) {
        notes.push(
          `${
            asked.toLocaleString("en-US")
          } idle sessions skipped: the server may open ${fdLimit.soft} files (soft limit; hard ${fdLimit.hard})`,
        );
        continue;
      }
      if (target < asked) {
        notes.push(
          `${asked.toLocaleString("en-US")} idle sessions need ${
            asked + emptyFds
          } descriptors; the server may open ${fdLimit.soft} (hard limit ${fdLimit.hard}): measured at ${
            target.toLocaleString("en-US")
          }`,
        );
      }
      log(`connections: ${target} idle sessions ...`);
      const window = await CpuWindow.start({ server: [server.pid], load: group.pids });
      const setup = await group.setup(server, pki.usersFile, open, target, {
        roomSize: config.roomSize,
        concurrency: Math.ceil(128 / processes),
      });
      const cpu = await window.stop();
      const added = target - open;
      open = target;
      const rss = await settledRss(server.pid, config.settleMs);
      const fds = await openFiles(server.pid);
      const previous = curve.at(-1)?.sessions ?? 0;
      curve.push({
        sessions: target,
        ...(target < asked ? { asked } : {}),
        rssKiB: rss,
        kibPerSession: round((rss - lastRss) / (target - previous)),
        fds,
        setupsPerSec: round(added / setup.seconds),
        serverCpuMsPerSetup: round((cpu.cpu.server! / added) * 1000),
        serverBusy: round(cpu.busy.server!),
        loadBusy: round(cpu.busy.load!),
        foreign: round(cpu.foreign),
      });
      lastRss = rss;
      const point = curve.at(-1)!;
      log(
        `  RSS ${
          Math.round(rss / 1024)
        } MiB (${point.kibPerSession} KiB per session added), ${fds} descriptors, ${point.setupsPerSec} set-ups/s (server ${point.serverCpuMsPerSetup} ms CPU each)`,
      );
    }
    const status = await group.all({ cmd: "status" });
    const closed = status.reduce((a, r) => a + (r.closed as number), 0);
    if (closed > 0) throw new Error(`${closed} idle sessions were closed: ${status[0]?.problem}`);
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await server.stop();
  }
  const first = curve[0];
  const last = curve.at(-1);
  const kibPerSession = first && last && last !== first
    ? (last.rssKiB - first.rssKiB) / (last.sessions - first.sessions)
    : first
    ? (first.rssKiB - emptyRss) / first.sessions
    : NaN;

  const floor = await transportFloor(pki, config, log);
  const burst = await setupBurst(pki, config, log);
  return {
    config,
    fdLimit,
    emptyRssKiB: emptyRss,
    emptyFds,
    curve,
    kibPerSession: round(kibPerSession),
    floor,
    burst,
    notes,
  };
}

/**
 * What an idle connection costs the bare relay (the same TLS listener and framed connection as
 * the server, nothing else): the transport's share of an idle session's memory.
 */
async function transportFloor(
  pki: BenchPki,
  config: ConnectionsConfig,
  log: (line: string) => void,
): Promise<TransportFloor> {
  const connections = config.floorConnections;
  const server = await startBare(pki);
  const group = LoadGroup.start(2);
  try {
    const empty = await settledRss(server.pid, config.settleMs);
    log(`connections: the bare relay with ${connections} idle connections ...`);
    await group.setup(server, pki.usersFile, 0, connections, { concurrency: 64 });
    const rss = await settledRss(server.pid, config.settleMs);
    const floor = { connections, kibPerConnection: round((rss - empty) / connections) };
    log(`  ${floor.kibPerConnection} KiB per idle connection`);
    return floor;
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await server.stop();
  }
}

/** A burst of set-ups on a fresh server (no certificate seen before, as after a restart). */
async function setupBurst(
  pki: BenchPki,
  config: ConnectionsConfig,
  log: (line: string) => void,
): Promise<SetupBurst> {
  const server = await startOpenchat(pki);
  const group = LoadGroup.start(2);
  try {
    // Let the fresh server finish starting (module compilation) before the clock starts.
    await sleep(1000);
    log(`connections: burst of ${config.burst} set-ups on a fresh server ...`);
    const window = await CpuWindow.start({ server: [server.pid], load: group.pids });
    const result = await group.setup(server, pki.usersFile, 0, config.burst, {
      roomSize: config.roomSize,
      concurrency: 64,
    });
    const cpu = await window.stop();
    const burst: SetupBurst = {
      count: config.burst,
      seconds: round(result.seconds),
      setupsPerSec: round(config.burst / result.seconds),
      serverCpuMsPerSetup: round((cpu.cpu.server! / config.burst) * 1000),
      loadCpuMsPerSetup: round((cpu.cpu.load! / config.burst) * 1000),
      serverBusy: round(cpu.busy.server!),
      loadBusy: round(cpu.busy.load!),
      foreign: round(cpu.foreign),
      loadAverage: cpu.load,
    };
    log(
      `  ${burst.setupsPerSec} set-ups/s; server ${burst.serverCpuMsPerSetup} ms CPU each (${
        Math.round(burst.serverBusy * 100)
      }% busy), load generators ${burst.loadCpuMsPerSetup} ms each (${
        Math.round(burst.loadBusy * 100)
      }%)`,
    );
    return burst;
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await server.stop();
  }
}
