/**
 * Error types raised by the crypto modules. Messages are fixed and uninformative on purpose:
 * a caller (or an attacker watching a caller) learns that a check failed, never which one.
 *
 * @module
 */

/** Base class of every crypto failure; `code` is stable and safe to show or log. */
export class CryptoError extends Error {
  /** A stable, machine-readable reason such as `"invalid_token"`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "CryptoError";
    this.code = code;
  }
}

/**
 * A Fernet token failed to decode, authenticate, decrypt or was outside its time window. As in
 * Python's `cryptography.fernet.InvalidToken`, the message never says which.
 */
export class InvalidToken extends CryptoError {
  constructor() {
    super("invalid_token", "Invalid Fernet token");
    this.name = "InvalidToken";
  }
}

/** A signature did not verify, or was not even well-formed. */
export class InvalidSignature extends CryptoError {
  constructor() {
    super("invalid_signature", "Signature verification failed");
    this.name = "InvalidSignature";
  }
}
