/**
 * Commands about the local history (`../local_store.ts`): /search.
 *
 * @module
 */

import { messageClock, sanitize, UNVERIFIED_MARK } from "../format.ts";
import type { StoredMessage } from "../local_store.ts";
import { type Command, CommandError } from "./registry.ts";

/** Matches /search lists, newest first. */
export const SEARCH_RESULTS = 20;

/** One stored message as a line of a list: time (with the date if not today), where, who, text. */
export function describeStored(message: StoredMessage, me: string): string {
  const event = message.event;
  const mark = event.verified ? "" : UNVERIFIED_MARK;
  const text = sanitize(event.text);
  const time = `[${messageClock(event.ts)}]`;
  if (event.type === "message") {
    const who = event.action ? `* ${event.from}` : `<${event.from}>`;
    return `${time} ${mark}#${event.room} ${who} ${text}`;
  }
  const who = event.from === me ? `-> *${event.to}*` : `*${event.from}*`;
  return `${time} ${mark}${who} ${event.action ? "* " : ""}${text}`;
}

/** History commands. */
export const historyCommands: Command[] = [
  {
    name: "search",
    usage: "TEXT",
    help: "find messages containing TEXT in your local history, newest first (Ctrl-R: as you type)",
    async run(context, args) {
      const store = context.client.localStore;
      if (!store) throw new CommandError("No local history to search (started with --no-history)");
      const query = args.trim();
      if (!query) throw new CommandError("Usage: /search TEXT");
      const result = await store.search(query, { limit: SEARCH_RESULTS + 1 });
      const quoted = sanitize(JSON.stringify(query));
      const where = result.complete ? "" : ` among the newest ${result.scanned} messages`;
      if (result.matches.length === 0) {
        return context.notice(`No message contains ${quoted}${where}`);
      }
      const shown = result.matches.slice(0, SEARCH_RESULTS);
      const count = result.matches.length > SEARCH_RESULTS
        ? `More than ${SEARCH_RESULTS} messages contain ${quoted}; the newest ${SEARCH_RESULTS}`
        : `${shown.length} message${shown.length === 1 ? "" : "s"} contain${
          shown.length === 1 ? "s" : ""
        } ${quoted}${where}, newest first`;
      context.notice(
        [`${count}:`, ...shown.map((m) => `   ${describeStored(m, context.client.user)}`)].join(
          "\n",
        ),
      );
    },
  },
];
