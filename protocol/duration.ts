/**
 * Durations as people type them in moderation commands (`/ban bob 2h`, `/mute bob 10m`): one
 * positive whole number and one unit, `s`, `m`, `h` or `d`. Nothing else is accepted (no
 * fractions, no signs, no spaces, no compound `1h30m`, no upper case), so that what a moderator
 * types means exactly one thing on every client and on the server.
 *
 * @example
 * ```ts
 * import { formatDuration, parseDuration } from "./duration.ts";
 *
 * parseDuration("10m"); // 600000
 * formatDuration(600_000); // "10m"
 * formatDuration(parseDuration("120s")); // "2m"
 * ```
 *
 * @module
 */

/** Milliseconds in one of each unit, largest last. */
export const DURATION_UNITS = Object.freeze(
  {
    s: 1_000,
    m: 60_000,
    h: 3_600_000,
    d: 86_400_000,
  } as const,
);

/** A duration unit letter. */
export type DurationUnit = keyof typeof DURATION_UNITS;

/** The shortest duration that can be typed: one second. */
export const MIN_DURATION_MS = DURATION_UNITS.s;
/** The longest duration that can be typed: 365 days. Longer than that, ban without a duration. */
export const MAX_DURATION_MS = 365 * DURATION_UNITS.d;

// The longest number that can stay under the maximum is 365d in seconds: 31536000, 8 digits.
// Anything longer is refused before it is turned into a number, so no input can overflow.
const DURATION_PATTERN = /^([1-9][0-9]{0,7})([smhd])$/;

/** Units from largest to smallest, for formatting. */
const UNITS_DESCENDING: readonly DurationUnit[] = ["d", "h", "m", "s"];

/** How a received value is named in an error: short strings quoted, long ones only measured. */
function show(value: unknown): string {
  if (typeof value !== "string") return typeof value;
  return value.length > 20 ? `a string of ${value.length} characters` : JSON.stringify(value);
}

/**
 * Parses a duration such as `30s`, `10m`, `2h` or `7d` to milliseconds.
 *
 * @param text One positive whole number (no leading zero) followed by one unit letter.
 * @returns The duration in milliseconds, from {@linkcode MIN_DURATION_MS} to
 *   {@linkcode MAX_DURATION_MS}.
 * @throws {RangeError} naming what was received, for anything else (including `0s`, `10`, `5y`,
 *   `1.5h`, ` 2h`, `2H`, and durations past the maximum).
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("2h"); // 7200000
 * ```
 */
export function parseDuration(text: string): number {
  const match = typeof text === "string" ? DURATION_PATTERN.exec(text) : null;
  if (!match) {
    throw new RangeError(
      `a duration is a positive whole number and a unit s, m, h or d, such as 30s, 10m, 2h or 7d (received ${
        show(text)
      })`,
    );
  }
  const ms = Number(match[1]) * DURATION_UNITS[match[2] as DurationUnit];
  if (ms > MAX_DURATION_MS) {
    throw new RangeError(
      `a duration is at most ${formatDuration(MAX_DURATION_MS)} (received ${show(text)})`,
    );
  }
  return ms;
}

/**
 * Formats milliseconds as the largest unit that counts them exactly (`600000` → `"10m"`,
 * `5400000` → `"90m"`), after rounding up to a whole second, so that a time still to run never
 * shows as `0s`, and the result parses back with {@linkcode parseDuration} (when it is within
 * its range) to the same or a slightly longer duration.
 *
 * @param ms A whole number of milliseconds, 0 or more.
 * @returns One number and one unit; `"0s"` for 0.
 * @throws {RangeError} for a negative, fractional, infinite or NaN `ms`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * formatDuration(86_400_000); // "1d"
 * formatDuration(1_500); // "2s"
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(
      `a duration to format must be whole milliseconds, 0 or more (received ${ms})`,
    );
  }
  const seconds = Math.ceil(ms / DURATION_UNITS.s);
  for (const unit of UNITS_DESCENDING) {
    const perUnit = DURATION_UNITS[unit] / DURATION_UNITS.s;
    if (seconds > 0 && seconds % perUnit === 0) return `${seconds / perUnit}${unit}`;
  }
  return `${seconds}s`;
}
