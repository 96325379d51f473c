/**
 * Fan-out through a cluster (issue 15): the same N sessions in one room, the same load
 * generators and the same measurement as the fan-out section, against three set-ups in one
 * run: one server with its embedded SQLite store, one server with the NATS store (`--cluster`,
 * alone), and two servers sharing one NATS with half the sessions on each, so that every other
 * delivery crosses servers. A `nats-server` is started on a free loopback port for the run (the
 * section is skipped, saying so, when none is installed).
 *
 * @module
 */

import { sleep } from "../lib/child.ts";
import { cpuSeconds } from "../lib/cpu.ts";
import { LoadGroup } from "../lib/loadgens.ts";
import type { BenchPki } from "../lib/pki.ts";
import { type RunningServer, startOpenchat } from "../lib/servers.ts";
import { mergedPercentiles, type ReducedSamples, round } from "../lib/stats.ts";
import { NatsServer, natsServerBinary } from "../../tests/support/nats_server.ts";
import { MEMBER_PROBE_RATE, MEMBER_PROBE_SESSIONS } from "./fanout.ts";

/** How the section runs. */
export interface ClusterConfig {
  sizes: number[];
  warmupMs: number;
  measureMs: number;
  inFlightDeliveries: number;
  probes: number;
}

/** The three set-ups, in the order they run. */
export type ClusterSetup = "one_sqlite" | "one_nats" | "two_nats";

/** One set-up at one N. */
export interface ClusterFigure {
  setup: ClusterSetup;
  n: number;
  deliveriesPerSec: number;
  messagesPerSec: number;
  /** CPU of every openchat server (not NATS) per delivery in the saturation window. */
  serverCpuUsPerDelivery: number;
  /** CPU of nats-server per delivery (0 for the SQLite set-up). */
  natsCpuUsPerDelivery: number;
  half: { messagesPerSec: number; deliveredShare: number; p50Ms: number; p99Ms: number };
  problems: string[];
}

/** The section's result. */
export interface ClusterResult {
  config: ClusterConfig;
  natsServer: string;
  figures: ClusterFigure[];
  skipped: string[];
}

/** Runs the section. */
export async function runCluster(
  pki: BenchPki,
  config: ClusterConfig,
  log: (line: string) => void,
): Promise<ClusterResult> {
  let version = "none";
  try {
    const out = await new Deno.Command(natsServerBinary(), { args: ["--version"], stdout: "piped" })
      .output();
    version = new TextDecoder().decode(out.stdout).trim();
  } catch (error) {
    const why = `cluster: skipped (${(error as Error).message})`;
    log(why);
    return { config, natsServer: version, figures: [], skipped: [why] };
  }
  const figures: ClusterFigure[] = [];
  let run = 0;
  for (const n of config.sizes) {
    for (const setup of ["one_sqlite", "one_nats", "two_nats"] as const) {
      log(`cluster: ${setup}, N=${n} ...`);
      const nats = setup === "one_sqlite" ? undefined : await NatsServer.start();
      try {
        const figure = await measure(setup, n, pki, config, nats, `b${++run}`);
        log(
          `  ${Math.round(figure.deliveriesPerSec)} deliveries/s; at half rate p50 ${
            figure.half.p50Ms.toFixed(2)
          } ms, p99 ${figure.half.p99Ms.toFixed(2)} ms${
            figure.problems.length ? `; problems: ${figure.problems.join("; ")}` : ""
          }`,
        );
        figures.push(figure);
      } finally {
        await nats?.dispose();
      }
    }
  }
  return { config, natsServer: version, figures, skipped: [] };
}

async function natsPid(nats: NatsServer): Promise<number | undefined> {
  // The harness does not hand out the child's pid; find it by its port on the command line.
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmd.includes("nats-server") && cmd.includes(`\0${nats.port}\0`)) {
        return Number(entry.name);
      }
    } catch {
      // gone
    }
  }
  return undefined;
}

async function cpuOf(pids: (number | undefined)[]): Promise<number> {
  let total = 0;
  for (const pid of pids) if (pid !== undefined) total += await cpuSeconds(pid);
  return total;
}

