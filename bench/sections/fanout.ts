/**
 * Relay fan-out: N sessions in one room, each sending 300-byte payloads, for openchat (with its
 * message store and without), the bare relay and InspIRCd, one after another for each N.
 *
 * For each server and N: deliveries per second in a closed loop, with the CPU utilisation of
 * the server and of the load generators in the measuring window; then p50/p99 delivery latency
 * at half that rate (open loop). A throughput counts only when the server was the bottleneck
 * (at least {@linkcode SATURATED_BUSY} of its core busy); otherwise it is reported as not
 * saturated and kept out of every ratio. The primary capacity figure is the server's CPU time
 * per delivery, which does not depend on who was the bottleneck as much (a server that is not
 * saturated batches less, so its figure is an upper bound, and is marked).
 *
 * When neither side is busy (the window of messages in flight is too small for the latency, as
 * with a server that leaves Nagle's algorithm on) the run is repeated with a four times larger
 * window, a bounded number of times.
 *
 * @module
 */

import { sleep } from "../lib/child.ts";
import { CpuWindow, type CpuWindowResult } from "../lib/cpu.ts";
import { ensureInspircd, type InspircdInstall, startInspircd } from "../lib/inspircd.ts";
import { LoadGroup } from "../lib/loadgens.ts";
import type { BenchPki } from "../lib/pki.ts";
import { type RunningServer, startBare, startOpenchat } from "../lib/servers.ts";
import { mergedPercentiles, type ReducedSamples, round } from "../lib/stats.ts";

/**
 * Sessions in a separate, lightly loaded process that time deliveries the way one member would:
 * they receive everything in the room, as every member does, but not the other 98 members'
 * copies that the main load generator handles in one process.
 */
export const MEMBER_PROBE_SESSIONS = 2;
/** Messages per second the member probes send during the half-rate phase (part of the load). */
export const MEMBER_PROBE_RATE = 40;
/** Share of one core a server must have been busy for its throughput to count. */
export const SATURATED_BUSY = 0.9;
/** Share of their cores the load generators must stay under for "neither side is busy". */
const LOAD_BUSY = 0.9;

/** The servers the fan-out can measure. */
export const FANOUT_SERVERS = ["openchat", "openchat_nostore", "bare", "bare_deno", "irc"] as const;
/** One of {@linkcode FANOUT_SERVERS}. */
export type FanoutServer = typeof FANOUT_SERVERS[number];

/** What one fan-out run is asked to do. */
export interface FanoutConfig {
  sizes: number[];
  servers: FanoutServer[];
  warmupMs: number;
  measureMs: number;
  /** Deliveries kept in flight by the closed loop at first, over all load processes. */
  inFlightDeliveries: number;
  /** Closed-loop attempts with a four times larger window when neither side was busy. */
  attempts: number;
  /** Receivers per load process that time deliveries. */
  probes: number;
}

/** CPU use in a measuring window, each as a share of one core. */
export interface CpuUse {
  server: number;
  /** All load generator processes together. */
  load: number;
  /** Everything else on the machine (other jobs on a shared machine). */
  foreign: number;
  steal: number;
  /** 1-minute load average at the end of the window. */
  loadAverage: number;
}

/** One server at one N. */
export interface FanoutFigure {
  server: FanoutServer;
  n: number;
  loadProcesses: number;
  /** Messages each load process kept in flight in the closed loop that counted. */
  window: number;
  /** Closed loop: deliveries per second (counted only when `saturated`). */
  deliveriesPerSec: number;
  messagesPerSec: number;
  /** Whether the server was at least {@linkcode SATURATED_BUSY} busy in the closed loop. */
  saturated: boolean;
  /** Server CPU (user + system) per delivery during the closed-loop window. */
  serverCpuUsPerDelivery: number;
  cpu: CpuUse;
  /** Open loop at half the closed-loop message rate. */
  half: {
    messagesPerSec: number;
    deliveriesPerSec: number;
    /** Deliveries seen over deliveries owed, in the window. */
    deliveredShare: number;
    /** Latency measured by member probes in their own process (what a member sees). */
    p50Ms: number;
    p99Ms: number;
    samples: number;
    /** Latency as the main load generator saw it, with 100s of sessions in one process. */
    loadGeneratorP50Ms: number;
    loadGeneratorP99Ms: number;
    cpu: CpuUse;
  };
  problems: string[];
  /** Whether the member probes got priority on their CPU (`renice`; needs root). */
  probesPrioritised: boolean;
}

