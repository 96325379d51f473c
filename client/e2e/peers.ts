/**
 * The peer sessions this session knows: each one's verified announcement and the two pairwise
 * keys derived with it (one wraps chain keys, one seals direct messages). Entries are promises,
 * so a frame that needs a peer still being verified waits for it rather than failing.
 *
 * @module
 */

import { derivePairwiseKeys } from "../../crypto/ecdh.ts";
import { Fernet } from "../../crypto/fernet.ts";
import {
  type CertificateVerifier,
  type SessionKeys,
  type VerifiedAnnouncement,
  verifyAnnouncement,
} from "./announcement.ts";
import { E2EError } from "./errors.ts";

/** HKDF label of the key that wraps chain keys. */
export const KEY_WRAP_LABEL = "openchat/v1 key-wrap";
/** HKDF label of the key that seals direct messages. */
export const DIRECT_LABEL = "openchat/v1 direct";

/** A verified peer session and what this session shares with it. */
export interface PeerSession {
  announcement: VerifiedAnnouncement;
  readonly wrapKey: Fernet;
  readonly directKey: Fernet;
  /** The raw announcement it was verified from (to recognise a repeat). */
  payload: string;
}

/** Known peer sessions of one of our sessions. */
export class PeerDirectory {
  readonly #sessions = new Map<string, Promise<PeerSession>>();
  /** Verified sessions of each user, one per device online as far as we know. */
  readonly #byUser = new Map<string, Set<string>>();

  constructor(
    private readonly own: SessionKeys,
    private readonly verifyCert: CertificateVerifier,
  ) {}

  /**
   * Verifies `payload` as `user`'s session `session` and derives the pairwise keys, once per
   * session. A later announcement of the same session must carry the same keys and a newer time.
   * `device`, when the server named one, must be the certificate's.
   *
   * @throws {E2EError} when the announcement does not verify.
   */
  learn(user: string, session: string, payload: string, device?: string): Promise<PeerSession> {
    const known = this.#sessions.get(session);
    if (known) return known.then((peer) => this.#refresh(peer, user, session, payload));
    const pending = this.#verify(user, session, payload, device);
    this.#sessions.set(session, pending);
    pending.then(
      () => {
        const sessions = this.#byUser.get(user) ?? new Set<string>();
        sessions.add(session);
        this.#byUser.set(user, sessions);
      },
      () => this.#sessions.delete(session),
    );
    return pending;
  }

  /** The peer session `session`, if learned (or being learned). */
  get(session: string): Promise<PeerSession> | undefined {
    return this.#sessions.get(session);
  }

  /** The verified sessions learned for `user` (one per device), oldest first. */
  sessionsOf(user: string): string[] {
    return [...this.#byUser.get(user) ?? []];
  }

  /** Forgets a session that has gone. */
  forget(session: string): void {
    this.#sessions.delete(session);
    for (const [user, sessions] of this.#byUser) {
      sessions.delete(session);
      if (sessions.size === 0) this.#byUser.delete(user);
    }
  }

  async #verify(
    user: string,
    session: string,
    payload: string,
    device?: string,
  ): Promise<PeerSession> {
    const announcement = await verifyAnnouncement(
      payload,
      user,
      session,
      this.verifyCert,
      new Date(),
      device,
    );
    const [wrap, direct] = await derivePairwiseKeys(
      this.own.agreement.privateKey,
      this.own.agreementPublic,
      announcement.agreementPublic,
      [KEY_WRAP_LABEL, DIRECT_LABEL],
    ).catch(() => {
      throw new E2EError("bad_announcement", `${user}'s agreement key is unusable`);
    });
    return {
      announcement,
      wrapKey: Fernet.fromRawKey(wrap!),
      directKey: Fernet.fromRawKey(direct!),
      payload,
    };
  }

  async #refresh(
    peer: PeerSession,
    user: string,
    session: string,
    payload: string,
  ): Promise<PeerSession> {
    if (payload === peer.payload) return peer;
    const next = await verifyAnnouncement(payload, user, session, this.verifyCert);
    const same = next.agreementPublic.toHex() === peer.announcement.agreementPublic.toHex() &&
      next.keyFingerprint === peer.announcement.keyFingerprint;
    if (!same) {
      throw new E2EError(
        "bad_announcement",
        `${user}'s session ${session} announced different keys`,
      );
    }
    if (next.ts <= peer.announcement.ts) {
      throw new E2EError("stale_announcement", `${user} re-sent an older announcement`);
    }
    peer.announcement = next;
    peer.payload = payload;
    return peer;
  }
}
