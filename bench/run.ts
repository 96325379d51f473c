/**
 * `deno task bench`: the performance benchmark (issues 5, 12 and 14). Runs each section (relay
 * fan-out beside the same server without its store, a bare relay and InspIRCd; connections and
 * the scale curve; client crypto beside Python; catching up stored messages; end to end with
 * real clients), prints a report whose every throughput says whether the server was the
 * bottleneck, and a table of the targets, met or not; and writes the same figures as JSON to
 * `bench/results/latest.json` with the Deno version, CPU count, placement, load and parameters.
 *
 * Usage: `deno task bench [--quick] [--only fanout,connections,crypto,catchup,e2e,cluster]
 * [--sizes 10,100] [--servers openchat,openchat_nostore,bare,bare_deno,irc] [--no-pin]
 * [--out FILE]`. `--quick` uses smaller sizes and shorter windows for routine use and CI (no
 * thresholds); the targets are judged on a full run. On two or more CPUs the servers are pinned
 * to CPU 0 and the load generators to the others (`lib/placement.ts`). Every socket is on
 * 127.0.0.1; every traffic loop is bounded in count and time.
 *
 * @module
 */

import { join } from "node:path";
import { preparePki } from "./lib/pki.ts";
import { type CatchupResult, runCatchup } from "./sections/catchup.ts";
import { type ConnectionsResult, runConnections } from "./sections/connections.ts";
import { type CryptoResult, runCrypto } from "./sections/crypto.ts";
import { type E2EResult, runE2E } from "./sections/e2e.ts";
import { type ClusterResult, runCluster } from "./sections/cluster.ts";
import {
  FANOUT_SERVERS,
  type FanoutResult,
  type FanoutServer,
  runFanout,
} from "./sections/fanout.ts";
import { report } from "./lib/report.ts";
import { targets } from "./lib/targets.ts";
import { loadAverage } from "./lib/cpu.ts";
import { openchatTree, placement } from "./lib/placement.ts";
import { round } from "./lib/stats.ts";

const SECTIONS = ["fanout", "connections", "crypto", "catchup", "e2e", "cluster"] as const;
type Section = typeof SECTIONS[number];

