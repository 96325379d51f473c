/**
 * A real server for tests: a CA in a temporary data directory, the server certificate, and a
 * `ChatServer` listening with TLS on 127.0.0.1 on a free port, with limits the test chooses.
 *
 * @module
 */

import { importIdentityPrivateKey } from "../../crypto/keys.ts";
import {
  createCA,
  issueServerCertificate,
  issueUserCertificate,
  type KeyedCertificate,
  parseCertificate,
} from "../../crypto/x509.ts";
import { CertificateAuthority } from "../../server/authority.ts";
import { ChatServer } from "../../server/chat_server.ts";
import { CaRegistrar } from "../../server/registrar.ts";
import { DEFAULT_DEVICE, deviceUri } from "../../protocol/devices.ts";
import type { ServerLimits } from "../../server/limits.ts";
import { type Logger, type LogLevel, type LogValue } from "../../server/log.ts";
import { ensureServerIdentity } from "../../server/server_identity.ts";
import { formatIdentityFile, parseIdentityFile } from "../../protocol/identity_file.ts";
import { encodePem } from "../../crypto/pem.ts";
import { SqliteStore, type SqliteStoreOptions, STORE_FILE } from "../../server/store/mod.ts";

/** What a test client needs to authenticate. */
export interface TestIdentity {
  readonly name: string;
  readonly device: string;
  readonly certDer: Uint8Array<ArrayBuffer>;
  readonly certPem: string;
  readonly keyPem: string;
  readonly privateKey: CryptoKey;
}

/** A log line captured from the server. */
export interface CapturedLog {
  level: LogLevel;
  event: string;
  fields: Record<string, LogValue>;
}

/** A running in-process server and its CA. */
export interface ServerFixture {
  readonly server: ChatServer;
  readonly ca: CertificateAuthority;
  readonly caPem: string;
  readonly port: number;
  readonly dataDir: string;
  readonly logs: CapturedLog[];
  /** The server's store (a SQLite file in `dataDir`), unless started with `store: false`. */
  readonly store: SqliteStore | undefined;
  /**
   * Issues a user certificate for `name`'s device (default `main`) from this server's CA,
   * recorded like `ca issue` (with `record: false`, signed by the CA key but left out of the
   * database, which the server must refuse).
   */
  issue(
    name: string,
    options?: { days?: number; now?: Date; device?: string; record?: boolean },
  ): Promise<TestIdentity>;
  /** Writes an identity file for `identity` and returns its path. */
  identityFile(identity: TestIdentity): Promise<string>;
  /**
   * Stops the server and its store and starts them again on the same data directory (a server
   * restart); `server`, `port` and `store` are the new ones afterwards.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Turns an issued certificate into a {@linkcode TestIdentity}. */
export async function toIdentity(
  name: string,
  issued: KeyedCertificate,
  device = DEFAULT_DEVICE,
): Promise<TestIdentity> {
  return {
    name,
    device,
    certDer: new Uint8Array(issued.cert.rawData),
    certPem: issued.certPem,
    keyPem: issued.privateKeyPem,
    privateKey: await importIdentityPrivateKey(issued.privateKeyPem),
  };
}

/** The identity in an identity file (as `openchat ca issue` or `openchat enroll` write it). */
export async function identityFromFile(
  path: string,
  name: string,
  device = DEFAULT_DEVICE,
): Promise<TestIdentity> {
  const parts = parseIdentityFile(await Deno.readTextFile(path));
  return await toIdentity(name, {
    cert: parseCertificate(parts.certificate),
    certPem: encodePem(parts.certificate, "CERTIFICATE"),
    privateKey: undefined as unknown as CryptoKey,
    privateKeyPem: encodePem(parts.privateKey, "PRIVATE KEY"),
  }, device);
}

/** How a test server is set up beyond its limits. */
export interface FixtureOptions {
  /** False: no enrolment, renewal or device administration (no CA registrar). */
  registrar?: boolean;
  /** False: no store (rooms live while they have sessions, nothing is kept). Default true. */
  store?: boolean;
  /** Retention and bounds of the store. */
  storeOptions?: SqliteStoreOptions;
  /** The store's clock (default `Date.now`). */
  clock?: () => number;
  /** How often retention runs (default the server's). */
  pruneIntervalMs?: number;
  /** The server's administrators (`serve --admin`). */
  admins?: string[];
}

/**
 * Starts a server with `limits` over the defaults, with a SQLite store in its data directory
 * (see {@linkcode FixtureOptions} for the rest).
 */
export async function startServer(
  limits: Partial<ServerLimits> = {},
  options: FixtureOptions = {},
): Promise<ServerFixture> {
  const dataDir = await Deno.makeTempDir({ prefix: "openchat-server-" });
  const ca = await CertificateAuthority.create(dataDir, { name: "Test CA" });
  const identity = await ensureServerIdentity(ca, []);
  const logs: CapturedLog[] = [];
  const logger: Logger = {
    log: (level, event, fields = {}) => logs.push({ level, event, fields }),
  };
  let address = "127.0.0.1:0";
  const start = async () => {
    const store = options.store === false
      ? undefined
      : await SqliteStore.open(`${dataDir}/${STORE_FILE}`, options.storeOptions);
    const server = await ChatServer.start({
      hostname: "127.0.0.1",
      port: 0,
      caCert: ca.cert,
      identity,
      records: ca.store,
      registrar: options.registrar === false ? undefined : new CaRegistrar(ca, () => [address]),
      limits,
      logger,
      store,
      retentionMs: store?.options.retentionMs,
      clock: options.clock,
      pruneIntervalMs: options.pruneIntervalMs,
      admins: options.admins,
    });
    address = server.address;
    return { server, store };
  };
  let running = await start();
  return {
    get server() {
      return running.server;
    },
    ca,
    caPem: ca.certPem,
    get port() {
      return running.server.addr.port;
    },
    dataDir,
    logs,
    get store() {
      return running.store;
    },
    async restart() {
      await running.server.shutdown();
      await running.store?.close();
      running = await start();
    },
    async issue(name, options = {}) {
      const device = options.device ?? DEFAULT_DEVICE;
      const { issued } = options.record === false
        ? {
          issued: await issueUserCertificate(ca.issuer, {
            name,
            uris: [deviceUri(name, device)],
            days: options.days ?? 30,
            now: options.now,
          }),
        }
        : await ca.issueUser(name, options.days ?? 30, async () => {}, {
          device,
          now: options.now,
        });
      return await toIdentity(name, issued, device);
    },
    async identityFile(identity) {
      const path = `${dataDir}/${identity.name}-${identity.device}-identity.pem`;
      await Deno.writeTextFile(
        path,
        formatIdentityFile(identity.certPem, identity.keyPem, ca.certPem),
        { mode: 0o600 },
      );
      return path;
    },
    async close() {
      await running.server.shutdown();
      await running.store?.close();
      ca.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}

/** A CA unrelated to any server, for wrong-CA tests. */
export async function foreignIdentity(name: string): Promise<TestIdentity> {
  const other = await createCA({ name: "Test CA" });
  return await toIdentity(
    name,
    await issueUserCertificate(other, { name, uris: [deviceUri(name, DEFAULT_DEVICE)] }),
  );
}

/** The server's own certificate and key, which a user must not be able to log in with. */
export async function serverCertificateIdentity(fixture: ServerFixture): Promise<TestIdentity> {
  return await toIdentity(
    "localhost",
    await issueServerCertificate(fixture.ca.issuer, { hostnames: ["localhost"] }),
  );
}
