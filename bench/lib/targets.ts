/**
 * The performance targets of issues 5, 12 and 14, judged on one run's figures: each with its
 * goal, this run's figure, and met or not (or why it could not be judged). A throughput ratio
 * is judged only when both sides were saturated; otherwise the row says so and is not met.
 *
 * @module
 */

import type { CatchupResult } from "../sections/catchup.ts";
import type { ConnectionsResult } from "../sections/connections.ts";
import type { CryptoResult } from "../sections/crypto.ts";
import type { FanoutFigure, FanoutResult, FanoutServer } from "../sections/fanout.ts";

/** One target, judged. */
export interface Target {
  /** The issue that set it. */
  issue: number;
  name: string;
  goal: string;
  value: string;
  /** null: not measured in this run (section skipped, baseline missing, not judgeable). */
  met: boolean | null;
}

/** The figure of `server` at `n`, if measured. */
export function fanoutOf(
  result: FanoutResult | undefined,
  server: FanoutServer,
  n: number,
): FanoutFigure | undefined {
  return result?.figures.find((f) => f.server === server && f.n === n);
}

const us = (value: number) => `${value.toFixed(2)} µs`;

/** Every target this run can judge. */
export function targets(sections: {
  fanout?: FanoutResult;
  connections?: ConnectionsResult;
  crypto?: CryptoResult;
  catchup?: CatchupResult;
}): Target[] {
  const { fanout, connections, crypto, catchup } = sections;
  const list: Target[] = [];
  const ours = fanoutOf(fanout, "openchat", 100);
  const noStore = fanoutOf(fanout, "openchat_nostore", 100);
  const bare = fanoutOf(fanout, "bare", 100);
  const irc = fanoutOf(fanout, "irc", 100);
  if (ours) {
    const cpu = ours.serverCpuUsPerDelivery;
    list.push({
      issue: 14,
      name: "server CPU per delivery, N=100",
      goal: "<= 1.00 µs",
      value: `${us(cpu)}${ours.saturated ? "" : " (not saturated: an upper bound)"}`,
      met: cpu <= 1.0,
    });
    for (const [name, base] of [["bare relay", bare], ["InspIRCd", irc]] as const) {
      if (!base) continue;
      list.push({
        issue: 14,
        name: `server CPU per delivery, N=100, vs ${name}`,
        goal: "below",
        value: `${us(cpu)} vs ${us(base.serverCpuUsPerDelivery)}${
          base.saturated ? "" : ` (${name} not saturated)`
        }`,
        met: cpu < base.serverCpuUsPerDelivery,
      });
    }
    list.push({
      issue: 14,
      name: "p99 latency at half of own saturation, N=100",
      goal: "< 10 ms",
      value: `${ours.half.p99Ms} ms${
        ours.saturated ? "" : " (at half of an unsaturated rate: the load generator's limit)"
      }`,
      met: ours.half.p99Ms < 10,
    });
  }
  if (ours && noStore) {
    // The store's cost: throughput lost when both were the bottleneck, else CPU per delivery.
    const both = ours.saturated && noStore.saturated;
    const cost = both
      ? 1 - ours.deliveriesPerSec / noStore.deliveriesPerSec
      : 1 - noStore.serverCpuUsPerDelivery / ours.serverCpuUsPerDelivery;
    list.push({
      issue: 12,
      name: "store's cost in delivered throughput, N=100",
      goal: "< 15%",
      value: `${(cost * 100).toFixed(1)}% (${
        both ? "throughput, both saturated" : "from server CPU per delivery: not both saturated"
      })`,
      met: cost < 0.15,
    });
  }
  if (ours) {
    for (const [name, base] of [["bare relay", bare], ["InspIRCd", irc]] as const) {
      if (!base) continue;
      const both = ours.saturated && base.saturated;
      const ratio = ours.deliveriesPerSec / base.deliveriesPerSec;
      list.push({
        issue: 5,
        name: `fan-out throughput N=100 vs ${name}`,
        goal: name === "bare relay" ? ">= 0.8x" : ">= 1.0x",
        value: both
          ? `${ratio.toFixed(2)}x`
          : `not judged: ${
            [ours.saturated ? "" : "openchat", base.saturated ? "" : name].filter(Boolean).join(
              " and ",
            )
          } not saturated (the load generator was the limit)`,
        met: both ? ratio >= (name === "bare relay" ? 0.8 : 1.0) : null,
      });
    }
  }
  if (connections) {
    list.push({
      issue: 14,
      name: "memory per idle authenticated session",
      goal: "<= 32 KiB",
      value: `${connections.kibPerSession} KiB (RSS slope ${
        connections.curve[0]?.sessions.toLocaleString("en-US")
      } -> ${
        connections.curve.at(-1)?.sessions.toLocaleString("en-US")
      }; the bare relay's transport alone: ${connections.floor.kibPerConnection} KiB)`,
      met: connections.kibPerSession <= 32,
    });
    const burst = connections.burst;
    list.push({
      issue: 14,
      name: `server CPU per set-up (fresh server, burst of ${burst.count})`,
      goal: "<= 1.5 ms",
      value: `${burst.serverCpuMsPerSetup} ms (${burst.setupsPerSec}/s)`,
      met: burst.serverCpuMsPerSetup <= 1.5,
    });
  }
  if (catchup) {
    list.push({
      issue: 14,
      name: `client catch-up of ${catchup.config.messages.toLocaleString("en-US")} stored messages`,
      goal: catchup.config.messages === 10_000 ? "<= 2 s" : "<= 2 s (for 10,000)",
      value: `${catchup.catchupSeconds} s (${catchup.perCpuSecond}/CPU s)`,
      met: catchup.config.messages === 10_000
        ? catchup.catchupSeconds <= 2 && catchup.shown === catchup.config.messages
        : null,
    });
  }
  if (crypto) {
    for (const [op, rate] of [["sealing", crypto.seal], ["opening", crypto.open]] as const) {
      list.push({
        issue: 14,
        name: `${op} chat messages per CPU second (one at a time)`,
        goal: ">= 5,000",
        value: `${Math.round(rate.perCpuSec).toLocaleString("en-US")}`,
        met: rate.perCpuSec >= 5000,
      });
    }
    const py = crypto.fernet.python;
    for (const op of ["encrypt", "decrypt"] as const) {
      const ratio = py ? crypto.fernet.deno[op].perSec / py[op] : NaN;
      list.push({
        issue: 5,
        name: `Fernet ${op} vs Python cryptography (one at a time)`,
        goal: ">= 1.0x",
        value: py ? `${ratio.toFixed(2)}x` : "Python skipped",
        met: py ? ratio >= 1.0 : null,
      });
    }
  }
  return list;
}
