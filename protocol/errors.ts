/**
 * Error codes on the wire. Every refusal the server makes, and every protocol failure either
 * side detects, has one stable code here; `docs/PROTOCOL.md` lists them for other clients. The
 * moderation refusals (`not_operator`, `banned`, `muted`...) are defined beside the rest of
 * moderation (`moderation/refusals.ts`) and joined in here.
 *
 * @module
 */

import { REFUSALS } from "./moderation/refusals.ts";

// The one code moderation shares with chat keeps chat's sentence: it is the same refusal.
const { not_in_room: _sameAsChat, ...MODERATION_CODES } = REFUSALS;

/** Every error code, with the sentence a user sees for it. */
export const ERROR_CODES = {
  // Set-up
  unsupported_version: "The server does not speak this protocol version",
  auth_timeout: "Set-up did not complete in time",
  wrong_ca: "The certificate was not issued by this server's CA",
  expired: "The certificate has expired",
  not_yet_valid: "The certificate is not valid yet",
  revoked: "The certificate has been revoked",
  wrong_usage: "The certificate is not a user (client) certificate",
  bad_certificate: "The certificate is malformed or its CA signature does not verify",
  bad_signature: "The proof of identity (signature over this session's nonces) does not verify",
  bad_name: "The certificate's name is not a valid user name",
  unknown_certificate:
    "The certificate is not recorded as issued by this server's CA (restored from elsewhere, or never issued)",
  invalid_invite: "The invite is unknown, already used, cancelled or expired",
  bad_request: "The certificate signing request was refused",
  server_full: "The server has reached its maximum number of sessions",
  // Frames
  bad_frame: "A frame was not a JSON object",
  frame_too_large: "A frame was larger than the maximum frame size",
  unknown_type: "A frame had an unknown type",
  bad_field: "A frame had a missing, ill-typed or oversized field",
  unexpected: "A frame arrived at a point in the protocol where it is not allowed",
  // Limits
  rate_limited: "Too many frames too fast; this one was dropped",
  flood: "Sustained flooding; the session was closed",
  slow_reader: "The connection fell too far behind reading; the session was closed",
  idle_timeout: "Nothing was heard from the connection for too long",
  // Chat
  announce_required: "Announce session keys before joining a room",
  not_in_room: "Not a member of that room",
  room_full: "The room has reached its maximum number of members",
  too_many_rooms: "Already in the maximum number of rooms",
  no_such_user: "That user is not online",
  stale_session: "That user's session changed; look them up again",
  membership_changed: "The room's membership changed since this message was sealed; seal it again",
  store_unavailable: "The server could not store this; it was not delivered",
  too_many_prekeys: "This device already has the maximum number of one-time pre-keys stored",
  moderation_unavailable: "This server keeps no store, so it has no moderation",
  // Devices
  too_many_invites: "Too many invites are pending; wait for some to be used or to expire",
  too_many_devices: "This user already has the maximum number of devices",
  no_such_device: "This user has no such device",
  // Endings
  replaced: "The same user logged in again elsewhere; this session was replaced",
  server_shutdown: "The server is shutting down",
  // Moderation (non-fatal, naming the request's `id`, or the `room` of a refused join)
  ...MODERATION_CODES,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * A protocol failure detected while decoding or handling a frame. `fatal` ones close the
 * session after the error frame is sent.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code],
    readonly fatal = true,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
