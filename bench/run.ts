/**
 * `deno task bench`: the performance benchmark of issue 5. Runs each section (relay fan-out
 * beside a bare relay and InspIRCd, connections, client crypto beside Python, end to end with
 * real clients), prints a table, and writes the same figures as JSON to
 * `bench/results/latest.json` with the Deno version, CPU count and parameters.
 *
 * Usage: `deno task bench [--quick] [--only fanout,connections,crypto,e2e] [--out FILE]`.
 * `--quick` uses smaller sizes and shorter windows (under two minutes) for routine use and CI;
 * the targets are judged on a full run. Every socket is on 127.0.0.1; every traffic loop is
 * bounded in count and time.
 *
 * @module
 */

import { join } from "node:path";
import { preparePki } from "./lib/pki.ts";
import { type ConnectionsResult, runConnections } from "./sections/connections.ts";
import { type CryptoResult, runCrypto } from "./sections/crypto.ts";
import { type E2EResult, runE2E } from "./sections/e2e.ts";
import { type FanoutFigure, type FanoutResult, runFanout } from "./sections/fanout.ts";
import { type ClusterResult, runCluster } from "./sections/cluster.ts";
import { round } from "./lib/stats.ts";

const SECTIONS = ["fanout", "connections", "crypto", "e2e", "cluster"] as const;
type Section = typeof SECTIONS[number];

function parseArgs(args: string[]) {
  let quick = false;
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
    else if (arg === "--help" || arg === "-h") {
      console.log(
        "usage: deno task bench [--quick] [--only fanout,connections,crypto,e2e,cluster] [--out FILE]",
      );
      Deno.exit(0);
    } else throw new Error(`unknown argument ${arg}`);
  }
  return { quick, only, out };
}

/** Sizes and windows of a full run and of a quick one. */
function parameters(quick: boolean) {
  return quick
    ? {
      fanout: {
        sizes: [10, 100],
        warmupMs: 500,
        measureMs: 1500,
        inFlightDeliveries: 3000,
        probes: 8,
      },
      connections: { memoryLow: 200, memoryHigh: 1000, roomSize: 10, burst: 500, settleMs: 10000 },
      crypto: { seconds: 0.4, rotations: 5 },
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
        warmupMs: 1000,
        measureMs: 4000,
        inFlightDeliveries: 3000,
        probes: 8,
      },
      connections: {
        memoryLow: 1000,
        memoryHigh: 5000,
        roomSize: 10,
        burst: 1000,
        settleMs: 10000,
      },
      crypto: { seconds: 2, rotations: 20 },
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

/** One target of the issue, judged on this run's figures. */
interface Target {
  name: string;
  goal: string;
  value: string;
  met: boolean | null;
}

function fanoutOf(result: FanoutResult | undefined, server: FanoutFigure["server"], n: number) {
  return result?.figures.find((f) => f.server === server && f.n === n);
}

function targets(
  fanout?: FanoutResult,
  connections?: ConnectionsResult,
  crypto?: CryptoResult,
): Target[] {
  const list: Target[] = [];
  const ours = fanoutOf(fanout, "openchat", 100);
  const bare = fanoutOf(fanout, "bare", 100);
  const irc = fanoutOf(fanout, "irc", 100);
  if (ours && bare) {
    const ratio = ours.deliveriesPerSec / bare.deliveriesPerSec;
    list.push({
      name: "fan-out N=100 vs bare relay",
      goal: ">= 0.8x",
      value: `${ratio.toFixed(2)}x`,
      met: ratio >= 0.8,
    });
  }
  if (ours) {
    const ratio = irc ? ours.deliveriesPerSec / irc.deliveriesPerSec : NaN;
    list.push({
      name: "fan-out N=100 vs InspIRCd",
      goal: ">= 1.0x",
      value: irc ? `${ratio.toFixed(2)}x` : "skipped",
      met: irc ? ratio >= 1.0 : null,
    });
    list.push({
      name: "p99 latency at half saturation, N=100",
      goal: "< 10 ms",
      value: `${ours.half.p99Ms} ms`,
      met: ours.half.p99Ms < 10,
    });
  }
  if (connections) {
    list.push({
      name: "memory per idle authenticated session",
      goal: "<= 64 KiB",
      value: `${connections.kibPerSession} KiB`,
      met: connections.kibPerSession <= 64,
    });
    list.push({
      name: `set-ups per second (burst of ${connections.config.burst})`,
      goal: ">= 500/s",
      value: `${connections.setupsPerSec}/s`,
      met: connections.setupsPerSec >= 500,
    });
  }
  if (crypto) {
    const py = crypto.fernet.python;
    for (const op of ["encrypt", "decrypt"] as const) {
      const ratio = py ? crypto.fernet.deno[op].perSec / py[op] : NaN;
      list.push({
        name: `Fernet ${op} vs Python cryptography (one at a time)`,
        goal: ">= 1.0x",
        value: py ? `${ratio.toFixed(2)}x` : "skipped",
        met: py ? ratio >= 1.0 : null,
      });
    }
    list.push({
      name: "sealing per core (per CPU second, one at a time)",
      goal: ">= 5000/s",
      value: `${crypto.seal.perCpuSec}/s`,
      met: crypto.seal.perCpuSec >= 5000,
    });
    list.push({
      name: "opening per core (per CPU second, one at a time)",
      goal: ">= 5000/s",
      value: `${crypto.open.perCpuSec}/s`,
      met: crypto.open.perCpuSec >= 5000,
    });
  }
  return list;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((row, i) => {
    const line = row.map((cell, c) => c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))
      .join("  ");
    return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
  }).join("\n");
}

