/**
 * The server's administrators (`openchat serve --admin NAME`), recorded in the data directory
 * (`admins.json`) so that they stay administrators across restarts without being named again:
 * each `--admin` adds a name to the record, each `--remove-admin` takes one out. An
 * administrator acts as the owner of every room (`server/moderation/`).
 *
 * @module
 */

import { join } from "node:path";
import { isValidUserName } from "../protocol/names.ts";
import { writeFileAtomic } from "../util/files.ts";

/** File name inside the data directory. */
export const ADMINS_FILE = "admins.json";

/** A record of administrators that cannot be used (unreadable, or not a list of user names). */
export class AdminsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AdminsError";
  }
}

/**
 * The administrators recorded in `dataDir`, in name order; none when nothing is recorded.
 *
 * @throws {AdminsError} when the file exists but is not `{"admins": [user names]}`: a server
 *   must not start with fewer administrators than its operator recorded.
 */
export async function readAdmins(dataDir: string): Promise<string[]> {
  const path = join(dataDir, ADMINS_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw new AdminsError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AdminsError(`${path} is not JSON`, { cause: error });
  }
  const admins = (value as { admins?: unknown } | null)?.admins;
  if (!Array.isArray(admins) || !admins.every(isValidUserName)) {
    throw new AdminsError(`${path} must be {"admins": [user names]}`);
  }
  return [...new Set(admins)].sort();
}

/**
 * Adds `add` to the administrators recorded in `dataDir` and takes `remove` out (a name in both
 * is removed), writes the record when it changed, and returns it.
 *
 * @throws {TypeError} naming a name that is not a valid user name (nothing is written then).
 * @throws {AdminsError} as {@linkcode readAdmins}.
 *
 * @example
 * ```ts
 * import { recordAdmins } from "./admins.ts";
 * const dir = await Deno.makeTempDir();
 * await recordAdmins(dir, ["root"], []); // ["root"]
 * await recordAdmins(dir, [], []); // ["root"]: recorded
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function recordAdmins(
  dataDir: string,
  add: readonly string[],
  remove: readonly string[],
): Promise<string[]> {
  for (const name of [...add, ...remove]) {
    if (!isValidUserName(name)) {
      throw new TypeError(
        `an administrator must be a user name ([a-z0-9][a-z0-9_-]{0,31}), received ${
          JSON.stringify(name)
        }`,
      );
    }
  }
  const before = await readAdmins(dataDir);
  const admins = new Set([...before, ...add]);
  for (const name of remove) admins.delete(name);
  const after = [...admins].sort();
  if (after.join(",") !== before.join(",")) {
    await writeFileAtomic(
      join(dataDir, ADMINS_FILE),
      JSON.stringify({ admins: after }, null, 2) + "\n",
      { mode: 0o644 },
    );
  }
  return after;
}
