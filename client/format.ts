/**
 * Events as one line of text each, for people: the pipe interface prints these, the terminal
 * interface prints them with colour. `--json` prints the event objects instead.
 *
 * @module
 */

import type { ClientEvent, TrustLevel } from "./events.ts";
import {
  describeMember,
  describeModes,
  formatBans,
  formatModeration,
} from "./format_moderation.ts";
import { clock, messageClock, sanitize } from "./format_text.ts";

export { clock, messageClock, sanitize } from "./format_text.ts";

/** Marks a message caught up from the server's store (`history: true`) rather than live. */
export const HISTORY_MARK = "↶";

/** The time prefix of a message line: `[HH:MM:SS] `, or `[date time] ↶ ` for history. */
function messageTime(event: { ts: string; history?: true }): string {
  return event.history ? `[${messageClock(event.ts)}] ${HISTORY_MARK} ` : `[${clock(event.ts)}] `;
}

/** Marks a line from a user whose key changed and has not been trusted again. */
export const UNVERIFIED_MARK = "[UNVERIFIED] ";

/** How `/whois` describes each trust state. */
const TRUST_WORDS: Record<TrustLevel, string> = {
  verified: "verified by you",
  vouched: "vouched for by another of their devices",
  first_seen: "trusted on first use",
  not_accepted: "NOT ACCEPTED (/trust NAME FINGERPRINT after comparing it)",
};

/** The text of an event, or undefined for events not shown as lines. */
export function formatEvent(event: ClientEvent): string | undefined {
  switch (event.type) {
    case "ready":
      return `-- joined ${event.room} as ${event.user}; messages are end-to-end encrypted`;
    case "members":
      return event.members.length === 1
        ? `-- ${event.room}: only you so far`
        : `-- ${event.room}: ${event.members.join(", ")} (keys in place with everyone)`;
    case "message": {
      const mark = event.verified ? "" : UNVERIFIED_MARK;
      const text = sanitize(event.text);
      return event.action
        ? `${messageTime(event)}${mark}#${event.room} * ${event.from} ${text}`
        : `${messageTime(event)}${mark}#${event.room} <${event.from}> ${text}`;
    }
    case "dm": {
      const mark = event.verified ? "" : UNVERIFIED_MARK;
      const who = event.copy ? `-> *${event.to}* (from your ${event.device})` : `*${event.from}*`;
      return `${messageTime(event)}${mark}${who} ${event.action ? "* " : ""}${
        sanitize(event.text)
      }`;
    }
    case "join":
      return `-- ${event.user} joined ${event.room}`;
    case "leave":
      return event.offline
        ? `-- ${event.user} went offline (still a member of ${event.room}: messages wait for them)`
        : `-- ${event.user} left ${event.room}${
          event.reason && event.reason !== "quit" ? ` (${event.reason})` : ""
        }`;
    case "queued":
      return undefined;
    case "delivered":
      return undefined;
    case "undelivered":
      return `!! message ${event.id} was NOT delivered: ${event.reason}`;
    case "error":
      return `!! ${event.message}`;
    case "key_changed":
      return `!! WARNING: a device key of ${event.user} that you do not accept: ${event.user}/${event.device} ` +
        `${event.fingerprint}. It may be their new device, or someone else (whoever runs the server can make one). ` +
        `It gets none of your keys and its messages show [UNVERIFIED]. If ${event.user} confirms this ` +
        `fingerprint out of band: /trust ${event.user} ${event.fingerprint.slice(0, 23)}` +
        (event.trusted.length
          ? `\n   keys you accept for ${event.user}: ${event.trusted.join(", ")}`
          : "");
    case "device_accepted":
      return event.invitedUs
        ? `-- ${event.user}/${event.device} invited this device: you now accept its key (${event.fingerprint})`
        : event.trust === "vouched"
        ? `-- ${event.user} added the device ${event.device}, vouched for by ${event.by} (${event.fingerprint})`
        : `-- first time you meet ${event.user}: trusting ${event.user}/${event.device} on first use (${event.fingerprint}); compare it out of band with /whois ${event.user}`;
    case "trusted":
      return `-- you now accept ${event.user}/${event.device} ${event.fingerprint}`;
    case "gap":
      return `!! ${event.count} message(s) from ${event.from}/${event.device}${
        event.room ? ` in ${event.room}` : " (direct)"
      } ${
        event.reason === "missing"
          ? "never arrived"
          : event.reason === "skipped"
          ? "did not arrive before a later one"
          : "arrived out of order"
      }`;
    case "roster_mismatch":
      return `!! WARNING: ${event.from}/${event.device} sees different members of ${event.room} ` +
        `(version ${event.version}) than you do: ${event.ours.join(", ")}. The server may be ` +
        `showing members different rooms; nothing more is sent in ${event.room} until you agree again.`;
    case "rooms":
      return event.rooms.length
        ? `-- rooms: ${event.rooms.map((room) => `${room.name} (${room.members})`).join(", ")}`
        : "-- no rooms";
    case "who":
      return `-- ${event.room}: ${
        event.members.map((m) =>
          m.verified === false ? `${describeMember(m)} [UNVERIFIED]` : describeMember(m)
        ).join(", ") || "nobody"
      }`;
    case "moderation":
      return `-- ${formatModeration(event)}`;
    case "bans":
      return formatBans(event.room, event.bans);
    case "topic":
      return event.topic
        ? `-- topic of ${event.room}: ${sanitize(event.topic)} (modes: ${
          describeModes(event.modes)
        })`
        : `-- ${event.room} has no topic (modes: ${describeModes(event.modes)})`;
    case "modes":
      return `-- modes of ${event.room}: ${describeModes(event.modes)}`;
    case "motd":
      return event.text === null
        ? "-- this server has no message of the day"
        : `-- message of the day:\n  ${sanitize(event.text)}`;
    case "whois":
      return [
        `-- ${event.user}: ${event.online ? "online" : "offline"}${
          event.devices.length ? "" : ", never seen"
        }`,
        ...event.devices.map((device) =>
          `   ${device.device}${device.online ? " (online)" : ""}: ${device.fingerprint} ${
            TRUST_WORDS[device.trust]
          }`
        ),
      ].join("\n");
    case "status":
      return `-- ${event.message}`;
    case "notice":
      return `-- ${event.message}`;
    case "device_invite":
      return `-- invite for ${event.user}'s new device ${event.device} (valid 24 h, works once): ` +
        `on that device run\n   openchat enroll ${event.token}`;
    case "devices":
      return [
        `-- ${event.user}'s devices:`,
        ...event.devices.map((device) =>
          `   ${device.device}  ${device.status}, until ${device.notAfter.slice(0, 10)}${
            device.invitedBy ? `, added by ${device.invitedBy}` : ""
          }`
        ),
      ].join("\n");
    case "device_revoked":
      return `-- revoked ${event.user}'s device ${event.device}; its sessions end now`;
  }
}
