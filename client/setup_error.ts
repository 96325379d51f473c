/**
 * The one error a client's set-up ends in.
 *
 * @module
 */

/** Set-up failed. `code` is a wire error code when the server refused us, else a local one. */
export class SetupError extends Error {
  constructor(readonly code: string, message: string, readonly fromServer = false) {
    super(message);
    this.name = "SetupError";
  }
}
