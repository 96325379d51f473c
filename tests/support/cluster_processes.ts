/**
 * A cluster as real processes: one `nats-server` on a free loopback port and `openchat serve
 * --cluster` children sharing it, each with its own data directory holding the same CA (the
 * first server makes it and seeds the cluster's records; the others get a copy of `ca.pem`
 * and `ca-key.pem`, as an operator would).
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import { inTempDir, openchat } from "./cli.ts";
import { JoinProcess } from "./join_process.ts";
import { NatsServer } from "./nats_server.ts";
import { type ServeProcess, startServeProcess } from "./serve_process.ts";

/** A running cluster of `openchat serve` processes. */
export interface ClusterProcesses {
  readonly nats: NatsServer;
  readonly servers: ServeProcess[];
  readonly dir: string;
  /** `127.0.0.1:PORT` of server `i`. */
  address(i: number): string;
  /** Runs `openchat ca ...args --cluster NATS --data-dir (server i's)`. */
  ca(args: string[], i?: number): ReturnType<typeof openchat>;
  /** An invite for `name` (the token), naming the servers in `order`. */
  invite(name: string, order: number[], device?: string): Promise<string>;
  /** Stops everything and deletes every directory. */
  dispose(): Promise<void>;
}

/** Starts NATS and `count` servers in `dir`. */
export async function startCluster(dir: string, count = 2): Promise<ClusterProcesses> {
  const nats = await NatsServer.start();
  const servers: ServeProcess[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const data = `${dir}/server-${i}`;
      if (i > 0) {
        await Deno.mkdir(data, { mode: 0o700 });
        for (const file of ["ca.pem", "ca-key.pem"]) {
          await Deno.copyFile(`${dir}/server-0/${file}`, `${data}/${file}`);
        }
        await Deno.chmod(`${data}/ca-key.pem`, 0o600);
      }
      servers.push(await startServeProcess(data, ["--cluster", nats.url]));
    }
  } catch (error) {
    for (const server of servers) await server.stop("SIGKILL");
    await nats.dispose();
    throw error;
  }
  const address = (i: number) => `127.0.0.1:${servers[i]!.port}`;
  const ca = (args: string[], i = 0) =>
    openchat([
      "ca",
      ...args,
      "--cluster",
      nats.url,
      "--data-dir",
      servers[i]!.dataDir,
    ]);
  return {
    nats,
    servers,
    dir,
    address,
    ca,
    async invite(name, order, device = "main") {
      const result = await ca([
        "invite",
        name,
        "--device",
        device,
        ...order.flatMap((i) => ["--server", address(i)]),
      ]);
      assertEquals(result.code, 0, result.stderr);
      return result.stdout.trim();
    },
    async dispose() {
      for (const server of servers) await server.stop();
      await nats.dispose();
    },
  };
}

/** What a test of a running cluster gets (see {@linkcode clusterTest}). */
export interface ClusterStage {
  readonly cluster: ClusterProcesses;
  /** The test's temporary directory (the servers' data directories are in it). */
  readonly dir: string;
  /** The config directory of `name` (a user, or a device) inside `dir`. */
  config(name: string): string;
  /** Starts `openchat join --json ...args`; every process started so is closed at the end. */
  join(args: string[]): JoinProcess;
}

/**
 * A test with NATS and two `openchat serve --cluster` processes on 127.0.0.1 in a temporary
 * directory: `fn` runs against them, then every client it started is closed and the cluster
 * stopped and deleted, whatever happened.
 */
export function clusterTest(
  name: string,
  fn: (stage: ClusterStage) => Promise<void>,
): Deno.TestDefinition {
  return {
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await inTempDir(async (dir) => {
        const cluster = await startCluster(dir);
        const clients: JoinProcess[] = [];
        try {
          await fn({
            cluster,
            dir,
            config: (name) => `${dir}/${name}-config`,
            join(args) {
              const client = JoinProcess.startWith(args);
              clients.push(client);
              return client;
            },
          });
        } finally {
          for (const client of clients) await client.close().catch(() => {});
          await cluster.dispose();
        }
      });
    },
  };
}
