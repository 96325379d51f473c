/**
 * Small helpers over one key-value bucket: JSON values, compare-and-set updates that retry on a
 * conflict, and listing keys under a filter. Every value is JSON the store wrote; a value that
 * does not parse is treated as absent rather than crashing a reader.
 *
 * @module
 */

import type { KV } from "@nats-io/kv";
import { isConflict, MAX_CAS_ATTEMPTS } from "./nats_errors.ts";
import { StoreUnavailableError } from "../store/errors.ts";

/** A value with the revision it was read at (0 when absent), for a later compare-and-set. */
export interface Versioned<T> {
  value: T | undefined;
  revision: number;
}

/** Reads `key` as JSON; absent (never put, deleted or unreadable) is `undefined`. */
export async function getJson<T>(kv: KV, key: string): Promise<Versioned<T>> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== "PUT") {
    return { value: undefined, revision: entry?.revision ?? 0 };
  }
  try {
    return { value: entry.json<T>(), revision: entry.revision };
  } catch {
    return { value: undefined, revision: entry.revision };
  }
}

/**
 * Reads `key`, lets `change` compute the new value (or `undefined` to delete it, or `null` to
 * leave it alone), and writes it only if nobody wrote `key` meanwhile; retries on a conflict.
 * Returns what `change` returned last along with its result.
 */
export async function casUpdate<T, R>(
  kv: KV,
  key: string,
  change: (current: T | undefined) => { next: T | undefined | null; result: R },
): Promise<R> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const { value, revision } = await getJson<T>(kv, key);
    const { next, result } = change(value);
    if (next === null) return result;
    try {
      if (next === undefined) {
        if (value !== undefined) await kv.delete(key, { previousSeq: revision });
      } else if (revision === 0 || value === undefined) {
        if (revision === 0) await kv.create(key, JSON.stringify(next));
        else await kv.update(key, JSON.stringify(next), revision);
      } else {
        await kv.update(key, JSON.stringify(next), revision);
      }
      return result;
    } catch (error) {
      if (!isConflict(error) && !/exists/i.test(String((error as Error)?.message))) throw error;
    }
  }
  throw new StoreUnavailableError(`too many concurrent writers of ${key}`);
}

/** Every key matching `filter` (NATS subject syntax), sorted. */
export async function listKeys(kv: KV, filter: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of await kv.keys(filter)) keys.push(key);
  return keys.sort();
}

/** Reads many keys at once (in parallel batches), in the order given. */
export async function getMany<T>(kv: KV, keys: readonly string[]): Promise<(T | undefined)[]> {
  const values: (T | undefined)[] = [];
  for (let i = 0; i < keys.length; i += 64) {
    const batch = await Promise.all(keys.slice(i, i + 64).map((key) => getJson<T>(kv, key)));
    for (const { value } of batch) values.push(value);
  }
  return values;
}

/** Returns true when `error` is a conflict from `create` (the key exists). */
export function isExists(error: unknown): boolean {
  return isConflict(error) || /exists/i.test(String((error as Error)?.message ?? ""));
}
