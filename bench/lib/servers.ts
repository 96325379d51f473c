/**
 * Starting the three servers the fan-out compares, each in its own process: openchat, the bare
 * relay, and InspIRCd (see `inspircd.ts`); each on the server's CPU when the run pins
 * (`placement.ts`).
 *
 * @module
 */

import { BenchChild } from "./child.ts";
import { currentPlacement, openchatTree, v8Flags } from "./placement.ts";
import type { BenchPki } from "./pki.ts";

/** A server under test. */
export interface RunningServer {
  readonly kind: "openchat" | "bare" | "bare_deno" | "irc";
  readonly port: number;
  readonly pid: number;
  /** Asks the server process for a full garbage collection (openchat with `exposeGc` only). */
  gc?: () => Promise<void>;
  /** The server's counts and `Deno.memoryUsage()` (openchat only). */
  stats?: () => Promise<Record<string, unknown>>;
  /** What the server logged so far about its store: refusals and failures (openchat only). */
  storeErrors?: () => string[];
  stop(): Promise<void>;
}

/**
 * Starts `openchat`'s server on the bench CA, in a process of its own, with its message store
 * (or, with `store: false`, without one).
 */
export async function startOpenchat(
  pki: BenchPki,
  options: { exposeGc?: boolean; store?: boolean; cluster?: { url: string; prefix: string } } = {},
): Promise<RunningServer> {
  const child = BenchChild.start(
    options.cluster
      ? "openchat server (cluster)"
      : options.store === false
      ? "openchat server (no store)"
      : "openchat server",
    openchatTree()
      ? `${openchatTree()}/bench/procs/openchat_server.ts`
      : "procs/openchat_server.ts",
    [
      pki.dataDir,
      ...(options.store === false ? ["--no-store"] : []),
      ...(options.cluster ? ["--cluster", options.cluster.url, options.cluster.prefix] : []),
    ],
    options.exposeGc ? ["--v8-flags=--expose-gc"] : v8Flags("BENCH_SERVER_V8"),
    currentPlacement()?.server,
  );
  const ready = await child.next(60_000);
  return {
    kind: "openchat",
    port: ready.port as number,
    pid: child.pid,
    gc: options.exposeGc ? async () => void await child.call({ cmd: "gc" }) : undefined,
    stats: () => child.call({ cmd: "stats" }),
    storeErrors: () => child.stderr.split("\n").filter((line) => line.includes(" event=store_")),
    stop: () => child.stop(),
  };
}

/**
 * Starts the bare relay with the bench server certificate: on openchat's own TLS listener, or
 * with `denoTls` on `Deno.listenTls`.
 */
export async function startBare(pki: BenchPki, denoTls = false): Promise<RunningServer> {
  const child = BenchChild.start(
    denoTls ? "bare relay (Deno.listenTls)" : "bare relay",
    "procs/bare_relay.ts",
    [
      pki.serverCertFile,
      pki.serverKeyFile,
      ...(denoTls ? ["--deno-tls"] : []),
    ],
    v8Flags("BENCH_SERVER_V8"),
    currentPlacement()?.server,
  );
  const ready = await child.next(60_000);
  return {
    kind: denoTls ? "bare_deno" : "bare",
    port: ready.port as number,
    pid: child.pid,
    stop: () => child.stop(),
  };
}
