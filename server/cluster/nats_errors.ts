/**
 * How failures of NATS reach the rest of openchat: a write refused by JetStream's optimistic
 * concurrency (someone else wrote first) is a {@linkcode ConflictError} the caller retries; any
 * other failure (NATS away, a timeout, a closed connection) is the store's
 * `StoreUnavailableError`, which the server turns into `store_unavailable` for the client.
 *
 * @module
 */

import { StoreError, StoreUnavailableError } from "../store/errors.ts";

/** JetStream's error code for "wrong last sequence" (an expected-sequence check failed). */
export const WRONG_LAST_SEQUENCE = 10071;
/** How many times a compare-and-set loop retries before it reports the store unavailable. */
export const MAX_CAS_ATTEMPTS = 64;

/** Someone else wrote first; `last` is the sequence JetStream has now (when it said). */
export class ConflictError extends Error {
  constructor(readonly last: number | undefined) {
    super(`write conflict (last sequence ${last ?? "unknown"})`);
    this.name = "ConflictError";
  }
}

/** The JetStream API error code of `error`, if it is one. */
function apiCode(error: unknown): number | undefined {
  const api = (error as { code?: unknown; apiError?: () => { err_code?: number } })?.apiError;
  if (typeof api === "function") return api.call(error)?.err_code;
  return undefined;
}

/** True when `error` is JetStream refusing an expected-sequence check. */
export function isConflict(error: unknown): boolean {
  if (error instanceof ConflictError) return true;
  if (apiCode(error) === WRONG_LAST_SEQUENCE) return true;
  return /wrong last sequence/i.test(String((error as Error)?.message ?? ""));
}

/** The last sequence a conflict error names ("wrong last sequence: 6"), if any. */
export function conflictLast(error: unknown): number | undefined {
  if (error instanceof ConflictError) return error.last;
  const match = String((error as Error)?.message ?? "").match(/wrong last sequence: (\d+)/i);
  return match ? Number(match[1]) : undefined;
}

/** True when `error` says a stream or consumer does not exist. */
export function isNotFound(error: unknown): boolean {
  return /not found/i.test(String((error as Error)?.message ?? ""));
}

/**
 * `error` as a store error: store refusals pass through, conflicts become {@linkcode
 * ConflictError}, anything else is {@linkcode StoreUnavailableError} naming what failed.
 */
export function asStoreError(error: unknown, what: string): Error {
  if (error instanceof StoreError || error instanceof ConflictError) return error;
  if (isConflict(error)) return new ConflictError(conflictLast(error));
  return new StoreUnavailableError(
    `NATS could not ${what}: ${String((error as Error)?.message ?? error)}`,
    { cause: error },
  );
}
