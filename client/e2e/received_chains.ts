/**
 * The chains this session received in one scope (a room, or direct messages), by sender
 * session. The highest epoch each sender has used is kept for the sender session's whole life,
 * even after it leaves and rejoins, so no key package from before can be replayed; only the
 * newest {@linkcode KEPT_EPOCHS} chains per sender are kept for messages still in flight.
 *
 * @module
 */

import { ReceivingChain } from "./chains.ts";
import { E2EError } from "./errors.ts";

/**
 * Received epochs kept per sender. Live, only the last two matter (messages in flight); catching
 * up on a room's log after being offline, a sender may have rotated many times, and every
 * epoch's key comes from the inbox before the log is read. Only unused steps are kept, so an old
 * epoch's chain opens nothing already read.
 */
export const KEPT_EPOCHS = 64;

/** Chains received in one scope. */
export class ReceivedChains {
  readonly #chains = new Map<string, ReceivingChain[]>();
  readonly #highest = new Map<string, number>();

  /**
   * Stores the chain `session` starts for `epoch`, which must be newer than any epoch that
   * session has used here before.
   *
   * @returns the chain of the epoch before, if held (for its gap report).
   * @throws {E2EError} `replay` for an epoch not newer than the highest seen.
   */
  add(
    session: string,
    epoch: number,
    chainKey: Uint8Array<ArrayBuffer>,
    from: string,
  ): ReceivingChain | undefined {
    const highest = this.#highest.get(session) ?? 0;
    if (epoch <= highest) {
      throw new E2EError(
        "replay",
        `A key package from ${from} for an old epoch (${epoch}, already at ${highest}) was dropped`,
      );
    }
    this.#highest.set(session, epoch);
    const chains = this.#chains.get(session) ?? [];
    const previous = chains.find((chain) => chain.epoch === epoch - 1);
    chains.push(new ReceivingChain(epoch, chainKey));
    while (chains.length > KEPT_EPOCHS) chains.shift();
    this.#chains.set(session, chains);
    return previous;
  }

  /** The chain of `session` for `epoch`, if held. */
  get(session: string, epoch: number): ReceivingChain | undefined {
    return this.#chains.get(session)?.find((chain) => chain.epoch === epoch);
  }

  /** The highest epoch `session` has used here (0: none). */
  highest(session: string): number {
    return this.#highest.get(session) ?? 0;
  }

  /** Drops the chains of `session` (it left), keeping its highest epoch. */
  drop(session: string): void {
    this.#chains.delete(session);
  }

  /** Drops every chain (we left), keeping every highest epoch. */
  dropAll(): void {
    this.#chains.clear();
  }

  /** Every chain held, by sender session (what a memory snapshot would find). */
  held(): Map<string, readonly ReceivingChain[]> {
    return new Map(this.#chains);
  }
}
