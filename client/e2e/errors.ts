/**
 * Failures of the end-to-end layer. Each has a stable code the client reports (as an `error`
 * event) before carrying on: a bad frame from a peer never ends the session.
 *
 * @module
 */

/** Codes of end-to-end failures. */
export type E2ECode =
  | "bad_announcement"
  | "stale_announcement"
  | "unknown_sender"
  | "bad_signature"
  | "bad_payload"
  | "replay"
  | "no_key"
  | "undecryptable"
  /** A frame from a session that ended, or is not a member of the room in our view. */
  | "ended_session"
  | "not_member"
  /** A frame for a key this session no longer holds (replaced past its grace). */
  | "stale_key";

/** An end-to-end check failed. */
export class E2EError extends Error {
  constructor(readonly code: E2ECode, message: string) {
    super(message);
    this.name = "E2EError";
  }
}
