/**
 * Where each part of the NATS store lives: one key-value bucket for the small records (rooms,
 * memberships, roles, lists, intervals, inbox marks, pre-keys, session descriptions), one stream
 * per room for its log and membership events, and one stream for every device's inbox. A
 * prefix keeps several deployments (or tests) apart on one NATS.
 *
 * @module
 */

/** The prefix used when none is given. */
export const DEFAULT_PREFIX = "oc";
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

/** Names derived from one prefix. */
export class StoreNames {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new RangeError(
        `a NATS prefix is 1 to 16 lower-case letters and digits, starting with a letter (received ${
          JSON.stringify(prefix)
        })`,
      );
    }
  }

  /** The key-value bucket of small records. */
  get bucket(): string {
    return `${this.prefix}_store`;
  }

  /** The stream of every device's inbox. */
  get inboxStream(): string {
    return `${this.prefix}_inbox`;
  }

  /** The subject of `user/device`'s inbox. */
  inboxSubject(user: string, device: string): string {
    return `${this.prefix}.inbox.${user}.${device}`;
  }

  /** The stream of `room`'s log and events. */
  roomStream(room: string): string {
    return `${this.prefix}_room_${room}`;
  }

  /** The subject of `room`'s log entries (messages). */
  roomMessages(room: string): string {
    return `${this.prefix}.room.${room}.m`;
  }

  /** The subject of `room`'s events (membership changes, markers). */
  roomEvents(room: string): string {
    return `${this.prefix}.room.${room}.e`;
  }

  /** Both subjects of `room`. */
  roomAll(room: string): string {
    return `${this.prefix}.room.${room}.*`;
  }

  /** The bucket of live sessions: `USER.DEVICE` to the session and the server it is on. */
  get presenceBucket(): string {
    return `${this.prefix}_presence`;
  }

  /** The bucket of server heartbeats. */
  get serversBucket(): string {
    return `${this.prefix}_servers`;
  }

  /** The subject on which server `id` takes frames for its sessions. */
  serverSubject(id: string): string {
    return `${this.prefix}.srv.${id}`;
  }

  /** The subject on which servers tell each other that a session described itself anew. */
  get updatesSubject(): string {
    return `${this.prefix}.upd`;
  }

  /** The subjects of every room's messages (to find their streams). */
  get allRoomMessages(): string {
    return `${this.prefix}.room.*.m`;
  }
}
