/**
 * Relay fan-out: N sessions in one room, each sending 300-byte payloads; deliveries per second
 * at saturation (closed loop), then p50/p99 delivery latency at half that rate (open loop), for
 * openchat, the bare relay and InspIRCd, one after another for each N.
 *
 * @module
 */

import { sleep } from "../lib/child.ts";
import { cpuSeconds } from "../lib/cpu.ts";
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

/** What one fan-out run is asked to do. */
export interface FanoutConfig {
  sizes: number[];
  warmupMs: number;
  measureMs: number;
  /** Deliveries kept in flight by the closed loop, over all load processes. */
  inFlightDeliveries: number;
  /** Receivers per load process that time deliveries. */
  probes: number;
}

/** One server at one N. */
export interface FanoutFigure {
  server: "openchat" | "bare" | "bare_deno" | "irc";
  n: number;
  loadProcesses: number;
  /** Closed-loop saturation. */
  deliveriesPerSec: number;
  messagesPerSec: number;
  /** Server CPU (user + system) per delivery during the saturation window. */
  serverCpuUsPerDelivery: number;
  /** Open loop at half the saturation message rate. */
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
  };
  problems: string[];
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
  const irc = await ensureInspircd(log);
  const skipped: string[] = [];
  if (typeof irc === "string") {
    log(irc);
    skipped.push(irc);
  }
  const figures: FanoutFigure[] = [];
  for (const n of config.sizes) {
    for (const kind of ["openchat", "bare", "bare_deno", "irc"] as const) {
      if (kind === "irc" && typeof irc === "string") continue;
      log(`fan-out: ${kind}, N=${n} ...`);
      const figure = await measure(kind, n, pki, config, irc as InspircdInstall);
      log(
        `  ${Math.round(figure.deliveriesPerSec)} deliveries/s; at half rate p50 ${
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

async function start(
  kind: "openchat" | "bare" | "bare_deno" | "irc",
  pki: BenchPki,
  irc: InspircdInstall,
): Promise<RunningServer> {
  switch (kind) {
    case "openchat":
      return await startOpenchat(pki);
    case "bare":
      return await startBare(pki);
    case "bare_deno":
      return await startBare(pki, true);
    case "irc":
      return await startInspircd(irc, pki);
  }
}

async function measure(
  kind: "openchat" | "bare" | "bare_deno" | "irc",
  n: number,
  pki: BenchPki,
  config: FanoutConfig,
  irc: InspircdInstall,
): Promise<FanoutFigure> {
  const server = await start(kind, pki, irc);
  const group = LoadGroup.start(n >= 1000 ? 2 : 1);
  const members = LoadGroup.start(1, 100);
  try {
    await group.setup(server, pki.usersFile, 0, n - MEMBER_PROBE_SESSIONS, {
      room: "bench",
      concurrency: 64,
    });
    await members.setup(server, pki.usersFile, n - MEMBER_PROBE_SESSIONS, n, { room: "bench" });
    const window = Math.max(2, Math.ceil(config.inFlightDeliveries / (n - 1) / group.size));
    const saturate = { cmd: "saturate", warmupMs: config.warmupMs, measureMs: config.measureMs };
    const saturating = Promise.all([
      group.all({ ...saturate, window }),
      members.all({ ...saturate, window: 1 }),
    ]).then(([a, b]) => [...a, ...b]);
    await sleep(config.warmupMs);
    const cpuBefore = await cpuSeconds(server.pid);
    await sleep(config.measureMs);
    const cpuAfter = await cpuSeconds(server.pid);
    const saturated = await saturating;
    const deliveriesPerSec = sum(
      saturated.map((r) => (r.deliveries as number) / (r.seconds as number)),
    );
    const deliveriesInWindow = deliveriesPerSec * (config.measureMs / 1000);
    const messagesPerSec = deliveriesPerSec / (n - 1);
    const halfRate = messagesPerSec / 2;
    const phase = { cmd: "rate", warmupMs: config.warmupMs / 2, measureMs: config.measureMs };
    const [loaded, member] = await Promise.all([
      group.all({
        ...phase,
        rate: (halfRate - MEMBER_PROBE_RATE) / group.size,
        probes: config.probes,
      }),
      members.all({ ...phase, rate: MEMBER_PROBE_RATE, probes: MEMBER_PROBE_SESSIONS }),
    ]);
    const paced = [...loaded, ...member];
    const halfDeliveries = sum(paced.map((r) => (r.deliveries as number) / (r.seconds as number)));
    const latency = mergedPercentiles(member.map((r) => r.latency as ReducedSamples));
    const generatorLatency = mergedPercentiles(loaded.map((r) => r.latency as ReducedSamples));
    const problems = [...saturated, ...paced]
      .map((r) => r.problem as string)
      .filter((p) => p);
    return {
      server: kind,
      n,
      loadProcesses: group.size,
      deliveriesPerSec: round(deliveriesPerSec),
      messagesPerSec: round(messagesPerSec),
      serverCpuUsPerDelivery: round(((cpuAfter - cpuBefore) / deliveriesInWindow) * 1e6),
      half: {
        messagesPerSec: round(halfRate),
        deliveriesPerSec: round(halfDeliveries),
        deliveredShare: round(halfDeliveries / (halfRate * (n - 1))),
        p50Ms: round(latency.p50),
        p99Ms: round(latency.p99),
        samples: latency.count,
        loadGeneratorP50Ms: round(generatorLatency.p50),
        loadGeneratorP99Ms: round(generatorLatency.p99),
      },
      problems: [...new Set(problems)].slice(0, 3),
    };
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await members.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await members.stop();
    await server.stop();
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
