/**
 * An authenticated session: who it is (from the verified certificate), its connection, its
 * announcement, its rooms, and its rate state.
 *
 * @module
 */

import { encodeFrame } from "../protocol/framing.ts";
import type { MemberInfo, ServerMessage } from "../protocol/messages.ts";
import type { FramedConnection } from "../protocol/transport.ts";
import { RateLimiter } from "./rate_limiter.ts";
import type { Room } from "./rooms.ts";
import type { VerifiedClient } from "./setup.ts";
import type { ServerLimits } from "./limits.ts";

/** One logged-in user's connection. */
export class Session {
  /** The user name, from the certificate's CN. */
  readonly user: string;
  /** The device label, from the certificate's device URI. */
  readonly device: string;
  /** Certificate serial, for revocation checks. */
  readonly serial: string;
  /** Rooms this session is in. */
  readonly rooms = new Set<Room>();
  /** Rate of frames from this session. */
  readonly rate: RateLimiter;
  /** The latest session announcement (opaque; signed by the client for its peers). */
  announce: string | undefined;
  /** The latest agreement statement (opaque: the session's replacement X25519 key). */
  agreement: string | undefined;
  /** A link by which another device of the same user vouches for this device (opaque). */
  link: string | undefined;
  /**
   * Per room this session is in: the room log's last sequence number when it joined (`joined.seq`);
   * `history` answers up to it, live `msg` frames carry the rest.
   */
  readonly joinedSeq = new Map<string, number>();
  /** The description last kept in the store for this session, and when (store time). */
  stored: { announce: string; agreement?: string; link?: string; at: number } | undefined;
  /** Monotonic time a ping was last sent and not yet answered by any frame. */
  pingSentAt: number | undefined;
  /** Set once the session is being closed; nothing more is queued for it. */
  ending = false;
  /** Set once the server has closed the session (it has left its rooms). */
  closed = false;

  constructor(
    /** Random session id, unique on this server. */
    readonly id: string,
    client: VerifiedClient,
    /** The framed TLS connection. */
    readonly conn: FramedConnection,
    limits: ServerLimits,
    /** Called when the outbound queue overflows: the owner closes the session as a slow reader. */
    private readonly onOverflow: (session: Session) => void,
  ) {
    this.user = client.user;
    this.device = client.device;
    this.serial = client.serial;
    this.rate = new RateLimiter({
      ratePerSecond: limits.ratePerSecond,
      burst: limits.rateBurst,
      floodMaxRefused: limits.floodMaxRefused,
      floodWindowMs: limits.floodWindowMs,
    });
  }

  /** Queues an encoded frame; an overflow is reported to the owner (after the current task). */
  sendFrame(frame: Uint8Array): void {
    if (this.ending) return;
    if (!this.conn.send(frame)) {
      this.ending = true;
      queueMicrotask(() => this.onOverflow(this));
    }
  }

  /** How peers learn this session: who, its announcement and its latest keys. */
  describe(): MemberInfo {
    return {
      user: this.user,
      device: this.device,
      session: this.id,
      announce: this.announce!,
      ...(this.agreement ? { agreement: this.agreement } : {}),
      ...(this.link ? { link: this.link } : {}),
    };
  }

  /** `user/device`: one session per device at a time. */
  get key(): string {
    return `${this.user}/${this.device}`;
  }

  /** Encodes and queues a message. */
  send(message: ServerMessage): void {
    this.sendFrame(encodeFrame(message));
  }
}
