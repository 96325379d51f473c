/**
 * The benchmark's human-readable report: one table per section, every figure beside the CPU
 * utilisation that says whether it counts, then the targets table.
 *
 * @module
 */

import type { CatchupResult } from "../sections/catchup.ts";
import type { ClusterResult } from "../sections/cluster.ts";
import type { ConnectionsResult } from "../sections/connections.ts";
import type { CryptoResult } from "../sections/crypto.ts";
import type { E2EResult } from "../sections/e2e.ts";
import {
  FANOUT_SERVERS,
  type FanoutFigure,
  type FanoutResult,
  type FanoutServer,
  SATURATED_BUSY,
} from "../sections/fanout.ts";
import { fanoutOf, type Target } from "./targets.ts";

/** Everything a run measured, as `run.ts` writes it. */
export interface BenchResults {
  meta: {
    deno: string;
    cpus: number;
    cpuModel: string;
    commit: string;
    quick: boolean;
    placement: string;
    openchat: string;
    loadAverageAtStart: number;
    loadAverageAtEnd?: number;
  };
  fanout?: FanoutResult;
  connections?: ConnectionsResult;
  crypto?: CryptoResult;
  catchup?: CatchupResult;
  e2e?: E2EResult;
  cluster?: ClusterResult;
  targets: Target[];
}

/** Lays out rows as a plain-text table: the first `left` columns left-aligned, the rest right. */
export function table(rows: string[][], left = 1): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((row, i) => {
    const line = row.map((cell, c) =>
      c < left ? (cell ?? "").padEnd(widths[c]!) : (cell ?? "").padStart(widths[c]!)
    )
      .join("  ").trimEnd();
    return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
  }).join("\n");
}

/** A number with thousands separators and `digits` decimals; "-" when missing. */
export const fmt = (value: number | undefined, digits = 0) =>
  value === undefined || !Number.isFinite(value) ? "-" : value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });

const pct = (share: number | undefined) =>
  share === undefined ? "-" : `${Math.round(share * 100)}%`;

/** What the fan-out table calls each server. */
export const SERVER_NAMES: Record<FanoutServer, string> = {
  openchat: "openchat",
  openchat_nostore: "openchat, no store",
  bare: "bare relay",
  bare_deno: "bare, Deno.listenTls",
  irc: "InspIRCd",
};

/** Deliveries per second if saturated, else the reason it does not count. */
function throughput(f: FanoutFigure): string {
  return f.saturated ? fmt(f.deliveriesPerSec) : `(${fmt(f.deliveriesPerSec)}) not saturated`;
}