/** The fan-out section's result. */
export interface FanoutResult {
  config: FanoutConfig;
  inspircd: string;
  figures: FanoutFigure[];
  skipped: string[];
}

/** Runs the fan-out section. */
export async function runFanout(
  pki: BenchPki,
  config: FanoutConfig,
  log: (line: string) => void,
): Promise<FanoutResult> {
  const irc = config.servers.includes("irc") ? await ensureInspircd(log) : "not asked for";
  const skipped: string[] = [];
  if (typeof irc === "string" && config.servers.includes("irc")) {
    log(irc);
    skipped.push(irc);
  }
  const figures: FanoutFigure[] = [];
  for (const n of config.sizes) {
    for (const kind of config.servers) {
      if (kind === "irc" && typeof irc === "string") continue;
      log(`fan-out: ${kind}, N=${n} ...`);
      const figure = await measure(kind, n, pki, config, irc as InspircdInstall, log);
      log(
        `  ${Math.round(figure.deliveriesPerSec)} deliveries/s (${
          figure.saturated ? "saturated" : "NOT saturated"
        }; server ${pct(figure.cpu.server)}, load ${pct(figure.cpu.load)}, other ${
          pct(figure.cpu.foreign)
        } of a core); ${figure.serverCpuUsPerDelivery} µs CPU/delivery; at half rate p50 ${
          figure.half.p50Ms.toFixed(2)
        } ms, p99 ${figure.half.p99Ms.toFixed(2)} ms${
          figure.problems.length ? `; problems: ${figure.problems.join("; ")}` : ""
        }`,
      );
      figures.push(figure);
    }
  }
  return {
    config,
    inspircd: typeof irc === "string" ? "skipped" : irc.version,
    figures,
    skipped,
  };
}

const pct = (share: number) => `${Math.round(share * 100)}%`;

async function start(
  kind: FanoutServer,
  pki: BenchPki,
  irc: InspircdInstall,
): Promise<RunningServer> {
  switch (kind) {
    case "openchat":
      return await startOpenchat(pki);
    case "openchat_nostore":
      return await startOpenchat(pki, { store: false });
    case "bare":
      return await startBare(pki);
    case "bare_deno":
      return await startBare(pki, true);
    case "irc":
      return await startInspircd(irc, pki);
  }
}

function cpuUse(window: CpuWindowResult): CpuUse {
  return {
    server: round(window.busy.server!),
    load: round(window.busy.load!),
    foreign: round(window.foreign),
    steal: round(window.steal),
    loadAverage: window.load,
  };
}

