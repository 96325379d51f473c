/**
 * One room as this session sees it on one join: its membership version and members (the
 * server's word, each checked by its announcement and by our trust), the roster hash of every
 * recent version, our sending chain, and whether a roster dispute holds it.
 *
 * @module
 */

import type { SendingChain } from "./chains.ts";
import type { PeerSession } from "./peers.ts";
import { isAccepted } from "./peers.ts";
import type { RosterEntry } from "./roster.ts";
import type { OfflineMember } from "./offline.ts";
import type { OfflineDevice } from "../../protocol/messages.ts";

/** Roster hashes remembered per room, for key packages that arrive after a later change. */
export const KEPT_ROSTERS = 32;

/** A member of a room in our view. */
export interface RoomMember {
  readonly user: string;
  readonly device: string;
  readonly session: string;
  /** Its verified session, unless its announcement failed. */
  peer?: PeerSession;
}

/** A roster mismatch that holds the room until the member disagreeing agrees again. */
export interface RosterDispute {
  readonly version: number;
  readonly session: string;
  readonly label: string;
}

/** The end-to-end state of one room on one join. */
export class RoomView {
  readonly members = new Map<string, RoomMember>();
  /** Member devices with no live session, by address `user/device`. */
  readonly offline = new Map<string, OfflineMember>();
  readonly #rosters = new Map<number, Uint8Array>();
  /** Members of a `joined` answer that comes in several frames, until its last one. */
  joining: RoomMember[] | undefined;
  /** Offline devices of a `joined` answer that comes in several frames, until its last one. */
  readonly joiningOffline: OfflineDevice[] = [];
  joined = false;
  /** The server's membership version this view matches; sent with each message. */
  version = 0;
  sending: SendingChain | undefined;
  /**
   * Key packages of `sending` for offline member devices still waiting for their bundles: no
   * message goes out on it until they left, so that an acknowledged message is one every member
   * device can read (its key is in the inbox before the message is in the log).
   */
  delivering = 0;
  /** Our messages sealed on `sending` whose ack or refusal has not arrived. */
  unresolved = 0;
  /** A rotation waits for `unresolved` to reach 0 ("wanted") or is under way ("running"). */
  rotation: "idle" | "wanted" | "running" = "idle";
  dispute: RosterDispute | undefined;
  /** The member list last reported, so an unchanged list is not reported twice. */
  lastReported = "";

  constructor(readonly name: string) {}

  /** True when a message can be sealed now for every member we accept. */
  get ready(): boolean {
    return this.joined && this.sending !== undefined && this.rotation === "idle" &&
      this.dispute === undefined && this.delivering === 0;
  }

  /** Members whose keys we accept: they get our chains. */
  acceptedMembers(): RoomMember[] {
    return [...this.members.values()].filter((member) =>
      member.peer !== undefined && isAccepted(member.peer.trust)
    );
  }

  /** Offline member devices whose keys we accept: their packages go to their pre-keys. */
  acceptedOffline(): OfflineMember[] {
    return [...this.offline.values()].filter((member) => isAccepted(member.trust));
  }

  /** The roster entries of this view (ourselves included by the caller). */
  rosterEntries(): RosterEntry[] {
    return [...this.members.values()].map((member) => ({
      user: member.user,
      device: member.device,
      session: member.session,
      keyFingerprint: member.peer?.announcement.keyDigest,
    }));
  }

  /** Remembers our roster hash at `version`. */
  recordRoster(version: number, hash: Uint8Array): void {
    this.#rosters.set(version, hash);
    while (this.#rosters.size > KEPT_ROSTERS) {
      this.#rosters.delete(this.#rosters.keys().next().value!);
    }
  }

  /** Our roster hash at `version`, if remembered. */
  rosterAt(version: number): Uint8Array | undefined {
    return this.#rosters.get(version);
  }
}
