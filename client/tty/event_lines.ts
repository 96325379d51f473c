/**
 * Client events as coloured lines for the chat screen. The wording is `formatEvent`'s
 * (client/format.ts); this layer adds colour, a timestamp on lines that have none, our own
 * messages as soon as they are queued, and which message an `undelivered` names. Text from
 * others always passes through `sanitize` (inside `formatEvent`, or here), never raw.
 *
 * @module
 */

import type { ClientEvent } from "../events.ts";
import {
  clock,
  formatEvent,
  HISTORY_MARK,
  messageClock,
  sanitize,
  UNVERIFIED_MARK,
} from "../format.ts";
import { describeMember, formatModeration } from "../format_moderation.ts";
import type { Style } from "./style.ts";

/** A message of ours that has been queued and not yet confirmed. */
export interface PendingMessage {
  readonly room?: string;
  readonly to?: string;
  readonly text: string;
  readonly action?: true;
}

/** What rendering needs besides the event. */
export interface LineContext {
  readonly style: Style;
  /** Our user name (to spot mentions). */
  readonly me: string;
  /** Our messages still waiting for `delivered` or `undelivered`, by id. */
  readonly pending: ReadonlyMap<string, PendingMessage>;
  /** The time to stamp lines that carry none (default: now). */
  readonly now?: Date;
  /**
   * Show the date of messages from another day (scrollback, search, the unread replay). Messages
   * marked `history` always show it.
   */
  readonly dated?: boolean;
  /** Unread messages in a room of ours, for `/rooms` (none shown without). */
  readonly unreadIn?: (room: string) => number;
}

/** Longest part of an undelivered message quoted back in the warning. */
export const QUOTE_LIMIT = 60;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Whether `text` mentions `user` as a word (case-insensitive): `@alice`, `alice:` and `Alice`
 * do; `malice` and `alice_b` do not.
 */
export function mentions(text: string, user: string): boolean {
  if (!user) return false;
  return new RegExp(`(^|[^\\p{L}\\p{N}_-])${escapeRegExp(user)}($|[^\\p{L}\\p{N}_-])`, "iu")
    .test(text);
}

/**
 * Whether `event` should ring the terminal bell: a direct message, a message naming us, or a
 * moderator acting on us (a kick, a ban, a mute...).
 */
export function wantsBell(event: ClientEvent, me: string): boolean {
  if (event.type === "dm") return event.from !== me;
  if (event.type === "moderation") return event.target === me && event.actor !== me;
  if (event.type === "message") return event.from !== me && mentions(event.text, me);
  return false;
}

function quote(text: string): string {
  const flat = sanitize(text).replace(/\n\s*/g, " ⏎ ");
  return JSON.stringify(flat.length > QUOTE_LIMIT ? flat.slice(0, QUOTE_LIMIT - 1) + "…" : flat);
}

/**
 * The line(s) showing `event` (lines are separated by `\n`), or undefined for events that show
 * nothing (`delivered`: the prompt's count of messages being sent goes down instead).
 */
export function renderEvent(event: ClientEvent, context: LineContext): string | undefined {
  const { style } = context;
  const stamp = (line: string) => `${style.dim(`[${clock(context.now)}]`)} ${line}`;
  const time = (event: { ts: string; history?: true }) => {
    const when = event.history || context.dated
      ? messageClock(event.ts, context.now)
      : clock(event.ts);
    return `${style.dim(`[${when}]`)} ${event.history ? style.dim(HISTORY_MARK) + " " : ""}`;
  };
  switch (event.type) {
    case "message": {
      const mark = event.verified ? "" : style.warning(UNVERIFIED_MARK.trimEnd()) + " ";
      const name = style.user(event.from);
      let text = sanitize(event.text);
      if (event.from !== context.me && mentions(event.text, context.me)) text = style.bold(text);
      const body = event.action ? `* ${name} ${text}` : `<${name}> ${text}`;
      return `${time(event)}${mark}${style.dim(`#${event.room}`)} ${body}`;
    }
    case "dm": {
      const mark = event.verified ? "" : style.warning(UNVERIFIED_MARK.trimEnd()) + " ";
      const text = sanitize(event.text);
      // Ours (a copy from another device of ours, or one kept in the history): who it went to.
      const who = event.copy
        ? `-> *${style.user(event.to)}* (from your ${event.device})`
        : event.from === context.me
        ? `-> *${style.user(event.to)}*`
        : `*${style.user(event.from)}*`;
      return `${time(event)}${mark}${who} ${event.action ? "* " : ""}${style.bold(text)}`;
    }
    case "queued": {
      const text = sanitize(event.text);
      const line = event.to !== undefined
        ? `-> *${event.to}* ${event.action ? "* " : ""}${text}`
        : event.action
        ? `#${event.room} * ${context.me} ${text}`
        : `#${event.room} <${context.me}> ${text}`;
      return stamp(style.dim(line));
    }
    case "delivered":
      return undefined;
    case "undelivered": {
      const message = context.pending.get(event.id);
      if (!message) return stamp(style.error(formatEvent(event)!));
      const where = message.to !== undefined ? `to ${message.to}` : `to #${message.room}`;
      return stamp(
        style.error(`!! NOT delivered ${where}: ${quote(message.text)} (${event.reason})`),
      );
    }
    case "error":
      return stamp(style.error(formatEvent(event)!));
    case "key_changed":
    case "roster_mismatch":
    case "gap":
      return stamp(style.warning(formatEvent(event)!));
    case "device_accepted":
      return stamp(formatEvent(event)!);
    case "trusted":
      return stamp(style.green(formatEvent(event)!));
    case "whois":
      return stamp(
        event.devices.some((device) => device.trust === "not_accepted")
          ? style.warning(formatEvent(event)!)
          : formatEvent(event)!,
      );
    case "who": {
      const members = event.members.map((member) => {
        const shown = describeMember(member).replace(member.user, style.user(member.user));
        return member.verified === false ? `${shown} ${style.warning("[UNVERIFIED]")}` : shown;
      }).join(", ") || "nobody";
      return stamp(`-- ${event.room}: ${members}`);
    }
    case "moderation": {
      // Being removed, muted or banned is news for us: in the warning colour.
      const line = `-- ${formatModeration(event, context.me)}`;
      return stamp(event.target === context.me ? style.warning(line) : line);
    }
    case "bans":
    case "topic":
    case "modes":
    case "motd":
      return stamp(formatEvent(event)!);
    case "status":
      return stamp(
        event.state === "connected"
          ? style.green(formatEvent(event)!)
          : event.state === "closed"
          ? formatEvent(event)!
          : style.yellow(formatEvent(event)!),
      );
    case "ready":
      return stamp(style.green(formatEvent(event)!));
    case "join":
    case "leave":
    case "members":
      return stamp(style.dim(formatEvent(event)!));
    case "rooms": {
      const unreadIn = context.unreadIn;
      if (!unreadIn || event.rooms.length === 0) return stamp(formatEvent(event)!);
      const rooms = event.rooms.map((room) => {
        const unread = unreadIn(room.name);
        return `${room.name} (${room.members}${
          unread > 0 ? `, ${style.bold(`${unread} unread`)}` : ""
        })`;
      });
      return stamp(`-- rooms: ${rooms.join(", ")}`);
    }
    case "notice":
    case "device_invite":
    case "devices":
    case "device_revoked":
      return stamp(formatEvent(event)!);
  }
}
