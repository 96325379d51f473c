/**
 * `openchat serve`: the chat server. Creates the CA on first run, keeps the server certificate
 * current, opens the message store (`openchat-store.db` in the data directory: persistent rooms,
 * room logs, inboxes, pre-keys and moderation, with the retention given), records its
 * administrators (`--admin`, `admins.json`), reads the message of the day (`--motd`), listens on
 * TLS, records the address it listens on (for invites), and shuts down cleanly on SIGINT or
 * SIGTERM. A CA whose database is missing or belongs to another CA refuses to start (see
 * `server/authority.ts`).
 *
 * @module
 */

import { Command, Option } from "@commander-js/extra-typings";
import { isIpAddress } from "../crypto/x509.ts";
import { AuthorityError, CertificateAuthority } from "../server/authority.ts";
import { ChatServer } from "../server/chat_server.ts";
import { writeListenRecord } from "../server/listen_record.ts";
import { CaRegistrar } from "../server/registrar.ts";
import { MAX_SESSIONS, RATE_PER_SECOND, SHUTDOWN_GRACE_MS } from "../server/limits.ts";
import { type LogLevel, stderrLogger } from "../server/log.ts";
import { ensureServerIdentity } from "../server/server_identity.ts";
import { asCliError } from "./ca_command.ts";
import { CliError, collect, dataDirOption, EXIT_USAGE, integerIn, say } from "./common.ts";
import { askPassphrase } from "./passphrase.ts";
import { AdminsError, recordAdmins } from "../server/admins.ts";
import { MotdError, readMotd } from "../server/moderation/mod.ts";
import { isValidUserName } from "../protocol/names.ts";
import { join } from "node:path";
import {
  type ChatStore,
  DEFAULT_MAX_ROOM_MESSAGES,
  DEFAULT_RETENTION_MS,
  SqliteStore,
  STORE_FILE,
  StoreError,
} from "../server/store/mod.ts";
import { clusterUrls, NATS_URL_ENV, NatsUrlError } from "../server/cluster/nats_urls.ts";
import { type Cluster, joinCluster, openClusterCA } from "./cluster_setup.ts";

const DAY_MS = 86_400_000;

