/**
 * Where a client command connects and as whom: `HOST:PORT` and `--identity FILE` when given,
 * else what `openchat enroll` remembered in the config directory (`client.json`).
 *
 * @module
 */

import { join, resolve } from "node:path";
import { CLIENT_CONFIG_FILE, IDENTITY_FILE, readClientConfig } from "../client/client_config.ts";
import { type Endpoint, parseEndpoint } from "../client/connection.ts";
import { defaultConfigDir } from "../util/paths.ts";
import { CliError, EXIT_USAGE } from "./common.ts";

/** The `--config-dir` option's help text. */
export const CONFIG_DIR_HELP =
  "the client's config directory: identity, remembered server, trust store (default: $OPENCHAT_CONFIG, $XDG_CONFIG_HOME/openchat or ~/.config/openchat)";

/** Most servers a client fails over to beyond the first (an invite names at most 4). */
export const MAX_FALLBACKS = 7;

/** A resolved target. */
export interface ClientTarget {
  readonly endpoint: Endpoint;
  /** The other addresses given or remembered, to fail over to. */
  readonly fallbacks: Endpoint[];
  /** `host:port` as given or remembered. */
  readonly address: string;
  readonly identityPath: string;
  readonly configDir: string;
}

/**
 * Resolves the server and identity for a client command.
 *
 * @throws {CliError} (exit 2) when neither is given nor remembered, or the address is malformed.
 */
export async function resolveClientTarget(options: {
  address?: string;
  /** More addresses after the first (`openchat join A B C`). */
  more?: string[];
  identity?: string;
  configDir?: string;
}): Promise<ClientTarget> {
  const configDir = resolve(options.configDir ?? defaultConfigDir());
  const remembered = await readClientConfig(configDir).catch((error) => {
    throw new CliError((error as Error).message);
  });
  const address = options.address ?? remembered?.server;
  if (!address) {
    throw new CliError(
      `No server given and none remembered in ${join(configDir, CLIENT_CONFIG_FILE)}: ` +
        "pass HOST:PORT, or enrol this device first with `openchat enroll TOKEN`",
      EXIT_USAGE,
    );
  }
  const others = options.address !== undefined
    ? options.more ?? []
    : (remembered?.servers ?? []).filter((server) => server !== address);
  let endpoint: Endpoint;
  let fallbacks: Endpoint[];
  try {
    endpoint = parseEndpoint(address);
    fallbacks = others.slice(0, MAX_FALLBACKS).map(parseEndpoint);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT_USAGE);
  }
  const identityPath = resolve(
    options.identity ?? remembered?.identity ?? join(configDir, IDENTITY_FILE),
  );
  return { endpoint, fallbacks, address, identityPath, configDir };
}