async function measure(
  kind: FanoutServer,
  n: number,
  pki: BenchPki,
  config: FanoutConfig,
  irc: InspircdInstall,
  log: (line: string) => void,
): Promise<FanoutFigure> {
  const server = await start(kind, pki, irc);
  const group = LoadGroup.start(n >= 1000 ? 2 : 1);
  const members = LoadGroup.start(1, 100);
  // The member probes time deliveries on the load generators' CPU: first in line for it, so a
  // latency is the server's and the network's, not a wait behind a busy load generator.
  const prioritised = await members.prioritise();
  const groups = { server: [server.pid], load: [...group.pids, ...members.pids] };
  try {
    await group.setup(server, pki.usersFile, 0, n - MEMBER_PROBE_SESSIONS, {
      room: "bench",
      concurrency: 64,
    });
    await members.setup(server, pki.usersFile, n - MEMBER_PROBE_SESSIONS, n, { room: "bench" });
    let window = Math.max(2, Math.ceil(config.inFlightDeliveries / (n - 1) / group.size));
    let closed!: Awaited<ReturnType<typeof closedLoop>>;
    for (let attempt = 1; attempt <= config.attempts; attempt++) {
      closed = await closedLoop(group, members, config, window, groups);
      const busy = closed.cpu.busy;
      if (busy.server! >= SATURATED_BUSY || busy.load! >= LOAD_BUSY) break;
      if (attempt < config.attempts) {
        log(
          `  neither side busy (server ${pct(busy.server!)}, load ${
            pct(busy.load!)
          }) with ${window} in flight: again with ${window * 4}`,
        );
        window *= 4;
      }
    }
    const { deliveriesPerSec, cpu } = closed;
    const messagesPerSec = deliveriesPerSec / (n - 1);
    const halfRate = messagesPerSec / 2;
    const phase = { cmd: "rate", warmupMs: config.warmupMs / 2, measureMs: config.measureMs };
    const pacing = Promise.all([
      group.all({
        ...phase,
        rate: (halfRate - MEMBER_PROBE_RATE) / group.size,
        probes: config.probes,
      }),
      members.all({ ...phase, rate: MEMBER_PROBE_RATE, probes: MEMBER_PROBE_SESSIONS }),
    ]);
    await sleep(config.warmupMs / 2);
    const halfWindow = await CpuWindow.start(groups);
    await sleep(config.measureMs);
    const halfCpu = await halfWindow.stop();
    const [loaded, member] = await pacing;
    const paced = [...loaded, ...member];
    const halfDeliveries = sum(paced.map((r) => (r.deliveries as number) / (r.seconds as number)));
    const latency = mergedPercentiles(member.map((r) => r.latency as ReducedSamples));
    const generatorLatency = mergedPercentiles(loaded.map((r) => r.latency as ReducedSamples));
    const problems = [...closed.replies, ...paced]
      .map((r) => r.problem as string)
      .filter((p) => p);
    return {
      server: kind,
      n,
      loadProcesses: group.size,
      window,
      deliveriesPerSec: round(deliveriesPerSec),
      messagesPerSec: round(messagesPerSec),
      saturated: cpu.busy.server! >= SATURATED_BUSY,
      serverCpuUsPerDelivery: round((cpu.cpu.server! / (deliveriesPerSec * cpu.seconds)) * 1e6),
      cpu: cpuUse(cpu),
      half: {
        messagesPerSec: round(halfRate),
        deliveriesPerSec: round(halfDeliveries),
        deliveredShare: round(halfDeliveries / (halfRate * (n - 1))),
        p50Ms: round(latency.p50),
        p99Ms: round(latency.p99),
        samples: latency.count,
        loadGeneratorP50Ms: round(generatorLatency.p50),
        loadGeneratorP99Ms: round(generatorLatency.p99),
        cpu: cpuUse(halfCpu),
      },
      problems: [...new Set(problems)].slice(0, 3),
      probesPrioritised: prioritised,
    };
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await members.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await members.stop();
    await server.stop();
  }
}

/** One closed-loop run: deliveries per second, and CPU use over the same window. */
async function closedLoop(
  group: LoadGroup,
  members: LoadGroup,
  config: FanoutConfig,
  window: number,
  groups: Record<string, number[]>,
) {
  const saturate = { cmd: "saturate", warmupMs: config.warmupMs, measureMs: config.measureMs };
  const saturating = Promise.all([
    group.all({ ...saturate, window }),
    members.all({ ...saturate, window: 1 }),
  ]).then(([a, b]) => [...a, ...b]);
  await sleep(config.warmupMs);
  const cpuWindow = await CpuWindow.start(groups);
  await sleep(config.measureMs);
  const cpu = await cpuWindow.stop();
  const replies = await saturating;
  const deliveriesPerSec = sum(
    replies.map((r) => (r.deliveries as number) / (r.seconds as number)),
  );
  return { deliveriesPerSec, cpu, replies };
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
