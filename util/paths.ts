/**
 * Where openchat keeps its state by default, following the XDG base directory convention.
 *
 * @module
 */

import { join } from "node:path";

function home(): string {
  const value = Deno.env.get("HOME");
  if (!value) throw new Error("HOME is not set: pass --data-dir or set OPENCHAT_HOME");
  return value;
}

/**
 * The server's data directory: `$OPENCHAT_HOME`, else `$XDG_DATA_HOME/openchat`, else
 * `~/.local/share/openchat`. An explicit `--data-dir` wins over all of them.
 */
export function defaultDataDir(): string {
  const explicit = Deno.env.get("OPENCHAT_HOME");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_DATA_HOME");
  if (xdg) return join(xdg, "openchat");
  return join(home(), ".local", "share", "openchat");
}

/**
 * The client's configuration directory (trust store): `$OPENCHAT_CONFIG`, else
 * `$XDG_CONFIG_HOME/openchat`, else `~/.config/openchat`.
 */
export function defaultConfigDir(): string {
  const explicit = Deno.env.get("OPENCHAT_CONFIG");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CONFIG_HOME");
  if (xdg) return join(xdg, "openchat");
  return join(home(), ".config", "openchat");
}
