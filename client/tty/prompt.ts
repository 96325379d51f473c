/**
 * The prompt: the current room, its lock state and head count, how many of our messages are
 * still on their way, and the other conversations with unread messages, e.g.
 * `[lobby 🔒 3 ↑1 · dev 2 · @bob 1]> `. The lock state is worked out from a snapshot of the
 * client so it is testable without one.
 *
 * @module
 */

import type { Style } from "./style.ts";
import { displayWidth } from "./width.ts";

/** Whether messages in the room are encrypted to people whose keys we trust. */
export type LockState =
  /** Keys in place with every member, and every member's key is the one we trust. */
  | "verified"
  /** Some member's key changed (or failed to verify): their messages show as unverified. */
  | "warning"
  /** Not connected, or keys not in place yet. */
  | "pending"
  /** In no room. */
  | "none";

/** One member as the prompt sees it. */
export interface MemberSnapshot {
  readonly user: string;
  readonly status: "pending" | "ready" | "failed";
  /** `client.isVerified(user)`: false when their key changed, null when never seen. */
  readonly verified: boolean | null;
}

/** What the prompt shows, read from the client. */
export interface PromptSnapshot {
  readonly room: string | undefined;
  readonly connected: boolean;
  /** `roomState(room).ready`: joined, with keys in place for every member. */
  readonly ready: boolean;
  /** The other members of the room. */
  readonly members: readonly MemberSnapshot[];
  /** Our messages queued and not yet confirmed. */
  readonly sending: number;
  /** Other conversations with unread messages: `dev`, or `@bob` for a direct one. */
  readonly unread?: readonly { readonly name: string; readonly count: number }[];
}

/** Conversations with unread messages the prompt names; the rest are summed up as `+N`. */
export const MAX_PROMPT_UNREAD = 3;

/** The lock state of `snapshot`. */
export function lockState(snapshot: PromptSnapshot): LockState {
  if (snapshot.room === undefined) return "none";
  if (!snapshot.connected) return "pending";
  const warned = snapshot.members.some((member) =>
    member.status === "failed" || member.verified === false
  );
  if (warned) return "warning";
  if (!snapshot.ready) return "pending";
  const settled = snapshot.members.every((member) =>
    member.status === "ready" && member.verified === true
  );
  return settled ? "verified" : "pending";
}

/** Symbols for each lock state. */
export const LOCK_SYMBOLS: Record<LockState, string> = {
  verified: "🔒",
  warning: "⚠",
  pending: "…",
  none: "",
};

/** A prompt as shown (with colour) and its width in columns. */
export interface Prompt {
  readonly text: string;
  readonly width: number;
}

/**
 * Builds the prompt for `snapshot`.
 *
 * @example
 * ```ts
 * import { buildPrompt } from "./prompt.ts";
 * import { createStyle } from "./style.ts";
 * const snapshot = {
 *   room: "lobby",
 *   connected: true,
 *   ready: true,
 *   members: [{ user: "bob", status: "ready" as const, verified: true }],
 *   sending: 0,
 * };
 * buildPrompt(snapshot, createStyle(false)).text; // "[lobby 🔒 2]> "
 * ```
 */
export function buildPrompt(snapshot: PromptSnapshot, style: Style): Prompt {
  const state = lockState(snapshot);
  const parts: { plain: string; painted: string }[] = [];
  const add = (plain: string, paint: (text: string) => string = (text) => text) =>
    parts.push({ plain, painted: paint(plain) });
  add("[");
  if (snapshot.room === undefined) {
    add("no room", style.dim);
  } else {
    add(snapshot.room, style.bold);
    add(" ");
    add(
      LOCK_SYMBOLS[state],
      state === "verified" ? style.green : state === "warning" ? style.warning : style.yellow,
    );
    add(` ${snapshot.members.length + 1}`);
  }
  if (snapshot.sending > 0) add(` ↑${snapshot.sending}`, style.yellow);
  const unread = (snapshot.unread ?? []).filter((entry) => entry.count > 0);
  for (const entry of unread.slice(0, MAX_PROMPT_UNREAD)) {
    add(" · ");
    add(`${entry.name} ${entry.count}`, style.bold);
  }
  if (unread.length > MAX_PROMPT_UNREAD) add(` · +${unread.length - MAX_PROMPT_UNREAD}`);
  add("]> ");
  const plain = parts.map((part) => part.plain).join("");
  return { text: parts.map((part) => part.painted).join(""), width: displayWidth(plain) };
}