function fanoutReport(fanout: FanoutResult, out: string[]): void {
  out.push(
    "",
    `Relay fan-out, one room of N: closed loop, then latency at half that rate (300-byte payloads).`,
    `A throughput counts only when the server was at least ${
      pct(SATURATED_BUSY)
    } busy; otherwise it is "not saturated (the load generator was the limit)" and kept out of ratios.`,
    `CPU µs/delivery is the primary figure (marked * when not saturated: an upper bound).`,
    fanout.figures.every((f) => f.probesPrioritised)
      ? "Latency is timed by member probes given priority (renice -10) on the load generators' CPU."
      : "Latency is timed by member probes sharing the load generators' CPU without priority (not root): it includes their wait for it.",
  );
  const rows = [[
    "N",
    "server",
    "deliveries/s",
    "server CPU",
    "load CPU",
    "other",
    "CPU µs/delivery",
    "p50/p99 ms at half rate",
    "in flight",
  ]];
  for (const n of fanout.config.sizes) {
    for (const server of FANOUT_SERVERS) {
      const f = fanoutOf(fanout, server, n);
      if (!f) continue;
      rows.push([
        String(n),
        SERVER_NAMES[server],
        throughput(f),
        pct(f.cpu.server),
        pct(f.cpu.load),
        pct(f.cpu.foreign),
        `${fmt(f.serverCpuUsPerDelivery, 2)}${f.saturated ? "" : "*"}`,
        `${fmt(f.half.p50Ms, 1)}/${fmt(f.half.p99Ms, 1)}`,
        String(f.window * f.loadProcesses),
      ]);
    }
  }
  out.push(table(rows, 2));
  const ratios: string[][] = [["N", "CPU/delivery ours : bare", "ours : InspIRCd", "store's cost"]];
  for (const n of fanout.config.sizes) {
    const o = fanoutOf(fanout, "openchat", n);
    const b = fanoutOf(fanout, "bare", n);
    const i = fanoutOf(fanout, "irc", n);
    const s = fanoutOf(fanout, "openchat_nostore", n);
    const ratio = (base?: FanoutFigure) =>
      o && base
        ? `${(o.serverCpuUsPerDelivery / base.serverCpuUsPerDelivery).toFixed(2)}x${
          o.saturated && base.saturated ? "" : "*"
        }`
        : "-";
    const cost = o && s
      ? o.saturated && s.saturated
        ? `${((1 - o.deliveriesPerSec / s.deliveriesPerSec) * 100).toFixed(1)}% of throughput`
        : `${((1 - s.serverCpuUsPerDelivery / o.serverCpuUsPerDelivery) * 100).toFixed(1)}% of CPU*`
      : "-";
    ratios.push([String(n), ratio(b), ratio(i), cost]);
  }
  out.push("", table(ratios), "(* a side was not saturated: figures from CPU per delivery)");
  if (fanout.figures.some((f) => f.server === "irc")) {
    out.push(
      "InspIRCd leaves Nagle's algorithm on: at low rates each small line waits for the previous one's ACK (up to 40 ms delayed), hence its latency.",
    );
  }
  const problems = fanout.figures.filter((f) => f.problems.length);
  for (const f of problems) {
    out.push(`  problem: ${SERVER_NAMES[f.server]} N=${f.n}: ${f.problems.join("; ")}`);
  }
  if (fanout.skipped.length) out.push(...fanout.skipped.map((s) => `  note: ${s}`));
}

function connectionsReport(c: ConnectionsResult, out: string[]): void {
  out.push(
    "",
    `Connections: idle authenticated sessions (rooms of ${c.config.roomSize}); the server may open ${
      fmt(c.fdLimit.soft)
    } files (hard limit ${fmt(c.fdLimit.hard)})`,
  );
  const rows = [[
    "idle sessions",
    "RSS MiB",
    "KiB/session (slope)",
    "descriptors",
    "set-ups/s",
    "server ms/set-up",
    "server CPU",
    "load CPU",
    "other",
  ]];
  rows.push(["0", fmt(c.emptyRssKiB / 1024, 1), "", fmt(c.emptyFds), "", "", "", "", ""]);
  for (const p of c.curve) {
    rows.push([
      fmt(p.sessions),
      fmt(p.rssKiB / 1024, 1),
      fmt(p.kibPerSession, 1),
      fmt(p.fds),
      fmt(p.setupsPerSec),
      fmt(p.serverCpuMsPerSetup, 2),
      pct(p.serverBusy),
      pct(p.loadBusy),
      pct(p.foreign),
    ]);
  }
  out.push(table(rows));
  out.push(
    `memory per idle session over the curve: ${
      fmt(c.kibPerSession, 1)
    } KiB; of which the transport alone (the bare relay on the same TLS listener, ${
      fmt(c.floor.connections)
    } idle connections): ${fmt(c.floor.kibPerConnection, 1)} KiB`,
  );
  for (const note of c.notes) out.push(`  note: ${note}`);
  const b = c.burst;
  out.push(
    `set-up burst on a fresh server (no certificate seen before), load generators pinned away: ${
      fmt(b.count)
    } in ${fmt(b.seconds, 2)} s = ${fmt(b.setupsPerSec)}/s; server ${
      fmt(b.serverCpuMsPerSetup, 2)
    } ms CPU each (${pct(b.serverBusy)} busy), load generators ${
      fmt(b.loadCpuMsPerSetup, 2)
    } ms each (${pct(b.loadBusy)}), other ${pct(b.foreign)}`,
  );
}

