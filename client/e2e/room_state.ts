/**
 * One room as this session sees it: its members (and whether each one's keys are in place), our
 * sending chain, and the chains received from the others. A room is ready to send in when it is
 * joined, we have a chain, and no member's keys are still pending.
 *
 * @module
 */

import { E2EError } from "./errors.ts";
import { ReceivingChain, SendingChain } from "./chains.ts";

/** Received epochs kept per member: the current one and the one before (messages in flight). */
export const KEPT_EPOCHS = 2;

/** Where a member's keys stand. */
export type MemberStatus = "pending" | "ready" | "failed";

/** A member of a room. */
export interface RoomMember {
  readonly user: string;
  readonly session: string;
  status: MemberStatus;
}

/** The end-to-end state of one room. */
export class RoomState {
  readonly members = new Map<string, RoomMember>();
  readonly #received = new Map<string, ReceivingChain[]>();
  sending: SendingChain | undefined;
  joined = false;
  /** The server's membership version this state matches; sent with each message. */
  version = 0;
  #epoch = 0;
  /** The member list last reported, so an unchanged list is not reported twice. */
  lastReported = "";

  constructor(readonly name: string) {}

  /** True when a message can be sealed for every current member. */
  get ready(): boolean {
    if (!this.joined || !this.sending) return false;
    for (const member of this.members.values()) if (member.status === "pending") return false;
    return true;
  }

  /** Members whose keys are in place. */
  readyMembers(): RoomMember[] {
    return [...this.members.values()].filter((member) => member.status === "ready");
  }

  /** Starts a new epoch with a fresh chain; returns it with its initial key (to distribute once). */
  rotate(): { chain: SendingChain; initialKey: Uint8Array<ArrayBuffer> } {
    this.#epoch += 1;
    const { chain, initialKey } = SendingChain.create(this.#epoch);
    this.sending = chain;
    return { chain, initialKey };
  }

  /** Removes a member and every chain received from it. */
  remove(session: string): RoomMember | undefined {
    const member = this.members.get(session);
    this.members.delete(session);
    this.#received.delete(session);
    return member;
  }

  /**
   * Stores a chain received from `session`. Only a newer epoch than any seen is accepted, so an
   * old key package cannot be replayed to rewind a chain.
   *
   * @throws {E2EError} `replay` for an epoch not newer than the latest.
   */
  addReceived(session: string, epoch: number, chainKey: Uint8Array<ArrayBuffer>): void {
    const chains = this.#received.get(session) ?? [];
    const latest = chains.at(-1);
    if (latest && epoch <= latest.epoch) {
      throw new E2EError("replay", `A key package for an old epoch (${epoch}) was dropped`);
    }
    chains.push(new ReceivingChain(epoch, chainKey));
    while (chains.length > KEPT_EPOCHS) chains.shift();
    this.#received.set(session, chains);
  }

  /** The chain received from `session` for `epoch`, if held. */
  received(session: string, epoch: number): ReceivingChain | undefined {
    return this.#received.get(session)?.find((chain) => chain.epoch === epoch);
  }

  /** Every chain held from `session`, oldest first (for inspection in tests and `/whois`). */
  receivedChains(session: string): readonly ReceivingChain[] {
    return this.#received.get(session) ?? [];
  }
}
