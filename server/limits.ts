/**
 * Every bound the server enforces per session and in total. Each is a named constant with a test
 * at and past its edge; `ServerLimits` lets an operator (or a test) tighten or relax them.
 *
 * @module
 */

import { MAX_FRAME_BYTES } from "../protocol/framing.ts";

/** Time allowed from TCP accept to a verified client proof, TLS handshake included. */
export const AUTH_TIMEOUT_MS = 10_000;
/** The server pings a session that has been quiet this long. */
export const PING_INTERVAL_MS = 20_000;
/** A session that sends nothing at all (not even a pong) for this long is closed. */
export const IDLE_TIMEOUT_MS = 60_000;
/** Sustained frames per second a session may send (token bucket refill rate). */
export const RATE_PER_SECOND = 50;
/** Frames a session may send in a burst (token bucket capacity). */
export const RATE_BURST = 100;
/** Frames refused for rate within one {@linkcode FLOOD_WINDOW_MS} that close the session. */
export const FLOOD_MAX_REFUSED = 200;
/** Window over which refused frames are counted. */
export const FLOOD_WINDOW_MS = 10_000;
/**
 * Bytes queued for a session and not yet written past which it is *behind*: whoever just sent it
 * something (a room message, a direct message, a key package, or the session itself through its
 * own replies) is not read from again until it has caught up. One member's burst therefore waits
 * in that member's socket, not in everyone else's queue.
 */
export const BEHIND_BYTES = 512 * 1024;
/** Queued bytes at or below which a session that was behind has caught up. */
export const CAUGHT_UP_BYTES = 128 * 1024;
/**
 * A session that stays behind this long is closed as a slow reader: it is holding back everyone
 * who sends to it, and a reader that reads at all clears a few hundred KiB far sooner.
 */
export const SLOW_READER_TIMEOUT_MS = 10_000;
/**
 * Hard bound on bytes queued for one session; past it the session is closed as a slow reader at
 * once. Back-pressure keeps each sender to one frame past {@linkcode BEHIND_BYTES}, so only many
 * senders at once against a reader that has stopped get here.
 */
export const MAX_OUTBOUND_BYTES = 4 * 1024 * 1024;
/** Authenticated sessions the server holds at once. */
export const MAX_SESSIONS = 10_000;
/** Connections still in set-up at once; more are refused as `server_full`. */
export const MAX_PENDING_SETUPS = 1024;
/**
 * Connections one address (an IPv4 address, an IPv6 /64) may have in set-up at once, from the
 * TCP accept to `welcome`; more from it are closed at once, before TLS. One address can then
 * hold at most this many of the {@linkcode MAX_PENDING_SETUPS}, and a NAT full of honest users
 * still gets hundreds of set-ups a second through (one takes a few milliseconds).
 */
export const MAX_SETUPS_PER_ADDRESS = 16;
/** Rooms one session may be in. */
export const MAX_ROOMS_PER_SESSION = 32;
/** Members one room may hold. */
export const MAX_ROOM_MEMBERS = 1024;
/** How often the server looks for revocations made by `openchat ca revoke`. */
export const REVOCATION_POLL_MS = 500;
/** How long shutdown waits for goodbye frames to be written. */
export const SHUTDOWN_GRACE_MS = 2_000;
/** How long a fatal error frame may take to be written before the socket is closed anyway. */
export const CLOSE_GRACE_MS = 1_000;

/** The limits of one server instance. */
export interface ServerLimits {
  maxFrameBytes: number;
  authTimeoutMs: number;
  pingIntervalMs: number;
  idleTimeoutMs: number;
  ratePerSecond: number;
  rateBurst: number;
  floodMaxRefused: number;
  floodWindowMs: number;
  maxOutboundBytes: number;
  behindBytes: number;
  caughtUpBytes: number;
  slowReaderTimeoutMs: number;
  maxSessions: number;
  maxPendingSetups: number;
  maxSetupsPerAddress: number;
  maxRoomsPerSession: number;
  maxRoomMembers: number;
  revocationPollMs: number;
}

/** The defaults, from the constants above. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxFrameBytes: MAX_FRAME_BYTES,
  authTimeoutMs: AUTH_TIMEOUT_MS,
  pingIntervalMs: PING_INTERVAL_MS,
  idleTimeoutMs: IDLE_TIMEOUT_MS,
  ratePerSecond: RATE_PER_SECOND,
  rateBurst: RATE_BURST,
  floodMaxRefused: FLOOD_MAX_REFUSED,
  floodWindowMs: FLOOD_WINDOW_MS,
  maxOutboundBytes: MAX_OUTBOUND_BYTES,
  behindBytes: BEHIND_BYTES,
  caughtUpBytes: CAUGHT_UP_BYTES,
  slowReaderTimeoutMs: SLOW_READER_TIMEOUT_MS,
  maxSessions: MAX_SESSIONS,
  maxPendingSetups: MAX_PENDING_SETUPS,
  maxSetupsPerAddress: MAX_SETUPS_PER_ADDRESS,
  maxRoomsPerSession: MAX_ROOMS_PER_SESSION,
  maxRoomMembers: MAX_ROOM_MEMBERS,
  revocationPollMs: REVOCATION_POLL_MS,
});
