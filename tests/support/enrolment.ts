/**
 * Enrolment the way people do it, as child processes: `openchat ca invite` on the server's data
 * directory, then `openchat enroll TOKEN` with the device's own config directory.
 *
 * @module
 */

import { assertEquals } from "./assert.ts";
import { openchat } from "./cli.ts";
import type { RunResult } from "./tools.ts";

/** An invite made by `openchat ca invite`. */
export interface Invite {
  readonly token: string;
  /** The id `ca cancel-invite` takes, from the instructions on standard error. */
  readonly id: string;
  readonly result: RunResult;
}

/** Runs `openchat ca invite NAME ...args` and returns the token it printed. */
export async function invite(data: string, name: string, args: string[] = []): Promise<Invite> {
  const result = await openchat(["ca", "invite", name, "--data-dir", data, ...args]);
  assertEquals(result.code, 0, result.stderr);
  const id = result.stderr.match(/Invite ([0-9a-f]{12}) for/)?.[1] ?? "";
  return { token: result.stdout.trim(), id, result };
}

/** Runs `openchat enroll TOKEN --config-dir DIR ...args`. */
export function enroll(token: string, configDir: string, args: string[] = []): Promise<RunResult> {
  return openchat(["enroll", token, "--config-dir", configDir, ...args]);
}

/** Invites `name`'s `device` and enrols it into `configDir`; returns the identity file's path. */
export async function enrolled(
  data: string,
  name: string,
  device: string,
  configDir: string,
): Promise<string> {
  const { token } = await invite(data, name, ["--device", device]);
  const result = await enroll(token, configDir);
  assertEquals(result.code, 0, result.stderr);
  return `${configDir}/identity.pem`;
}
