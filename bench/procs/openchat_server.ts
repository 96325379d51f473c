/**
 * The openchat server as the benchmark runs it: what `openchat serve` does (load the CA from a
 * data directory, the server certificate, the CA's records, `ChatServer.start`), in
 * its own process, with the per-session rate limit and the session and room sizes raised so a
 * load generator can saturate it. Every other check stays as shipped. It keeps a message store
 * (issue 12) as `openchat serve` does, in a fresh temporary directory of its own so that every
 * measurement starts from empty rooms; with `--no-store` it keeps none (the server before issue
 * 12), so that the store's cost can be measured beside it.
 *
 * With `--cluster NATS_URL PREFIX` it is a member of a cluster (issue 15): its store is the NATS
 * one under PREFIX, and rooms are shared with the other members started with the same two.
 *
 * Usage: `deno run -A bench/procs/openchat_server.ts DATA_DIR [--no-store | --cluster URL P]`. Prints
 * `{"ok":true,"port":N}` when listening; answers `{"cmd":"stats"}`; shuts down when standard
 * input closes.
 *
 * @module
 */

import { CertificateAuthority } from "../../server/authority.ts";
import { ChatServer } from "../../server/chat_server.ts";
import { ensureServerIdentity } from "../../server/server_identity.ts";
import { reply_, serveCommands } from "../lib/child.ts";
import { type ChatStore, SqliteStore, STORE_FILE } from "../../server/store/mod.ts";
import { ClusterNode } from "../../server/cluster/cluster_node.ts";
import { NatsLink } from "../../server/cluster/nats_link.ts";
import { stderrLogger } from "../../server/log.ts";
import { NatsStore } from "../../server/cluster/nats_store.ts";

/** Limits raised for benchmarking; everything not named here is the default. */
export const BENCH_LIMITS = {
  ratePerSecond: 1_000_000,
  rateBurst: 1_000_000,
  maxSessions: 100_000,
  maxPendingSetups: 4096,
  // Every load generator connects from 127.0.0.1, many set-ups at once.
  maxSetupsPerAddress: 4096,
  maxRoomMembers: 10_000,
};

if (import.meta.main) await main();
async function main() {
  const dataDir = Deno.args[0];
  if (!dataDir) throw new Error("usage: openchat_server.ts DATA_DIR");
  const ca = await CertificateAuthority.load(dataDir);
  const identity = await ensureServerIdentity(ca, []);
  const clusterAt = Deno.args.indexOf("--cluster");
  const cluster = clusterAt > 0
    ? { url: Deno.args[clusterAt + 1]!, prefix: Deno.args[clusterAt + 2]! }
    : undefined;
  const storeDir = Deno.args.includes("--no-store") || cluster
    ? undefined
    : await Deno.makeTempDir({ prefix: "openchat-bench-store-" });
  let store: ChatStore | undefined = storeDir
    ? await SqliteStore.open(`${storeDir}/${STORE_FILE}`)
    : undefined;
  let link: NatsLink | undefined;
  let node: ClusterNode | undefined;
  if (cluster) {
    link = await NatsLink.connect([cluster.url]);
    const natsStore = await NatsStore.open(link, { prefix: cluster.prefix });
    node = await ClusterNode.start({
      link,
      store: natsStore,
      logger: { log: () => {} },
      maxRoomMembers: BENCH_LIMITS.maxRoomMembers,
    });
    store = natsStore;
  }
  const server = await ChatServer.start({
    hostname: "127.0.0.1",
    port: 0,
    caCert: ca.cert,
    identity,
    records: ca.store,
    limits: BENCH_LIMITS,
    store,
    hooks: node,
    // Warnings and errors (a saturated run has none about its store): the report shows a
    // store's refusal or failure beside the client's.
    logger: stderrLogger("warn"),
  });
  reply_({ ok: true, port: server.addr.port, pid: Deno.pid });
  await serveCommands((command) => {
    if (command.cmd === "stats") {
      return Promise.resolve({ ...server.stats(), memory: Deno.memoryUsage() });
    }
    if (command.cmd === "gc") {
      // Only when started with --v8-flags=--expose-gc (the memory measurement).
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) return Promise.reject(new Error("started without --expose-gc"));
      gc();
      gc();
      return Promise.resolve({});
    }
    return Promise.reject(new Error(`unknown command ${JSON.stringify(command.cmd)}`));
  });
  await server.shutdown();
  await store?.close();
  await node?.stop();
  await link?.close();
  if (storeDir) await Deno.remove(storeDir, { recursive: true });
  ca.close();
  Deno.exit(0);
}
