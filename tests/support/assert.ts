/**
 * Test assertions: `node:assert/strict` does the comparing; these wrappers give it the shape the
 * tests read best in (the error a rejection produced is returned, so its code can be checked).
 *
 * @module
 */

import assert from "node:assert/strict";

/** Deep, strict equality. */
export function assertEquals<T>(
  actual: unknown,
  expected: T,
  message?: string,
): asserts actual is T {
  assert.deepStrictEqual(actual, expected, message);
}

/** Strict inequality. */
export function assertNotEquals(actual: unknown, expected: unknown, message?: string): void {
  assert.notDeepStrictEqual(actual, expected, message);
}

/** Truthiness. */
export function assert_(value: unknown, message?: string): asserts value {
  assert.ok(value, message);
}
export { assert_ as assert };

/** `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  assert.ok(
    text.includes(part),
    message ?? `Expected ${JSON.stringify(text.slice(0, 2000))} to include ${JSON.stringify(part)}`,
  );
}

/** `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  assert.match(text, pattern, message);
}

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

function checkError<E extends Error>(
  error: unknown,
  errorClass: ErrorClass<E> | undefined,
  includes: string | undefined,
  message: string | undefined,
): E {
  const prefix = message ? `${message}: ` : "";
  if (errorClass && !(error instanceof errorClass)) {
    throw new assert.AssertionError({
      message: `${prefix}Expected ${errorClass.name}, got ${String(error)}`,
    });
  }
  if (includes !== undefined && !(error instanceof Error && error.message.includes(includes))) {
    throw new assert.AssertionError({
      message: `${prefix}Expected error message to include ${JSON.stringify(includes)}, got ${
        String(error)
      }`,
    });
  }
  return error as E;
}

/** `fn` throws; returns what it threw after checking its class and message. */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClass?: ErrorClass<E>,
  includes?: string,
  message?: string,
): E {
  try {
    fn();
  } catch (error) {
    return checkError(error, errorClass, includes, message);
  }
  throw new assert.AssertionError({ message: `${message ? message + ": " : ""}Expected a throw` });
}

/** `fn` rejects; returns the rejection after checking its class and message. */
export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  errorClass?: ErrorClass<E>,
  includes?: string,
  message?: string,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, errorClass, includes, message);
  }
  throw new assert.AssertionError({
    message: `${message ? message + ": " : ""}Expected a rejection`,
  });
}
