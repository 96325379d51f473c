/**
 * What the client remembers between runs in its config directory (`client.json`, mode 0600):
 * the server it enrolled with and where its identity file is, so that a bare `openchat join`
 * connects as that device.
 *
 * @module
 */

import { join } from "node:path";
import { ensurePrivateDir, writeFileAtomic } from "../util/files.ts";

/** File name inside the config directory. */
export const CLIENT_CONFIG_FILE = "client.json";
/** Default identity file name inside the config directory. */
export const IDENTITY_FILE = "identity.pem";

/** The remembered server and identity. */
export interface ClientConfig {
  /** `host:port` of the server. */
  server: string;
  /**
   * Every address the invite named (a cluster's servers), in order; `openchat join` fails over
   * to the others when one cannot be reached. Absent in files from before clusters.
   */
  servers?: string[];
  /** Absolute path of the identity file. */
  identity: string;
}

/**
 * Reads `client.json` from `dir`; undefined when there is none.
 *
 * @throws {Error} naming the file when it exists but is not a client configuration.
 */
export async function readClientConfig(dir: string): Promise<ClientConfig | undefined> {
  const path = join(dir, CLIENT_CONFIG_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const config = value as Partial<ClientConfig> | undefined;
  if (typeof config?.server !== "string" || typeof config.identity !== "string") {
    throw new Error(`${path} is not an openchat client configuration; move it aside`);
  }
  const servers = Array.isArray(config.servers) &&
      config.servers.every((s: unknown) => typeof s === "string")
    ? { servers: config.servers as string[] }
    : {};
  return { server: config.server, identity: config.identity, ...servers };
}

/** Writes `client.json` in `dir` (made if missing, mode 0700), atomically. */
export async function writeClientConfig(dir: string, config: ClientConfig): Promise<void> {
  await ensurePrivateDir(dir);
  await writeFileAtomic(join(dir, CLIENT_CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
}
