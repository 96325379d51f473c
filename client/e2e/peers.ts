/**
 * The peer sessions this session knows: each one's verified announcement, its current agreement
 * key, and the trust its device key has. A session becomes known only when the caller learns it
 * from a room's membership or from an explicit lookup; an announcement alone never makes one.
 * A session that has ended is remembered as ended, and never known again (a server replaying
 * its old announcement gets nothing).
 *
 * @module
 */

import {
  type AnnouncedSession,
  type CertificateVerifier,
  type DeviceReader,
  type VerifiedAnnouncement,
  verifyAnnouncement,
} from "./announcement.ts";
import { type PeerAgreementKey, verifyAgreementStatement } from "./agreement.ts";
import { E2EError } from "./errors.ts";

/** Sessions remembered as ended, so a replayed announcement of one is refused. */
export const MAX_ENDED_SESSIONS = 10_000;

/** How far this client accepts a device key (see trust.ts). */
export type DeviceTrustState = "verified" | "vouched" | "first_seen" | "not_accepted";

/** True for the states whose holders get our keys and whose messages count as verified. */
export function isAccepted(state: DeviceTrustState): boolean {
  return state !== "not_accepted";
}

/** A verified peer session. */
export interface PeerSession {
  readonly user: string;
  readonly device: string;
  readonly session: string;
  announcement: VerifiedAnnouncement;
  /** The announcement it was verified from (an identical repeat is a no-op). */
  payload: string;
  /** Its current agreement key (sequence 0 from the announcement, later from statements). */
  agreement: PeerAgreementKey;
  /** The trust its device key has with us; set by the caller once decided. */
  trust: DeviceTrustState;
}

/** A session as the server describes it: who, and its announcement and latest agreement key. */
export interface SessionDescription extends AnnouncedSession {
  readonly announce: string;
  readonly agreement?: string;
}

/** Known peer sessions of one of our sessions. */
export class PeerDirectory {
  readonly #sessions = new Map<string, PeerSession>();
  readonly #ended = new Set<string>();
  /** Senders of stored traffic, by session (bounded like the ended ones). */
  readonly #historical = new Map<string, PeerSession>();

  constructor(
    private readonly verifyCert: CertificateVerifier,
    private readonly deviceOf: DeviceReader,
    private readonly now: () => number,
  ) {}

  /** The known session `session`. */
  get(session: string): PeerSession | undefined {
    return this.#sessions.get(session);
  }

  /** True when `session` has ended and may never be known again. */
  hasEnded(session: string): boolean {
    return this.#ended.has(session);
  }

