/**
 * Everything the chat client reports to a user interface. The pipe interface prints each event
 * as one line (or, with `--json`, as this very object); the terminal interface renders them.
 *
 * @module
 */

import type { DeviceInfo } from "../protocol/messages.ts";
import type { ModerationAction, Standing } from "../protocol/moderation/types.ts";

/** How far this client accepts the device key that signed something (see e2e/trust.ts). */
export type TrustLevel = "verified" | "vouched" | "first_seen" | "not_accepted";

/** One device key of a user, as `/whois` shows it. */
export interface DeviceTrustInfo {
  device: string;
  fingerprint: string;
  trust: TrustLevel;
  online: boolean;
}

/**
 * What a moderator did in a room, as every member (and the actor, the target and an invitee)
 * sees it: the server's `moderation` frame with its times as ISO 8601. Which fields are present
 * depends on `action`: `target` for every action on a user; `reason` on `kick` and `ban` when
 * one was given; `until` on `ban` and `mute` (null: for ever) and `invite` (its expiry); `topic`
 * on `topic` (`""`: cleared); `modes` (the room's letters now, `""` for none) and `changes`
 * (what changed, such as `+i` or `+m-t`) on `mode`.
 */
export interface ModerationNotice {
  type: "moderation";
  action: ModerationAction;
  room: string;
  /** Who did it. */
  actor: string;
  /** When the server decided it. */
  ts: string;
  target?: string;
  reason?: string;
  until?: string | null;
  topic?: string;
  modes?: string;
  changes?: string;
}

/** One ban in force, as `/banned` lists it. */
export interface BanListing {
  user: string;
  /** Who banned them. */
  by: string;
  /** Why, or `""`. */
  reason: string;
  /** When. */
  at: string;
  /** When it lifts by itself, or null for never. */
  until: string | null;
}

/** One event from the chat client. */
export type ClientEvent =
  /** Connected, set up, and the first room joined with keys in place (after every reconnect too). */
  | { type: "ready"; user: string; room: string }
  /** A room's membership changed and keys with every member are in place. */
  | { type: "members"; room: string; members: string[] }
  /**
   * A room message. `verified` is true exactly when the device key that signed it is accepted
   * (`trust` says how); `late` marks one that arrived after a later message of the same sender.
   */
  | {
    type: "message";
    room: string;
    from: string;
    device: string;
    text: string;
    ts: string;
    verified: boolean;
    trust: TrustLevel;
    action?: true;
    late?: true;
    /** The room log's sequence number, when the server gave one. */
    seq?: number;
    /** Caught up from the server's store after being offline, not live. */
    history?: true;
  }
  /** A direct message to us, or a copy of one our own other device sent (`from` is us then). */
  | {
    type: "dm";
    from: string;
    device: string;
    to: string;
    text: string;
    ts: string;
    verified: boolean;
    trust: TrustLevel;
    action?: true;
    late?: true;
    /** A copy of what our own other device (`device`) sent to `to`. */
    copy?: true;
    /** The inbox sequence number, when it waited in this device's inbox. */
    seq?: number;
    /** Caught up from the server's store after being offline, not live. */
    history?: true;
  }
  | { type: "join"; room: string; user: string }
  /**
   * A session left `room`. With `offline`, its device stays a member: what is sent meanwhile
   * waits for it on the server.
   */
  | { type: "leave"; room: string; user: string; reason?: string; offline?: true }
  /** A message of ours was accepted and will be sent when keys are in place. */
  | {
    type: "queued";
    id: string;
    room?: string;
    to?: string;
    text: string;
    action?: true;
    /** The time the message carries (its sender's clock, as recipients see it). */
    ts?: string;
  }
  /**
   * The server accepted a message of ours: for a room, stored for every member device
   * (`recipients`), at `seq` in the room's log.
   */
  | { type: "delivered"; id: string; recipients: number; seq?: number }
  | { type: "undelivered"; id: string; reason: string }
  | { type: "error"; code: string; message: string }
  /**
   * A device key of a user we already know that we do not accept: it gets none of our keys and
   * its messages show unverified until `/trust NAME FINGERPRINT`. `trusted` lists the keys we do
   * accept for that user.
   */
  | { type: "key_changed"; user: string; device: string; fingerprint: string; trusted: string[] }
  /** A device key accepted without a prompt: on first use, or vouched for by another device. */
  | {
    type: "device_accepted";
    user: string;
    device: string;
    fingerprint: string;
    trust: "first_seen" | "vouched";
    by?: string;
    /** Set when it is the device that invited this one (its link proved it held our invite). */
    invitedUs?: true;
  }
  | { type: "trusted"; user: string; device: string; fingerprint: string }
  /**
   * Messages that did not arrive as sent: `skipped` (a later one came first), `reordered` (one
   * came after a later one), `missing` (the sender's next key package says they never came).
   */
  | {
    type: "gap";
    room?: string;
    from: string;
    device: string;
    count: number;
    reason: "skipped" | "reordered" | "missing";
  }
  /** A member's view of the room's membership differs from ours: someone is being lied to. */
  | {
    type: "roster_mismatch";
    room: string;
    version: number;
    from: string;
    device: string;
    ours: string[];
  }
  | { type: "rooms"; rooms: { name: string; members: number }[] }
  /**
   * A room's members. With a server that keeps a store, each with `role` (`admin`, `owner`,
   * `operator`, `voiced` or `member`) and `muted: true` while a mute is in force.
   */
  | {
    type: "who";
    room: string;
    members: { user: string; verified: boolean | null; role?: Standing; muted?: true }[];
  }
  | ModerationNotice
  /** The answer to `/banned`: the bans in force in `room`, by user name. */
  | { type: "bans"; room: string; bans: BanListing[] }
  /** The answer to `/topic` without text: the topic (`""`: none) and the modes. */
  | { type: "topic"; room: string; topic: string; modes: string }
  /** The answer to `/mode` without changes: the room's mode letters (`""`: none). */
  | { type: "modes"; room: string; modes: string }
  /** The server's message of the day: on connecting (when it has one), and for `/motd`. */
  | { type: "motd"; text: string | null }
  | { type: "whois"; user: string; online: boolean; devices: DeviceTrustInfo[] }
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
