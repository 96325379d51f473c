/**
 * Checks of a moderation command's arguments: user names, reasons, topics, durations and mode
 * changes. Pure functions, no store: each returns the value to use (trimmed, normalised) or a
 * {@linkcode Refusal} naming what was received, so that bad input is refused before anything is
 * read or written.
 *
 * @module
 */

import { formatDuration, MAX_DURATION_MS, MIN_DURATION_MS } from "../../protocol/duration.ts";
import { isValidUserName } from "../../protocol/names.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import { MODE_LETTERS, type ModeLetter, type Refusal } from "./types.ts";

/** True when `value` is a refusal rather than a checked value. */
export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && (value as Refusal).ok === false;
}

/** How a received value is named in a message: short strings quoted, long ones measured. */
export function show(value: unknown): string {
  if (typeof value !== "string") return value === undefined ? "nothing" : typeof value;
  return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
}

/** Checks a target user name. */
export function checkTarget(target: unknown): string | Refusal {
  return isValidUserName(target) ? target : refuse(
    "bad_target",
    `A user name is [a-z0-9][a-z0-9_-]{0,31} (received ${show(target)})`,
  );
}

/** Checks free text (a reason, a topic): a string, no control characters, trimmed, bounded. */
function checkText(
  what: "reason" | "topic",
  text: unknown,
  max: number,
): string | Refusal {
  if (typeof text !== "string") {
    return refuse("bad_command", `The ${what} must be text (received ${show(text)})`);
  }
  // Control characters would let one user move another's cursor or rewrite their screen.
  if (/\p{Cc}/u.test(text)) {
    return refuse("bad_text", `The ${what} contains a control character (received ${show(text)})`);
  }
  const trimmed = text.trim();
  if (trimmed.length > max) {
    return refuse(
      what === "reason" ? "reason_too_long" : "topic_too_long",
      `A ${what} is at most ${max} characters (received ${trimmed.length})`,
    );
  }
  return trimmed;
}

/** Checks an optional reason; absent or blank gives `""`. */
export function checkReason(reason: unknown, max: number): string | Refusal {
  return reason === undefined ? "" : checkText("reason", reason, max);
}

/** Checks a topic to set; blank gives `""`, which clears it. */
export function checkTopic(topic: unknown, max: number): string | Refusal {
  return checkText("topic", topic, max);
}

/**
 * Checks an optional duration in ms: absent is for ever (null); otherwise a whole number of
 * ms from {@linkcode MIN_DURATION_MS} to {@linkcode MAX_DURATION_MS}.
 */
export function checkDuration(durationMs: unknown): number | null | Refusal {
  if (durationMs === undefined) return null;
  if (
    typeof durationMs === "number" && Number.isSafeInteger(durationMs) &&
    durationMs >= MIN_DURATION_MS && durationMs <= MAX_DURATION_MS
  ) {
    return durationMs;
  }
  return refuse(
    "bad_duration",
    `A duration is from ${formatDuration(MIN_DURATION_MS)} to ${
      formatDuration(MAX_DURATION_MS)
    } (received ${typeof durationMs === "number" ? `${durationMs} ms` : show(durationMs)})`,
  );
}

/** A parsed mode change: letters to set and letters to clear, each at most once in all. */
export interface ModeChanges {
  add: ModeLetter[];
  remove: ModeLetter[];
}

/**
 * Parses a mode change: one or more groups of a sign (`+` or `-`) and one or more of the
 * letters `i`, `m`, `t`, each letter at most once in all (`"+i"`, `"-mt"`, `"+m-t"`).
 */
export function parseModeChanges(changes: unknown): ModeChanges | Refusal {
  const bad = (why: string) =>
    refuse(
      "bad_mode",
      `Mode changes are + or - and the letters i, m, t: ${why} (received ${show(changes)})`,
    );
  if (typeof changes !== "string" || changes.length === 0) return bad("nothing to change");
  const result: ModeChanges = { add: [], remove: [] };
  const seen = new Set<string>();
  let sign: "+" | "-" | null = null;
  let letters = 0;
  for (const char of changes) {
    if (char === "+" || char === "-") {
      if (sign !== null && letters === 0) return bad(`${sign} is followed by no letter`);
      sign = char;
      letters = 0;
    } else if (sign === null) {
      return bad("start with + or -");
    } else if (!MODE_LETTERS.includes(char as ModeLetter)) {
      return bad(`unknown mode letter ${show(char)}`);
    } else if (seen.has(char)) {
      return bad(`${char} appears twice`);
    } else {
      seen.add(char);
      (sign === "+" ? result.add : result.remove).push(char as ModeLetter);
      letters += 1;
    }
  }
  if (letters === 0) return bad(`${sign} is followed by no letter`);
  return result;
}

/**
 * Applies `changes` to a room's current mode letters and returns the new letters (sorted) and
 * what actually changed, in the canonical spelling `+<set>-<cleared>` (`""` when nothing did).
 */
export function applyModeChanges(
  current: string,
  changes: ModeChanges,
): { modes: string; applied: string } {
  const modes = new Set(current);
  const added = changes.add.filter((letter) => !modes.has(letter)).sort();
  const removed = changes.remove.filter((letter) => modes.has(letter)).sort();
  for (const letter of added) modes.add(letter);
  for (const letter of removed) modes.delete(letter);
  const applied = (added.length ? `+${added.join("")}` : "") +
    (removed.length ? `-${removed.join("")}` : "");
  return { modes: [...modes].sort().join(""), applied };
}
