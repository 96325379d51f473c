/**
 * The smallest pieces of text for people, shared by every formatter: times, and text from
 * others made safe for a terminal.
 *
 * @module
 */

/** Local time of an ISO timestamp as HH:MM:SS. */
export function clock(iso: string | number | Date = new Date()): string {
  const date = new Date(iso);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) =>
    String(n).padStart(2, "0")
  ).join(":");
}

/**
 * The time of a message: `HH:MM:SS` on the day of `now`, `YYYY-MM-DD HH:MM` on another day (a
 * message caught up or scrolled back to may be older than today).
 */
export function messageClock(iso: string | number | Date, now: Date = new Date()): string {
  const date = new Date(iso);
  const sameDay = date.getFullYear() === now.getFullYear() && date.getMonth() === now.getMonth() &&
    date.getDate() === now.getDate();
  if (sameDay) return clock(date);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${
    pad(date.getHours())
  }:${pad(date.getMinutes())}`;
}

/**
 * Replaces control characters (terminal escapes among them) so text from others can never
 * move the cursor, change colours or retitle the window.
 */
export function sanitize(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g, "\ufffd").replace(
    /\n/g,
    "\n  ",
  );
}
