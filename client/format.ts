/**
 * Events as one line of text each, for people: the pipe interface prints these, the terminal
 * interface prints them with colour. `--json` prints the event objects instead.
 *
 * @module
 */

import type { ClientEvent } from "./events.ts";

/** Local time of an ISO timestamp as HH:MM:SS. */
export function clock(iso: string | number | Date = new Date()): string {
  const date = new Date(iso);
  return [date.getHours(), date.getMinutes(), date.getSeconds()].map((n) =>
    String(n).padStart(2, "0")
  ).join(":");
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

/** Marks a line from a user whose key changed and has not been trusted again. */
export const UNVERIFIED_MARK = "[UNVERIFIED] ";

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
        ? `[${clock(event.ts)}] ${mark}#${event.room} * ${event.from} ${text}`
        : `[${clock(event.ts)}] ${mark}#${event.room} <${event.from}> ${text}`;
    }
    case "dm": {
      const mark = event.verified ? "" : UNVERIFIED_MARK;
      return `[${clock(event.ts)}] ${mark}*${event.from}* ${event.action ? "* " : ""}${
        sanitize(event.text)
      }`;
    }
    case "join":
      return `-- ${event.user} joined ${event.room}`;
    case "leave":
      return `-- ${event.user} left ${event.room}${
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
      return `!! WARNING: the key of ${event.user}'s device ${event.device} CHANGED. It may be a new key, or someone else. ` +
        `Their messages show as unverified until you compare fingerprints out of band and run /trust ${event.user}/${event.device}.\n` +
        `   previous: ${event.previous}\n   now:      ${event.fingerprint}`;
    case "trusted":
      return `-- you now trust the key ${event.fingerprint} of ${event.user}'s device ${event.device}`;
    case "rooms":
      return event.rooms.length
        ? `-- rooms: ${event.rooms.map((room) => `${room.name} (${room.members})`).join(", ")}`
        : "-- no rooms";
    case "who":
      return `-- ${event.room}: ${
        event.members.map((m) => m.verified === false ? `${m.user} [UNVERIFIED]` : m.user).join(
          ", ",
        ) || "nobody"
      }`;
    case "whois":
      return [
        `-- ${event.user}${event.device ? `/${event.device}` : ""}: ${
          event.online ? "online" : "offline"
        }, ${
          event.state === "changed"
            ? "KEY CHANGED (unverified)"
            : event.state === "unknown"
            ? "never seen"
            : "trusted"
        }`,
        ...(event.fingerprint ? [`   key now:     ${event.fingerprint}`] : []),
        ...(event.trusted ? [`   key trusted: ${event.trusted}`] : []),
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
