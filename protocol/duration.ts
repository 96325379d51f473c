/**
 * Durations as people type them on a command line: a whole number and one unit, `30s`, `10m`,
 * `2h` or `7d`. Shared by every option that takes a lifetime (invites today, more later).
 *
 * @module
 */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Longest number accepted before the unit, so nothing overflows. */
const MAX_DIGITS = 6;

/**
 * Parses `text` as a duration in milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("2h"); // 7_200_000
 * ```
 * @throws {RangeError} naming what was received, for anything but `<digits><s|m|h|d>`.
 */
export function parseDuration(text: string): number {
  const match = text.trim().match(new RegExp(`^(\\d{1,${MAX_DIGITS}})([smhd])$`));
  const amount = Number(match?.[1]);
  if (!match || amount === 0) {
    throw new RangeError(
      `expected a duration such as 30s, 10m, 2h or 7d, received ${JSON.stringify(text)}`,
    );
  }
  return amount * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/**
 * Formats milliseconds in the largest unit that divides them exactly (`7d`, `90m`, `45s`),
 * so that {@linkcode parseDuration} reads it back.
 */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${Math.ceil(ms / 1000)}s`;
}