const fmt = (value: number | undefined, digits = 0) =>
  value === undefined || !Number.isFinite(value) ? "-" : value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });

/** The human-readable report. */
export function report(results: {
  meta: Awaited<ReturnType<typeof machine>> & { quick: boolean };
  fanout?: FanoutResult;
  connections?: ConnectionsResult;
  crypto?: CryptoResult;
  e2e?: E2EResult;
  cluster?: ClusterResult;
  targets: Target[];
}): string {
  const { meta, fanout, connections, crypto, e2e } = results;
  const out: string[] = [];
  out.push(
    `openchat bench ${
      meta.quick ? "(quick) " : ""
    }- Deno ${meta.deno}, ${meta.cpus} CPUs (${meta.cpuModel}), commit ${meta.commit}`,
  );
  if (fanout) {
    out.push(
      "",
      "Relay fan-out: deliveries/s at saturation; latency (ms) at half that rate; server CPU µs per delivery",
    );
    const rows = [[
      "N",
      "openchat",
      "bare",
      "InspIRCd",
      "our/bare",
      "our/IRC",
      "ours p50/p99",
      "bare p50/p99",
      "IRC p50/p99",
      "CPU µs ours/bare/IRC",
      "bare on Deno.listenTls: /s, p50/p99",
    ]];
    for (const n of fanout.config.sizes) {
      const o = fanoutOf(fanout, "openchat", n);
      const b = fanoutOf(fanout, "bare", n);
      const d = fanoutOf(fanout, "bare_deno", n);
      const i = fanoutOf(fanout, "irc", n);
      const lat = (f?: FanoutFigure) => f ? `${fmt(f.half.p50Ms, 1)}/${fmt(f.half.p99Ms, 1)}` : "-";
      rows.push([
        String(n),
        fmt(o?.deliveriesPerSec),
        fmt(b?.deliveriesPerSec),
        i ? fmt(i.deliveriesPerSec) : "skipped",
        o && b ? `${(o.deliveriesPerSec / b.deliveriesPerSec).toFixed(2)}x` : "-",
        o && i ? `${(o.deliveriesPerSec / i.deliveriesPerSec).toFixed(2)}x` : "-",
        lat(o),
        lat(b),
        lat(i),
        [o, b, i].map((f) => fmt(f?.serverCpuUsPerDelivery, 2)).join("/"),
        d ? `${fmt(d.deliveriesPerSec)}, ${lat(d)}` : "-",
      ]);
    }
    out.push(table(rows));
    if (fanout.skipped.length) out.push(...fanout.skipped.map((s) => `  note: ${s}`));
  }
  if (connections) {
    out.push("", "Connections");
    out.push(table([
      ["measure", "value"],
      [
        `memory per idle authenticated session (RSS slope ${connections.config.memoryLow} -> ${connections.config.memoryHigh})`,
        `${fmt(connections.kibPerSession, 1)} KiB`,
      ],
      [
        `full set-ups per second (burst of ${connections.config.burst})`,
        `${fmt(connections.setupsPerSec)}/s`,
      ],
      ["server CPU per set-up", `${fmt(connections.serverCpuMsPerSetup, 2)} ms`],
    ]));
  }
  if (crypto) {
    out.push("", "Client crypto (300-byte messages; one at a time unless said)");
    const py = crypto.fernet.python;
    const d = crypto.fernet.deno;
    out.push(table([
      ["measure", "openchat/s", "per CPU s", "16 in flight/s", "Python/s", "ratio"],
      [
        "Fernet encrypt",
        fmt(d.encrypt.perSec),
        fmt(d.encrypt.perCpuSec),
        fmt(d.encryptPipelined),
        fmt(py?.encrypt),
        py
          ? `${(d.encrypt.perSec / py.encrypt).toFixed(2)}x (${
            (d.encryptPipelined / py.encrypt).toFixed(2)
          }x)`
          : "-",
      ],
      [
        "Fernet decrypt",
        fmt(d.decrypt.perSec),
        fmt(d.decrypt.perCpuSec),
        fmt(d.decryptPipelined),
        fmt(py?.decrypt),
        py
          ? `${(d.decrypt.perSec / py.decrypt).toFixed(2)}x (${
            (d.decryptPipelined / py.decrypt).toFixed(2)
          }x)`
          : "-",
      ],
      [
        "seal (chain step + Fernet + Ed25519 sign)",
        fmt(crypto.seal.perSec),
        fmt(crypto.seal.perCpuSec),
        "",
        "",
        "",
      ],
      [
        "open (Ed25519 verify + chain step + Fernet)",
        fmt(crypto.open.perSec),
        fmt(crypto.open.perCpuSec),
        "",
        "",
        "",
      ],
      [
        "seal, batches of 16",
        fmt(crypto.sealBatched.perSec),
        fmt(crypto.sealBatched.perCpuSec),
        "",
        "",
        "",
      ],
      [
        "open, batches of 16",
        fmt(crypto.openBatched.perSec),
        fmt(crypto.openBatched.perCpuSec),
        "",
        "",
        "",
      ],
    ]));
    out.push(
      `membership change, room of ${crypto.membership.roomSize}: rotate + wrap for ${
        crypto.membership.roomSize - 1
      }: ${fmt(crypto.membership.rotateAndWrapMs, 2)} ms; unwrap ${
        crypto.membership.roomSize - 1
      } new chain keys: ${fmt(crypto.membership.unwrapAllMs, 2)} ms`,
    );
  }
  if (e2e) {
    out.push(
      "",
      "End to end: openchat join --json processes, typed line -> displayed by every other member",
    );
    const rows = [[
      "members",
      "messages/s",
      "displays/s",
      "p99 at saturation",
      "half rate msg/s",
      "p50",
      "p99",
    ]];
    for (const f of e2e.figures) {
      rows.push([
        String(f.members),
        fmt(f.messagesPerSec),
        fmt(f.displaysPerSec),
        `${fmt(f.saturatedP99Ms, 1)} ms`,
        fmt(f.half.messagesPerSec),
        `${fmt(f.half.p50Ms, 1)} ms`,
        `${fmt(f.half.p99Ms, 1)} ms`,
      ]);
    }
    out.push(table(rows));
  }
  if (results.cluster) out.push(...clusterReport(results.cluster));
  if (results.targets.length) {
    out.push(
      "",
      meta.quick ? "Targets (judged on full runs; quick figures are indicative)" : "Targets",
    );
    out.push(table([
      ["target", "goal", "this run", "met"],
      ...results.targets.map((
        t,
      ) => [t.name, t.goal, t.value, t.met === null ? "skipped" : t.met ? "yes" : "NO"]),
    ]));
  }
  return out.join("\n");
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  const params = parameters(args.quick);
  const started = performance.now();
  const log = (line: string) =>
    console.error(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${line}`);
  const meta = { ...(await machine()), quick: args.quick, date: new Date().toISOString() };
  const users = Math.max(
    args.only.includes("connections")
      ? Math.max(params.connections.memoryHigh, params.connections.burst)
      : 0,
    args.only.includes("fanout") ? Math.max(...params.fanout.sizes) : 0,
    args.only.includes("e2e") ? Math.max(...params.e2e.roomSizes) : 0,
    args.only.includes("cluster") ? Math.max(...params.cluster.sizes) : 0,
    1,
  );
  log(`preparing a CA and ${users} user certificates ...`);
  const pki = await preparePki(users);
  let fanout: FanoutResult | undefined;
  let connections: ConnectionsResult | undefined;
  let crypto: CryptoResult | undefined;
  let e2e: E2EResult | undefined;
  let cluster: ClusterResult | undefined;
  try {
    if (args.only.includes("crypto")) crypto = await runCrypto(params.crypto, log);
    if (args.only.includes("fanout")) fanout = await runFanout(pki, params.fanout, log);
    if (args.only.includes("connections")) {
      connections = await runConnections(pki, params.connections, log);
    }
    if (args.only.includes("e2e")) e2e = await runE2E(pki, params.e2e, log);
    if (args.only.includes("cluster")) cluster = await runCluster(pki, params.cluster, log);
  } finally {
    await pki.remove().catch(() => {});
  }
  const results = {
    meta: { ...meta, seconds: round((performance.now() - started) / 1000), parameters: params },
    fanout,
    connections,
    crypto,
    e2e,
    cluster,
    targets: targets(fanout, connections, crypto),
  };
  console.log(report(results));
  await Deno.mkdir(join(args.out, ".."), { recursive: true });
  await Deno.writeTextFile(args.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nWrote ${args.out} (${results.meta.seconds} s)`);
  // Child processes are all stopped; exit even if a stray handle lingers.
  Deno.exit(0);
}

/** The cluster section's table: the same clients through one server and through two. */
function clusterReport(cluster: ClusterResult): string[] {
  const out = [
    "",
    `Fan-out through a cluster (${cluster.natsServer}): deliveries/s at saturation; latency (ms) at half that rate; CPU µs per delivery`,
  ];
  if (cluster.skipped.length) return [...out, ...cluster.skipped.map((s) => `  note: ${s}`)];
  const names = {
    one_sqlite: "one server, SQLite",
    one_nats: "one server, NATS",
    two_nats: "two servers, NATS",
  };
  const rows = [["N", "set-up", "deliveries/s", "p50/p99", "openchat CPU µs", "NATS CPU µs"]];
  for (const f of cluster.figures) {
    rows.push([
      String(f.n),
      names[f.setup],
      fmt(f.deliveriesPerSec),
      `${fmt(f.half.p50Ms, 1)}/${fmt(f.half.p99Ms, 1)}`,
      fmt(f.serverCpuUsPerDelivery, 2),
      fmt(f.natsCpuUsPerDelivery, 2),
    ]);
  }
  return [...out, table(rows)];
}
