/**
 * Naming rules shared by the CA, the server and the client. A user name is a certificate's CN,
 * so these rules are what stop a certificate from naming a path (`../x`), impersonating by
 * case (`Alice`), or smuggling terminal escapes into other people's screens.
 *
 * @module
 */

/** Longest user or room name, in characters. */
export const MAX_NAME_LENGTH = 32;

const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** True when `name` is a valid user name: lower-case `[a-z0-9][a-z0-9_-]{0,31}`. */
export function isValidUserName(name: unknown): name is string {
  return typeof name === "string" && NAME_PATTERN.test(name);
}

/** True when `name` is a valid room name (the same rule as user names). */
export function isValidRoomName(name: unknown): name is string {
  return typeof name === "string" && NAME_PATTERN.test(name);
}

/**
 * Explains why `name` is not a valid user name, or returns undefined when it is.
 *
 * @example
 * ```ts
 * import { userNameProblem } from "./names.ts";
 * userNameProblem("Alice"); // "must be lower case"
 * ```
 */
export function userNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_NAME_LENGTH) {
    return `must be at most ${MAX_NAME_LENGTH} characters (received ${name.length})`;
  }
  if (name !== name.toLowerCase()) return "must be lower case";
  if (!/^[a-z0-9]/.test(name)) return "must start with a letter or digit";
  if (!NAME_PATTERN.test(name)) return "may only contain a-z, 0-9, '_' and '-'";
  return undefined;
}
