/**
 * Moderation frames as client events: the server's times (ms since the epoch) become ISO 8601,
 * as every other event's times are, and `until: null` (for ever) stays null.
 *
 * @module
 */

import type { BanInfo, ModerationEvent } from "../protocol/moderation/types.ts";
import type { BanListing, ModerationNotice } from "./events.ts";

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A moderation event (a `moderation` frame without its `type`) as a client event.
 *
 * @example
 * ```ts
 * import { moderationNotice } from "./moderation_events.ts";
 * moderationNotice({ action: "mute", room: "lobby", actor: "alice", ts: 0, target: "bob", until: null });
 * // { type: "moderation", action: "mute", room: "lobby", actor: "alice",
 * //   ts: "1970-01-01T00:00:00.000Z", target: "bob", until: null }
 * ```
 */
export function moderationNotice(event: ModerationEvent): ModerationNotice {
  const notice: ModerationNotice = {
    type: "moderation",
    action: event.action,
    room: event.room,
    actor: event.actor,
    ts: iso(event.ts),
  };
  if ("target" in event) notice.target = event.target;
  if ("reason" in event && event.reason !== undefined) notice.reason = event.reason;
  if ("until" in event) notice.until = event.until === null ? null : iso(event.until);
  if ("topic" in event) notice.topic = event.topic;
  if ("modes" in event) notice.modes = event.modes;
  if ("changes" in event) notice.changes = event.changes;
  return notice;
}

/** One ban of a `/banned` answer as a client event's entry. */
export function banListing(ban: BanInfo): BanListing {
  return {
    user: ban.user,
    by: ban.by,
    reason: ban.reason,
    at: iso(ban.at),
    until: ban.until === null ? null : iso(ban.until),
  };
}