async function measure(
  setup: ClusterSetup,
  n: number,
  pki: BenchPki,
  config: ClusterConfig,
  nats: NatsServer | undefined,
  prefix: string,
): Promise<ClusterFigure> {
  const servers: RunningServer[] = [];
  const cluster = nats && { url: nats.url, prefix };
  servers.push(await startOpenchat(pki, { cluster }));
  if (setup === "two_nats") servers.push(await startOpenchat(pki, { cluster }));
  const natsProcess = nats && await natsPid(nats);
  // Two load processes whatever the set-up: in the two-server one, each holds the sessions of
  // one server; the member probes sit on the last server.
  const group = LoadGroup.start(2);
  const members = LoadGroup.start(1, 100);
  const serverOf = (i: number) => servers[i % servers.length]!;
  try {
    const senders = n - MEMBER_PROBE_SESSIONS;
    await group.each((i) => ({
      cmd: "setup",
      kind: "openchat",
      port: serverOf(i).port,
      usersFile: pki.usersFile,
      procId: 1 + i,
      from: Math.floor((i * senders) / 2),
      to: Math.floor(((i + 1) * senders) / 2),
      room: "bench",
      concurrency: 32,
    }));
    await members.setup(serverOf(1), pki.usersFile, senders, n, { room: "bench" });
    const window = Math.max(2, Math.ceil(config.inFlightDeliveries / (n - 1) / group.size));
    const saturate = { cmd: "saturate", warmupMs: config.warmupMs, measureMs: config.measureMs };
    const saturating = Promise.all([
      group.all({ ...saturate, window }),
      members.all({ ...saturate, window: 1 }),
    ]).then(([a, b]) => [...a, ...b]);
    await sleep(config.warmupMs);
    const pids = servers.map((s) => s.pid);
    const cpuBefore = await cpuOf(pids);
    const natsBefore = await cpuOf([natsProcess]);
    await sleep(config.measureMs);
    const cpuAfter = await cpuOf(pids);
    const natsAfter = await cpuOf([natsProcess]);
    const saturated = await saturating;
    const deliveriesPerSec = saturated
      .map((r) => (r.deliveries as number) / (r.seconds as number))
      .reduce((a, b) => a + b, 0);
    const inWindow = deliveriesPerSec * (config.measureMs / 1000);
    const messagesPerSec = deliveriesPerSec / (n - 1);
    const halfRate = messagesPerSec / 2;
    const phase = { cmd: "rate", warmupMs: config.warmupMs / 2, measureMs: config.measureMs };
    const [loaded, member] = await Promise.all([
      group.all({
        ...phase,
        rate: Math.max(1, (halfRate - MEMBER_PROBE_RATE) / group.size),
        probes: config.probes,
      }),
      members.all({ ...phase, rate: MEMBER_PROBE_RATE, probes: MEMBER_PROBE_SESSIONS }),
    ]);
    const paced = [...loaded, ...member];
    const halfDeliveries = paced
      .map((r) => (r.deliveries as number) / (r.seconds as number))
      .reduce((a, b) => a + b, 0);
    const latency = mergedPercentiles(member.map((r) => r.latency as ReducedSamples));
    const problems = [...saturated, ...paced].map((r) => r.problem as string).filter((p) => p);
    if (problems.length) {
      // The servers' side of a refusal: the first store line each logged, cut short.
      for (const [i, server] of servers.entries()) {
        const first = server.storeErrors?.()[0];
        if (first) problems.push(`server ${i}: ${first.slice(0, 400)}`);
      }
    }
    return {
      setup,
      n,
      deliveriesPerSec: round(deliveriesPerSec),
      messagesPerSec: round(messagesPerSec),
      serverCpuUsPerDelivery: round(((cpuAfter - cpuBefore) / inWindow) * 1e6),
      natsCpuUsPerDelivery: round(((natsAfter - natsBefore) / inWindow) * 1e6),
      half: {
        messagesPerSec: round(halfRate),
        deliveredShare: round(halfDeliveries / (halfRate * (n - 1))),
        p50Ms: round(latency.p50),
        p99Ms: round(latency.p99),
      },
      problems: [...new Set(problems)].slice(0, 5),
    };
  } finally {
    await group.all({ cmd: "close" }).catch(() => {});
    await members.all({ cmd: "close" }).catch(() => {});
    await group.stop();
    await members.stop();
    for (const server of servers) await server.stop();
  }
}