function parseArgs(args: string[]) {
  let quick = false;
  let pin = true;
  let sizes: number[] | undefined;
  let servers: FanoutServer[] | undefined;
  let only: Section[] = [...SECTIONS];
  let out = new URL("./results/latest.json", import.meta.url).pathname;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg.includes("=") ? arg.slice(7) : args[++i] ?? "";
      only = value.split(",").filter((s): s is Section => {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s}`);
        return true;
      });
    } else if (arg === "--out") out = args[++i] ?? out;
    else if (arg === "--no-pin") pin = false;
    else if (arg === "--sizes") {
      sizes = (args[++i] ?? "").split(",").map((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 3) throw new Error(`bad size ${v}`);
        return n;
      });
    } else if (arg === "--servers") {
      servers = (args[++i] ?? "").split(",").filter((s): s is FanoutServer => {
        if (!(FANOUT_SERVERS as readonly string[]).includes(s)) {
          throw new Error(`unknown server ${s}`);
        }
        return true;
      });
    } else if (arg === "--help" || arg === "-h") {
      console.log(
        "usage: deno task bench [--quick] [--only fanout,connections,crypto,catchup,e2e,cluster] " +
          `[--sizes 10,100] [--servers ${FANOUT_SERVERS.join(",")}] [--no-pin] [--out FILE]`,
      );
      Deno.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return { quick, only, out, pin, sizes, servers };
}

/** Sizes and windows of a full run and of a quick one. */
function parameters(quick: boolean) {
  return quick
    ? {
      fanout: {
        sizes: [10, 100],
        servers: [...FANOUT_SERVERS],
        warmupMs: 500,
        measureMs: 1500,
        inFlightDeliveries: 10_000,
        attempts: 1,
        probes: 8,
      },
      connections: {
        steps: [200, 1000],
        roomSize: 10,
        burst: 300,
        settleMs: 15_000,
        sessionsPerLoadProcess: 5000,
        floorConnections: 1000,
      },
      crypto: { seconds: 0.4, rotations: 5 },
      catchup: { messages: 400, senders: 2, window: 32 },
      e2e: { roomSizes: [3], warmupMs: 500, measureMs: 1500, window: 8 },
      cluster: {
        sizes: [100],
        warmupMs: 300,
        measureMs: 1000,
        inFlightDeliveries: 3000,
        probes: 8,
      },
    }
    : {
      fanout: {
        sizes: [10, 100, 1000],
        servers: [...FANOUT_SERVERS],
        warmupMs: 1000,
        measureMs: 4000,
        inFlightDeliveries: 10_000,
        attempts: 3,
        probes: 8,
      },
      connections: {
        steps: [1000, 5000, 10_000, 20_000],
        roomSize: 10,
        burst: 1000,
        settleMs: 20_000,
        sessionsPerLoadProcess: 5000,
        floorConnections: 5000,
      },
      crypto: { seconds: 2, rotations: 20 },
      catchup: { messages: 10_000, senders: 4, window: 32 },
      e2e: { roomSizes: [3, 10], warmupMs: 1000, measureMs: 4000, window: 8 },
      cluster: {
        sizes: [10, 100],
        warmupMs: 1000,
        measureMs: 4000,
        inFlightDeliveries: 3000,
        probes: 8,
      },
    };
}

async function machine() {
  let cpuModel = "unknown";
  try {
    cpuModel = (await Deno.readTextFile("/proc/cpuinfo")).match(/^model name\s*:\s*(.+)$/m)?.[1] ??
      cpuModel;
  } catch {
    // not Linux
  }
  let commit = "unknown";
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (out.code === 0) commit = new TextDecoder().decode(out.stdout).trim();
  } catch {
    // no git
  }
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    cpus: navigator.hardwareConcurrency,
    cpuModel,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    memoryGiB: round(Deno.systemMemoryInfo().total / 2 ** 30),
    commit,
  };
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  const params = parameters(args.quick);
  if (args.sizes) params.fanout.sizes = args.sizes;
  if (args.servers) params.fanout.servers = args.servers;
  const where = await placement(args.pin);
  const started = performance.now();
  const log = (line: string) =>
    console.error(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const meta = {
    ...(await machine()),
    quick: args.quick,
    date: new Date().toISOString(),
    placement: where.note,
    openchat: openchatTree() ?? "this checkout",
    loadAverageAtStart: await loadAverage(),
  };
  log(`${where.note}; load average ${meta.loadAverageAtStart}`);
  const users = Math.max(
    args.only.includes("connections")
      ? Math.max(params.connections.steps.at(-1)!, params.connections.burst)
      : 0,
    args.only.includes("fanout") ? Math.max(...params.fanout.sizes) : 0,
    args.only.includes("e2e") ? Math.max(...params.e2e.roomSizes) : 0,
    args.only.includes("catchup") ? params.catchup.senders + 1 : 0,
    args.only.includes("cluster") ? Math.max(...params.cluster.sizes) : 0,
    2,
  );
  log(`preparing a CA and ${users} user certificates ...`);
  const pki = await preparePki(users);
  let fanout: FanoutResult | undefined;
  let connections: ConnectionsResult | undefined;
  let crypto: CryptoResult | undefined;
  let catchup: CatchupResult | undefined;
  let e2e: E2EResult | undefined;
  let cluster: ClusterResult | undefined;
  try {
    if (args.only.includes("crypto")) crypto = await runCrypto(params.crypto, log);
    if (args.only.includes("fanout")) fanout = await runFanout(pki, params.fanout, log);
    if (args.only.includes("connections")) {
      connections = await runConnections(pki, params.connections, log);
    }
    if (args.only.includes("catchup")) catchup = await runCatchup(pki, params.catchup, log);
    if (args.only.includes("e2e")) e2e = await runE2E(pki, params.e2e, log);
    if (args.only.includes("cluster")) cluster = await runCluster(pki, params.cluster, log);
  } finally {
    await pki.remove().catch(() => {});
  }
  const results = {
    meta: {
      ...meta,
      loadAverageAtEnd: await loadAverage(),
      seconds: round((performance.now() - started) / 1000),
      parameters: params,
    },
    fanout,
    connections,
    crypto,
    catchup,
    e2e,
    cluster,
    targets: targets({ fanout, connections, crypto, catchup }),
  };
  console.log(report(results));
  await Deno.mkdir(join(args.out, ".."), { recursive: true });
  await Deno.writeTextFile(args.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nWrote ${args.out} (${results.meta.seconds} s)`);
  // Child processes are all stopped; exit even if a stray handle lingers.
  Deno.exit(0);
}