function cryptoReport(crypto: CryptoResult, out: string[]): void {
  out.push("", "Client crypto (300-byte messages; one at a time unless said)");
  const py = crypto.fernet.python;
  const d = crypto.fernet.deno;
  const ratio = (ours: number, pipelined: number, theirs?: number) =>
    theirs ? `${(ours / theirs).toFixed(2)}x (${(pipelined / theirs).toFixed(2)}x)` : "-";
  out.push(table([
    ["measure", "openchat/s", "per CPU s", "16 in flight/s", "Python/s", "ratio"],
    [
      "Fernet encrypt",
      fmt(d.encrypt.perSec),
      fmt(d.encrypt.perCpuSec),
      fmt(d.encryptPipelined),
      fmt(py?.encrypt),
      ratio(d.encrypt.perSec, d.encryptPipelined, py?.encrypt),
    ],
    [
      "Fernet decrypt",
      fmt(d.decrypt.perSec),
      fmt(d.decrypt.perCpuSec),
      fmt(d.decryptPipelined),
      fmt(py?.decrypt),
      ratio(d.decrypt.perSec, d.decryptPipelined, py?.decrypt),
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
    ["seal, batches of 16", fmt(crypto.sealBatched.perSec), fmt(crypto.sealBatched.perCpuSec)],
    ["open, batches of 16", fmt(crypto.openBatched.perSec), fmt(crypto.openBatched.perCpuSec)],
  ]));
  out.push(
    `membership change, room of ${crypto.membership.roomSize}: rotate + wrap for ${
      crypto.membership.roomSize - 1
    }: ${fmt(crypto.membership.rotateAndWrapMs, 2)} ms; unwrap ${
      crypto.membership.roomSize - 1
    } new chain keys: ${fmt(crypto.membership.unwrapAllMs, 2)} ms`,
  );
}

function catchupReport(c: CatchupResult, out: string[]): void {
  out.push(
    "",
    `Catch-up on a client (openchat join --json, local history kept): ${
      fmt(c.config.messages)
    } messages stored while it was offline`,
    `  shown ${fmt(c.shown)} (${fmt(c.verified)} verified) in ${
      fmt(c.catchupSeconds, 2)
    } s from set-up (${fmt(c.totalSeconds, 2)} s from starting the process); client CPU ${
      fmt(c.clientCpuSeconds, 2)
    } s in all = ${fmt(c.perCpuSecond)} messages per CPU second; sending them took ${
      fmt(c.sendSeconds, 2)
    } s`,
  );
  if (c.errors.length) out.push(`  errors: ${c.errors.join("; ")}`);
}

function e2eReport(e2e: E2EResult, out: string[]): void {
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

/** The cluster section's table: the same clients through one server and through two. */
function clusterReport(cluster: ClusterResult, out: string[]): void {
  out.push(
    "",
    `Fan-out through a cluster (${cluster.natsServer}): deliveries/s at saturation; latency (ms) at half that rate; CPU µs per delivery`,
  );
  if (cluster.skipped.length) {
    out.push(...cluster.skipped.map((s) => `  note: ${s}`));
    return;
  }
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
  out.push(table(rows));
}

/** The whole report. */
export function report(results: BenchResults): string {
  const { meta } = results;
  const out: string[] = [
    `openchat bench ${
      meta.quick ? "(quick) " : ""
    }- Deno ${meta.deno}, ${meta.cpus} CPUs (${meta.cpuModel}), commit ${meta.commit}${
      meta.openchat === "this checkout" ? "" : `; openchat server and clients from ${meta.openchat}`
    }`,
    `${meta.placement}; load average ${meta.loadAverageAtStart} at start${
      meta.loadAverageAtEnd === undefined ? "" : `, ${meta.loadAverageAtEnd} at end`
    } ("other" columns: CPU taken by other work on the machine during a window, in cores)`,
  ];
  if (results.fanout) fanoutReport(results.fanout, out);
  if (results.connections) connectionsReport(results.connections, out);
  if (results.crypto) cryptoReport(results.crypto, out);
  if (results.catchup) catchupReport(results.catchup, out);
  if (results.e2e) e2eReport(results.e2e, out);
  if (results.cluster) clusterReport(results.cluster, out);
  if (results.targets.length) {
    out.push(
      "",
      meta.quick ? "Targets (judged on full runs; quick figures are indicative)" : "Targets",
    );
    out.push(table([
      ["issue", "target", "goal", "this run", "met"],
      ...results.targets.map((t) => [
        `#${t.issue}`,
        t.name,
        t.goal,
        t.value,
        t.met === null ? "n/a" : t.met ? "yes" : "NO",
      ]),
    ], 4));
  }
  return out.join("\n");
}
