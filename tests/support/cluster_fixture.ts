/**
 * In-process cluster servers for tests: several chat servers sharing one CA and one real
 * `nats-server` (started on a free loopback port by the caller), each with its own connection,
 * cluster node and NATS store under one prefix.
 *
 * @module
 */

import { CertificateAuthority } from "../../server/authority.ts";
import { ChatServer } from "../../server/chat_server.ts";
import { ClusterNode } from "../../server/cluster/cluster_node.ts";
import { NatsLink } from "../../server/cluster/nats_link.ts";
import { NatsStore } from "../../server/cluster/nats_store.ts";
import type { Logger } from "../../server/log.ts";
import type { ServerLimits } from "../../server/limits.ts";
import { CaRegistrar } from "../../server/registrar.ts";
import { ensureServerIdentity, type ServerIdentity } from "../../server/server_identity.ts";
import type { CapturedLog } from "./server_fixture.ts";

/** One running cluster member. */
export interface ClusterMember {
  readonly server: ChatServer;
  readonly node: ClusterNode;
  readonly link: NatsLink;
  readonly store: NatsStore;
  readonly port: number;
  readonly logs: CapturedLog[];
  stop(): Promise<void>;
}

/** A CA in a temporary directory, with a server identity for 127.0.0.1. */
export async function clusterCa(): Promise<
  { ca: CertificateAuthority; identity: ServerIdentity; dir: string }
> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-cluster-" });
  const ca = await CertificateAuthority.create(dir, { name: "Cluster CA" });
  return { ca, identity: await ensureServerIdentity(ca, []), dir };
}

/**
 * Starts a chat server that joins the cluster on `natsUrl` under `prefix` (with `options.admins`
 * as its administrators).
 */
export async function startMember(
  ca: CertificateAuthority,
  identity: ServerIdentity,
  natsUrl: string,
  prefix: string,
  limits: Partial<ServerLimits> = {},
  options: { admins?: string[] } = {},
): Promise<ClusterMember> {
  const logs: CapturedLog[] = [];
  const logger: Logger = {
    log: (level, event, fields = {}) => logs.push({ level, event, fields }),
  };
  const link = await NatsLink.connect([natsUrl], { logger });
  const store = await NatsStore.open(link, { prefix });
  const node = await ClusterNode.start({ link, store, logger });
  let address = "127.0.0.1:0";
  const server = await ChatServer.start({
    hostname: "127.0.0.1",
    port: 0,
    caCert: ca.cert,
    identity,
    records: ca.store,
    registrar: new CaRegistrar(ca, () => [address]),
    logger,
    store,
    retentionMs: store.options.retentionMs,
    hooks: node,
    limits,
    admins: options.admins,
  });
  address = server.address;
  return {
    server,
    node,
    link,
    store,
    port: server.addr.port,
    logs,
    async stop() {
      await server.shutdown();
      await node.stop();
      await link.close();
    },
  };
}
