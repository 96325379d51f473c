/**
 * What `openchat serve --cluster` sets up before the server starts: the connection to NATS,
 * the shared store, and this server's membership of the cluster; and how it leaves.
 *
 * @module
 */

import { AuthorityError, CertificateAuthority } from "../server/authority.ts";
import { NatsCaJournal } from "../server/cluster/ca_journal.ts";
import { ClusterNode } from "../server/cluster/cluster_node.ts";
import { StoreNames } from "../server/cluster/nats_names.ts";
import { NatsLink } from "../server/cluster/nats_link.ts";
import { NatsStore } from "../server/cluster/nats_store.ts";
import type { Logger } from "../server/log.ts";
import { asCliError } from "./ca_command.ts";
import { CliError, say } from "./common.ts";
import { askPassphrase } from "./passphrase.ts";

/** Environment variable that sets the NATS prefix (several deployments on one NATS). */
export const NATS_PREFIX_ENV = "OPENCHAT_NATS_PREFIX";

/** A joined cluster. */
export interface Cluster {
  readonly link: NatsLink;
  readonly store: NatsStore;
  readonly node: ClusterNode;
  /** The CA's records, shared through the cluster's journal. */
  readonly journal: NatsCaJournal;
  /** Leaves the cluster and closes the connection (after the server has shut down). */
  leave(): Promise<void>;
}

/**
 * Connects to NATS at `urls`, opens the shared store with the retention given, and joins.
 *
 * @throws {CliError} when NATS cannot be reached or has no JetStream.
 */
export async function joinCluster(
  urls: string[],
  options: { logger: Logger; retentionMs: number; maxMessagesPerRoom: number },
): Promise<Cluster> {
  let link: NatsLink;
  try {
    link = await NatsLink.connect(urls, { logger: options.logger, name: "openchat-serve" });
  } catch (error) {
    throw new CliError(`--cluster: ${(error as Error).message}`);
  }
  try {
    const store = await NatsStore.open(link, {
      retentionMs: options.retentionMs,
      maxMessagesPerRoom: options.maxMessagesPerRoom,
      prefix: Deno.env.get(NATS_PREFIX_ENV) || undefined,
    });
    const journal = await NatsCaJournal.open(link, store.names, options.logger);
    const node = await ClusterNode.start({ link, store, logger: options.logger });
    return {
      link,
      store,
      node,
      journal,
      async leave() {
        await node.stop();
        await journal.close();
        await link.close();
      },
    };
  } catch (error) {
    await link.close();
    throw new CliError(`--cluster: ${(error as Error).message}`);
  }
}

/** The NATS prefix in force (`$OPENCHAT_NATS_PREFIX`, else the default). */
export function clusterNames(): StoreNames {
  return new StoreNames(Deno.env.get(NATS_PREFIX_ENV) || undefined);
}

/**
 * The CA of `dataDir` with the cluster's records. A cluster with no records yet is seeded from
 * this data directory's database first (made, with a new CA, when the directory has none).
 *
 * @throws {CliError} when this data directory holds no CA, or another one than the cluster's.
 */
export async function openClusterCA(
  dataDir: string,
  journal: NatsCaJournal,
  openOrCreate: (dataDir: string) => Promise<CertificateAuthority>,
): Promise<CertificateAuthority> {
  if (journal.records.caFingerprint() === undefined) {
    const local = await openOrCreate(dataDir);
    try {
      if (await journal.seed(local.store)) {
        say(`Seeded the cluster's CA records from ${local.dataDir}`);
      }
    } finally {
      local.close();
    }
  }
  try {
    return await CertificateAuthority.load(dataDir, {
      records: journal.records,
      passphrase: () => askPassphrase(dataDir),
    });
  } catch (error) {
    if (error instanceof AuthorityError && error.code === "no_ca") {
      throw new CliError(
        `No CA in ${dataDir}. Every server of a cluster holds the same CA: copy ca.pem and ` +
          `ca-key.pem (mode 0600) from the data directory of a server of this cluster`,
      );
    }
    return asCliError(error);
  }
}

/** Runs `fn` with the CA of `dataDir` over the cluster's records at `urls`, then disconnects. */
export async function withClusterAuthority<T>(
  urls: string[],
  dataDir: string,
  fn: (ca: CertificateAuthority) => Promise<T> | T,
  unlock: boolean,
): Promise<T> {
  let link: NatsLink;
  try {
    link = await NatsLink.connect(urls, { name: "openchat-ca" });
  } catch (error) {
    throw new CliError(`--cluster: ${(error as Error).message}`);
  }
  let journal: NatsCaJournal | undefined;
  try {
    journal = await NatsCaJournal.open(link, clusterNames());
    if (journal.records.caFingerprint() === undefined) {
      throw new CliError(
        "The cluster holds no CA records yet: start its first server with openchat serve --cluster",
      );
    }
    const ca = await CertificateAuthority.load(dataDir, {
      records: journal.records,
      passphrase: unlock ? () => askPassphrase(dataDir) : undefined,
    }).catch(asCliError);
    try {
      return await fn(ca);
    } catch (error) {
      return asCliError(error);
    }
  } finally {
    await journal?.close();
    await link.close();
  }
}
