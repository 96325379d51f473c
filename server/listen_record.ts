/**
 * The address `openchat serve` last listened on, as clients should dial it, kept in the data
 * directory (`server.json`) so that `openchat ca invite` can put it in invites by default.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../util/files.ts";

/** File name inside the data directory. */
export const LISTEN_RECORD_FILE = "server.json";

/** What `server.json` holds. */
export interface ListenRecord {
  /** `host:port` clients dial. */
  address: string;
  /** When the server started listening there (ISO 8601). */
  since: string;
}

/** Records that the server listens at `address` now. */
export async function writeListenRecord(dataDir: string, address: string): Promise<void> {
  const record: ListenRecord = { address, since: new Date().toISOString() };
  await writeFileAtomic(join(dataDir, LISTEN_RECORD_FILE), JSON.stringify(record) + "\n", {
    mode: 0o644,
  });
}

/** The recorded address, or undefined when there is none (or it cannot be read). */
export async function readListenRecord(dataDir: string): Promise<ListenRecord | undefined> {
  try {
    const value = JSON.parse(await Deno.readTextFile(join(dataDir, LISTEN_RECORD_FILE)));
    if (typeof value?.address === "string" && typeof value?.since === "string") return value;
  } catch {
    // Missing or unreadable: as if never recorded.
  }
  return undefined;
}
