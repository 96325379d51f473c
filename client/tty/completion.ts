/**
 * What Tab completes: a command name for the first word when it starts with `/` (and for the
 * argument of `/help`), a room for the argument of `/join`, `/leave` and `/who`, and otherwise a
 * user name (keeping a leading `@`).
 *
 * @module
 */

import type { CompletionRequest, Completions } from "./line_editor.ts";

/** Where completions come from. */
export interface CompletionSources {
  /** Command names (without `/`) that start with `prefix`. */
  commands(prefix: string): string[];
  /** User names to offer (members of our rooms). */
  users(): string[];
  /** Rooms we are in. */
  rooms(): string[];
}

const ROOM_COMMANDS = new Set(["join", "leave", "who"]);
const NONE: Completions = { candidates: [], suffix: "" };

/**
 * The completions of `request.word`, sorted, for {@linkcode LineEditor.complete}.
 *
 * @example
 * ```ts
 * import { completeWord } from "./completion.ts";
 * const sources = {
 *   commands: (p: string) => ["help", "join"].filter((n) => n.startsWith(p)),
 *   users: () => ["alice", "bob"],
 *   rooms: () => ["lobby"],
 * };
 * completeWord({ line: "/he", start: 0, word: "/he" }, sources).candidates; // ["/help"]
 * completeWord({ line: "hi b", start: 3, word: "b" }, sources).candidates;  // ["bob"]
 * ```
 */
export function completeWord(request: CompletionRequest, sources: CompletionSources): Completions {
  const { line, start, word } = request;
  const before = line.slice(0, start);
  if (before.trim() === "" && word.startsWith("/") && !word.startsWith("//")) {
    const names = sources.commands(word.slice(1).toLowerCase());
    return { candidates: names.map((name) => `/${name}`), suffix: " " };
  }
  const command = /^\/([a-z]+)\s+$/i.exec(before)?.[1]?.toLowerCase();
  if (command && ROOM_COMMANDS.has(command)) {
    const hash = word.startsWith("#") ? "#" : "";
    const prefix = word.slice(hash.length).toLowerCase();
    const rooms = sources.rooms().filter((room) => room.startsWith(prefix)).sort();
    return { candidates: rooms.map((room) => hash + room), suffix: " " };
  }
  if (command === "help") {
    return { candidates: sources.commands(word.replace(/^\//, "").toLowerCase()), suffix: " " };
  }
  const at = word.startsWith("@") ? "@" : "";
  const prefix = word.slice(at.length).toLowerCase();
  if (!prefix && !at && !command) return NONE;
  const users = [...new Set(sources.users())].filter((user) => user.startsWith(prefix)).sort();
  return { candidates: users.map((user) => at + user), suffix: " " };
}
