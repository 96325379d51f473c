/**
 * The server's non-fatal refusal of one request: an `error` frame naming the request's message
 * id or room, if any; the session goes on.
 *
 * @module
 */

import { ERROR_CODES, type ErrorCode } from "../protocol/errors.ts";
import type { Session } from "./session.ts";

/** Sends a non-fatal error about one request (naming its message id or room, if any). */
export function refuse(
  session: Session,
  code: ErrorCode,
  about: { id?: string; room?: string } = {},
  message: string = ERROR_CODES[code],
): void {
  session.send({ type: "error", code, message, fatal: false, ...about });
}