  /** Every known session of `user`. */
  sessionsOf(user: string): PeerSession[] {
    return [...this.#sessions.values()].filter((peer) => peer.user === user);
  }

  /** Every known session. */
  all(): PeerSession[] {
    return [...this.#sessions.values()];
  }

  /**
   * Verifies a session described by the server and returns it, with `isNew` when it was not
   * known before (its trust is then `not_accepted` until the caller decides). A known session
   * may only be described again with the same keys; an identical announcement is a no-op.
   *
   * @throws {E2EError} when it has ended, or its announcement or agreement key does not verify.
   */
  async learn(description: SessionDescription): Promise<{ peer: PeerSession; isNew: boolean }> {
    const { session, user, device } = description;
    const label = `${user}/${device}`;
    if (this.#ended.has(session)) {
      throw new E2EError("ended_session", `A session of ${label} that has ended was offered again`);
    }
    const known = this.#sessions.get(session);
    if (known) {
      if (known.user !== user || known.device !== device) {
        throw new E2EError("bad_announcement", `Session ${session} is not ${label}'s`);
      }
      await this.refresh(known, description.announce);
      if (description.agreement) await this.updateAgreement(known, description.agreement);
      return { peer: known, isNew: false };
    }
    const announcement = await verifyAnnouncement(
      description.announce,
      description,
      this.verifyCert,
      this.deviceOf,
      new Date(this.now()),
    );
    const peer: PeerSession = {
      user,
      device,
      session,
      announcement,
      payload: description.announce,
      agreement: { seq: 0, publicKey: announcement.agreementPublic },
      trust: "not_accepted",
    };
    if (description.agreement) await this.updateAgreement(peer, description.agreement);
    // Checked again: another learn of the same session may have finished while this one waited.
    const raced = this.#sessions.get(session);
    if (raced) return { peer: raced, isNew: false };
    this.#sessions.set(session, peer);
    return { peer, isNew: true };
  }

  /**
   * Takes a re-announcement of a known session: identical is a no-op; the same keys with a
   * newer time refresh it; anything else is refused.
   *
   * @throws {E2EError} `bad_announcement` or `stale_announcement`.
   */
  async refresh(peer: PeerSession, payload: string): Promise<void> {
    if (payload === peer.payload) return;
    const next = await verifyAnnouncement(
      payload,
      peer,
      this.verifyCert,
      this.deviceOf,
      new Date(this.now()),
    );
    const same = next.signingPublic.toHex() === peer.announcement.signingPublic.toHex() &&
      next.agreementPublic.toHex() === peer.announcement.agreementPublic.toHex() &&
      next.keyFingerprint === peer.announcement.keyFingerprint;
    if (!same) {
      throw new E2EError(
        "bad_announcement",
        `${peer.user}/${peer.device}'s session announced different keys`,
      );
    }
    if (next.ts <= peer.announcement.ts) {
      throw new E2EError("stale_announcement", `${peer.user} re-sent an older announcement`);
    }
    peer.announcement = next;
    peer.payload = payload;
  }

  /**
   * Takes a peer's agreement statement; only a newer sequence replaces the current key (an old
   * one replayed changes nothing).
   *
   * @returns true when the key changed.
   * @throws {E2EError} when the statement does not verify under the session's key.
   */
  async updateAgreement(peer: PeerSession, payload: string): Promise<boolean> {
    const key = await verifyAgreementStatement(
      payload,
      peer.session,
      peer.announcement.signingKey,
      `${peer.user}/${peer.device}`,
    );
    if (key.seq <= peer.agreement.seq) return false;
    peer.agreement = key;
    return true;
  }

  /**
   * A session that sent stored traffic (a room's log, this device's inbox): verified like any
   * other, with its certificate checked as of its announcement's time, and used only to read
   * what it stored. It never becomes a live peer this way (only membership or a lookup does).
   *
   * @throws {E2EError} when its announcement or agreement key does not verify.
   */
  async learnHistorical(
    description: SessionDescription,
  ): Promise<{ peer: PeerSession; isNew: boolean }> {
    const live = this.#sessions.get(description.session);
    if (live && live.user === description.user && live.device === description.device) {
      return { peer: live, isNew: false };
    }
    const known = this.#historical.get(description.session);
    if (known) {
      if (known.user !== description.user || known.device !== description.device) {
        throw new E2EError("bad_announcement", `Session ${description.session} is not theirs`);
      }
      return { peer: known, isNew: false };
    }
    const announcement = await verifyAnnouncement(
      description.announce,
      description,
      this.verifyCert,
      this.deviceOf,
      new Date(this.now()),
      true,
    );
    const peer: PeerSession = {
      user: description.user,
      device: description.device,
      session: description.session,
      announcement,
      payload: description.announce,
      agreement: { seq: 0, publicKey: announcement.agreementPublic },
      trust: "not_accepted",
    };
    this.#historical.set(description.session, peer);
    if (this.#historical.size > MAX_ENDED_SESSIONS) {
      this.#historical.delete(this.#historical.keys().next().value!);
    }
    return { peer, isNew: true };
  }

  /** A known live session, or else one learned from stored traffic. */
  sender(session: string): PeerSession | undefined {
    return this.#sessions.get(session) ?? this.#historical.get(session);
  }

  /** Forgets `session` for good: it has ended, and is never accepted again. */
  end(session: string): PeerSession | undefined {
    const peer = this.#sessions.get(session);
    this.#sessions.delete(session);
    this.#ended.add(session);
    if (this.#ended.size > MAX_ENDED_SESSIONS) {
      this.#ended.delete(this.#ended.values().next().value!);
    }
    return peer;
  }
}
