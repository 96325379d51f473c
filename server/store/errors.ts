/**
 * The store's errors: one base class with a stable `code`, and one subclass per reason, so the
 * server can map a refusal to a protocol error code without reading messages.
 *
 * @module
 */

/** Why the store refused or failed. */
export type StoreErrorCode =
  | "invalid_input"
  | "limit"
  | "unknown_room"
  | "room_exists"
  | "not_member"
  | "unavailable";

/** Any refusal or failure of the message store. */
export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** An argument is malformed (bad name, negative sequence, overlong payload...). Nothing changed. */
export class InvalidInputError extends StoreError {
  constructor(message: string) {
    super("invalid_input", message);
    this.name = "InvalidInputError";
  }
}

/** A bound of the store would be passed (see `limits.ts`). Nothing changed. */
export class LimitError extends StoreError {
  constructor(message: string) {
    super("limit", message);
    this.name = "LimitError";
  }
}

/** The room does not exist. */
export class UnknownRoomError extends StoreError {
  constructor(readonly room: string) {
    super("unknown_room", `no room named ${JSON.stringify(room)}`);
    this.name = "UnknownRoomError";
  }
}

/** A room with that name already exists. */
export class RoomExistsError extends StoreError {
  constructor(readonly room: string) {
    super("room_exists", `a room named ${JSON.stringify(room)} already exists`);
    this.name = "RoomExistsError";
  }
}

/** The user is not a member of the room. */
export class NotMemberError extends StoreError {
  constructor(readonly room: string, readonly user: string) {
    super("not_member", `${JSON.stringify(user)} is not a member of ${JSON.stringify(room)}`);
    this.name = "NotMemberError";
  }
}

/** The backing database could not be opened, is not openchat's, or failed (disk, lock, closed). */
export class StoreUnavailableError extends StoreError {
  constructor(message: string, options?: ErrorOptions) {
    super("unavailable", message, options);
    this.name = "StoreUnavailableError";
  }
}
