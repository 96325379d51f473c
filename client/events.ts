/**
 * Everything the chat client reports to a user interface. The pipe interface prints each event
 * as one line (or, with `--json`, as this very object); the terminal interface renders them.
 *
 * @module
 */

import type { DeviceInfo } from "../protocol/messages.ts";

/** One event from the chat client. */
export type ClientEvent =
  /** Connected, set up, and the first room joined with keys in place (after every reconnect too). */
  | { type: "ready"; user: string; room: string }
  /** A room's membership changed and keys with every member are in place. */
  | { type: "members"; room: string; members: string[] }
  | {
    type: "message";
    room: string;
    from: string;
    text: string;
    ts: string;
    verified: boolean;
    action?: true;
  }
  | {
    type: "dm";
    from: string;
    to: string;
    text: string;
    ts: string;
    verified: boolean;
    action?: true;
  }
  | { type: "join"; room: string; user: string }
  | { type: "leave"; room: string; user: string; reason?: string }
  /** A message of ours was accepted and will be sent when keys are in place. */
  | { type: "queued"; id: string; room?: string; to?: string; text: string; action?: true }
  | { type: "delivered"; id: string; recipients: number }
  | { type: "undelivered"; id: string; reason: string }
  | { type: "error"; code: string; message: string }
  | { type: "key_changed"; user: string; device: string; fingerprint: string; previous: string }
  | { type: "trusted"; user: string; device: string; fingerprint: string }
  | { type: "rooms"; rooms: { name: string; members: number }[] }
  | { type: "who"; room: string; members: { user: string; verified: boolean | null }[] }
  | {
    type: "whois";
    user: string;
    /** The device this line is about (one event per online device). */
    device?: string;
    online: boolean;
    fingerprint: string | null;
    trusted: string | null;
    state: "trusted" | "changed" | "unknown";
  }
  | {
    type: "status";
    state: "connected" | "disconnected" | "reconnecting" | "closed";
    message: string;
    retryInMs?: number;
  }
  | { type: "notice"; message: string }
  /** An invite for another device of ours, from `/device add`: give it to that device. */
  | { type: "device_invite"; user: string; device: string; token: string }
  | { type: "devices"; user: string; devices: DeviceInfo[] }
  | { type: "device_revoked"; user: string; device: string };

/** The `type` of any client event. */
export type ClientEventType = ClientEvent["type"];