/** Default listening address: loopback only, until the operator chooses otherwise. */
export const DEFAULT_HOST = "127.0.0.1";
/** Default port. */
export const DEFAULT_PORT = 7443;

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `openchat serve`. */
export function serveCommand() {
  return new Command("serve")
    .description("run the chat server (creates the CA and server certificate on first run)")
    .option("--host <addr>", "address to listen on", DEFAULT_HOST)
    .option("--port <n>", "port to listen on", integerIn(0, 65535), DEFAULT_PORT)
    .addOption(dataDirOption())
    .option(
      "--hostname <name>",
      "a name clients use to reach this server, added to its certificate (repeatable)",
      collect,
      [] as string[],
    )
    .option("--max-sessions <n>", "most sessions at once", integerIn(1, 1_000_000), MAX_SESSIONS)
    .option(
      "--rate-limit <n>",
      "frames per second each session may send (bursts of twice that)",
      integerIn(1, 1_000_000),
      RATE_PER_SECOND,
    )
    .option(
      "--retention-days <n>",
      "days the server keeps room messages and inbox items for offline members",
      integerIn(1, 3650),
      DEFAULT_RETENTION_MS / DAY_MS,
    )
    .option(
      "--retention-messages <n>",
      "most messages kept per room (older ones go first)",
      integerIn(1, 10_000_000),
      DEFAULT_MAX_ROOM_MESSAGES,
    )
    .option(
      "--admin <name>",
      "make NAME a server administrator, the owner of every room (repeatable; recorded in the data directory)",
      collect,
      [] as string[],
    )
    .option(
      "--remove-admin <name>",
      "take NAME off the recorded administrators (repeatable)",
      collect,
      [] as string[],
    )
    .option("--motd <file>", "message of the day: shown on connecting and by /motd")
    .option(
      "--cluster <nats-url>",
      `share rooms, messages and the CA's records with other servers through NATS (nats://HOST:PORT; repeatable or a comma list; default $${NATS_URL_ENV})`,
      collect,
      [] as string[],
    )
    .addOption(
      new Option("--log-level <level>", "least severe log lines to print")
        .choices(["debug", "info", "warn", "error"] as const)
        .default("info" as const),
    )
    .action(async (options) => {
      for (const name of options.hostname) {
        if (!HOSTNAME.test(name) && !isIpAddress(name)) {
          throw new CliError(
            `--hostname ${JSON.stringify(name)} is not a DNS name or IP address`,
            EXIT_USAGE,
          );
        }
      }
      const named = [
        ...options.admin.map((name) => ["--admin", name]),
        ...options.removeAdmin.map((name) => ["--remove-admin", name]),
      ];
      for (const [option, name] of named) {
        if (!isValidUserName(name)) {
          throw new CliError(
            `${option} ${JSON.stringify(name)} is not a user name ([a-z0-9][a-z0-9_-]{0,31})`,
            EXIT_USAGE,
          );
        }
      }
      // Read before anything is created: a bad file stops the start with its reason.
      let motd: string | null = null;
      if (options.motd !== undefined) {
        motd = await readMotd(options.motd).catch((error) => {
          throw error instanceof MotdError ? new CliError(`--motd: ${error.message}`) : error;
        });
      }
      let natsUrls: string[];
      try {
        natsUrls = clusterUrls(options.cluster);
      } catch (error) {
        if (error instanceof NatsUrlError) {
          throw new CliError(`--cluster: ${error.message}`, EXIT_USAGE);
        }
        throw error;
      }
      const logger = stderrLogger(options.logLevel as LogLevel);
      const retentionMs = options.retentionDays * DAY_MS;
      let cluster: Cluster | undefined;
      if (natsUrls.length > 0) {
        cluster = await joinCluster(natsUrls, {
          logger,
          retentionMs,
          maxMessagesPerRoom: options.retentionMessages,
        });
      }
      const ca = cluster
        ? await openClusterCA(options.dataDir, cluster.journal, openOrCreateCA).catch(
          async (error) => {
            await cluster?.leave();
            throw error;
          },
        )
        : await openOrCreateCA(options.dataDir);
      let admins: string[];
      try {
        admins = await recordAdmins(ca.dataDir, options.admin, options.removeAdmin);
      } catch (error) {
        ca.close();
        await cluster?.leave();
        if (error instanceof AdminsError) throw new CliError(error.message);
        throw error;
      }
      const wildcard = options.host === "0.0.0.0" || options.host === "::";
      const names = [...options.hostname, ...(wildcard ? [] : [options.host])];
      if (ca.adoptedDatabase) {
        logger.log("info", "database_adopted", { ca_fingerprint: ca.fingerprint });
      }
      const identity = await ensureServerIdentity(ca, names);
      if (identity.issuedBecause) {
        logger.log("info", "server_certificate_issued", { reason: identity.issuedBecause });
      }
      let store: ChatStore;
      try {
        if (cluster) store = cluster.store;
        else {
          store = await SqliteStore.open(join(ca.dataDir, STORE_FILE), {
            retentionMs,
            maxMessagesPerRoom: options.retentionMessages,
          });
        }
      } catch (error) {
        ca.close();
        if (error instanceof StoreError) throw new CliError(error.message);
        throw error;
      }
      const dial = wildcard ? (options.hostname[0] ?? "localhost") : options.host;
      const dialHost = dial.includes(":") ? `[${dial}]` : dial;
      let target = `${dialHost}:${options.port}`;
      let server: ChatServer;
      try {
        server = await ChatServer.start({
          hostname: options.host,
          port: options.port,
          caCert: ca.cert,
          identity,
          records: ca.store,
          registrar: new CaRegistrar(ca, () => [target]),
          logger,
          store,
          retentionMs,
          admins,
          motd,
          hooks: cluster?.node,
          limits: {
            maxSessions: options.maxSessions,
            ratePerSecond: options.rateLimit,
            rateBurst: options.rateLimit * 2,
          },
        });
      } catch (error) {
        await store.close();
        await cluster?.leave();
        ca.close();
        throw new CliError(
          `Cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`,
        );
      }
      target = `${dialHost}:${server.addr.port}`;
      await writeListenRecord(ca.dataDir, target).catch((error) => {
        logger.log("warn", "listen_record_failed", { error: (error as Error).message });
      });
      say(`openchat server listening on ${server.address}`);
      say(`  data directory:            ${ca.dataDir}`);
      say(`  CA fingerprint (SHA-256):  ${ca.fingerprint}`);
      say(
        `  messages kept:             ${options.retentionDays} days, at most ${options.retentionMessages} per room`,
      );
      say(`  administrators:            ${admins.length ? admins.join(", ") : "none"}`);
      if (motd) say(`  message of the day:        ${options.motd}`);
      say(`  invites dial:              ${target}`);
      if (cluster) {
        say(
          `  cluster:                   ${natsUrls.join(", ")} (server ${cluster.node.serverId})`,
        );
      }
      say(`Next:`);
      say(`  invite someone:  openchat ca invite alice --data-dir ${ca.dataDir}`);
      say(`  they run:        openchat enroll TOKEN   (then: openchat join)`);
      await waitForSignal();
      const deadline = setTimeout(() => Deno.exit(0), SHUTDOWN_GRACE_MS + 2_000);
      await server.shutdown();
      clearTimeout(deadline);
      await store.close();
      await cluster?.leave();
      ca.close();
      logger.log("info", "stopped");
    });
}

async function openOrCreateCA(dataDir: string): Promise<CertificateAuthority> {
  try {
    return await CertificateAuthority.load(dataDir, {
      passphrase: () => askPassphrase(dataDir),
    });
  } catch (error) {
    if (!(error instanceof AuthorityError) || error.code !== "no_ca") asCliError(error);
  }
  const ca = await CertificateAuthority.create(dataDir).catch(asCliError);
  say(`Created a new CA in ${dataDir}`);
  return ca;
}

/** Resolves on the first SIGINT or SIGTERM. */
function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handler = () => {
      for (const signal of signals) Deno.removeSignalListener(signal, handler);
      resolve();
    };
    for (const signal of signals) Deno.addSignalListener(signal, handler);
  });
}
