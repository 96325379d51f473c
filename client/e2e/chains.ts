/**
 * Sender chains. Each member sends with its own chain per (room, epoch): a random 32-byte chain
 * key, handed to each member wrapped in their pairwise key, then ratcheted once per message
 * (`crypto/ratchet.ts`). Both ends delete what they have used; a receiver keeps at most
 * {@linkcode MAX_SKIPPED_KEYS} keys of messages it has not seen yet (arriving out of order),
 * and refuses a step it has already used (a replay).
 *
 * @module
 */

import { randomBytes } from "../../crypto/bytes.ts";
import { Fernet } from "../../crypto/fernet.ts";
import { CHAIN_KEY_BYTES, type ChainStep, stepChain } from "../../crypto/ratchet.ts";
import { E2EError } from "./errors.ts";

/**
 * Fernet keys already imported for message keys the chains handed out, so sealing or opening a
 * message does not wait for an import ({@linkcode messageCipher}). Weak: an entry goes with its
 * key bytes.
 */
const ciphers = new WeakMap<Uint8Array, Fernet>();

/**
 * The Fernet for a message key: the one a chain imported ahead of time when the key came from a
 * chain, else a fresh import. The key bytes must not change after the chain handed them out.
 */
export function messageCipher(messageKey: Uint8Array): Fernet {
  return ciphers.get(messageKey) ?? Fernet.fromRawKey(messageKey);
}

/**
 * Steps `chainKey` ahead of need: the next message key and its Fernet import are ready by the
 * time the message is. This holds nothing the chain key does not already give, so it costs no
 * forward secrecy; used steps are still forgotten as before.
 */
function prefetch(chainKey: Uint8Array): Promise<ChainStep> {
  const step = stepChain(chainKey).then((step) => {
    ciphers.set(step.messageKey, Fernet.fromRawKey(step.messageKey));
    return step;
  });
  step.catch(() => {}); // awaited (and so reported) by whoever takes the step
  return step;
}

/** Most message keys a receiving chain holds for messages skipped over. */
export const MAX_SKIPPED_KEYS = 256;
/** Messages in one epoch before the sender starts a new chain (post-compromise healing). */
export const ROTATE_AFTER_MESSAGES = 100;
/** Age of an epoch after which the sender starts a new chain. */
export const ROTATE_AFTER_MS = 3_600_000;

/** The chain this session sends with in one room. */
export class SendingChain {
  #chainKey: Uint8Array<ArrayBuffer>;
  #ahead: Promise<ChainStep>;
  #next = 0;
  #accepted = 0;

  private constructor(
    readonly epoch: number,
    chainKey: Uint8Array<ArrayBuffer>,
    /** Clock time (ms) the chain was made, on the clock `due` is asked with. */
    readonly createdAt: number,
  ) {
    this.#chainKey = chainKey;
    this.#ahead = prefetch(chainKey);
  }

  /**
   * Makes a new chain for `epoch` with a fresh random key. The initial key is returned to be
   * handed to the members once; the chain itself keeps only its current step.
   */
  static create(
    epoch: number,
    now: number = performance.now(),
  ): { chain: SendingChain; initialKey: Uint8Array<ArrayBuffer> } {
    const initialKey = randomBytes(CHAIN_KEY_BYTES);
    return { chain: new SendingChain(epoch, initialKey.slice(), now), initialKey };
  }

  /** Messages sealed on this chain so far. */
  get sent(): number {
    return this.#next;
  }

  /** Messages of this chain the server accepted (the next epoch's key package reports it). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Counts one message of this chain as accepted by the server. */
  markAccepted(): void {
    this.#accepted += 1;
  }

  /** True when the chain has carried enough messages, or lived long enough, to be replaced. */
  get due(): boolean {
    return this.dueAt(performance.now());
  }

  /** {@linkcode due} against the clock time `now`. */
  dueAt(now: number): boolean {
    return this.#next >= ROTATE_AFTER_MESSAGES || now - this.createdAt >= ROTATE_AFTER_MS;
  }

  /**
   * This chain from its current step, as a receiver would hold it: what a snapshot of memory
   * would give a thief (the healing tests use it).
   */
  snapshot(): ReceivingChain {
    return ReceivingChain.at(this.epoch, this.#chainKey.slice(), this.#next);
  }

  /** The key for the next message, and its number. The step is forgotten once taken. */
  async nextKey(): Promise<{ n: number; messageKey: Uint8Array<ArrayBuffer> }> {
    const n = this.#next;
    const { messageKey, nextChainKey } = await this.#ahead;
    this.#chainKey = nextChainKey;
    this.#ahead = prefetch(nextChainKey);
    this.#next = n + 1;
    return { n, messageKey };
  }
}

/** Another member's chain in one room and epoch, as this session received it. */
export class ReceivingChain {
  #chainKey: Uint8Array<ArrayBuffer>;
  /** Step `#next` of the chain, derived ahead of need. */
  #ahead: Promise<ChainStep>;
  #next = 0;
  #received = 0;
  /** Highest step whose held key was dropped to make room (-1: none). */
  #droppedUpTo = -1;
  readonly #skipped = new Map<number, Uint8Array<ArrayBuffer>>();

  constructor(readonly epoch: number, chainKey: Uint8Array<ArrayBuffer>) {
    if (chainKey.length !== CHAIN_KEY_BYTES) throw new RangeError("Chain key must be 32 bytes");
    this.#chainKey = chainKey;
    this.#ahead = prefetch(chainKey);
  }

  /** A chain whose state is step `next`'s chain key (steps before it are gone). */
  static at(epoch: number, chainKey: Uint8Array<ArrayBuffer>, next: number): ReceivingChain {
    const chain = new ReceivingChain(epoch, chainKey);
    chain.#next = next;
    return chain;
  }

  /** Distinct messages of this chain whose keys were handed out (each one at most once). */
  get received(): number {
    return this.#received;
  }

  /**
   * A copy of this chain's state as it stands: what a snapshot of memory would hold. Used by
   * the healing tests to play a thief; the copy steps on independently.
   */
  clone(): ReceivingChain {
    const copy = new ReceivingChain(this.epoch, this.#chainKey.slice());
    copy.#next = this.#next;
    copy.#droppedUpTo = this.#droppedUpTo;
    for (const [n, key] of this.#skipped) copy.#skipped.set(n, key.slice());
    return copy;
  }

  /**
   * The key of message `n`, once, with what its arrival says about order: `late` when it comes
   * after a later one (its key was held as skipped), `skipped` how many steps it jumped over.
   *
   * @throws {E2EError} `replay` when `n` was already used, `no_key` when it is too far ahead or
   *   its held key was dropped to make room.
   */
  async take(n: number): Promise<{ key: Uint8Array<ArrayBuffer>; late: boolean; skipped: number }> {
    const late = n < this.#next;
    const skipped = late ? 0 : n - this.#next;
    const key = await this.keyFor(n);
    return { key, late, skipped };
  }

  /** The next step this chain has not derived yet. */
  get next(): number {
    return this.#next;
  }

  /** Keys held for skipped messages. */
  get skipped(): number {
    return this.#skipped.size;
  }

  /**
   * The key of message `n`, removed from the chain so it cannot be used twice.
   *
   * @throws {E2EError} `replay` when `n` was already used, `no_key` when it is too far ahead.
   */
  async keyFor(n: number): Promise<Uint8Array<ArrayBuffer>> {
    if (n < this.#next) {
      const key = this.#skipped.get(n);
      if (!key && n <= this.#droppedUpTo) {
        throw new E2EError(
          "no_key",
          `Message ${n} of epoch ${this.epoch} came too late: its key was dropped to make room`,
        );
      }
      if (!key) {
        throw new E2EError("replay", `Message ${n} of epoch ${this.epoch} was already received`);
      }
      this.#skipped.delete(n);
      this.#received += 1;
      return key;
    }
    if (n - this.#next > MAX_SKIPPED_KEYS) {
      throw new E2EError(
        "no_key",
        `Message ${n} is more than ${MAX_SKIPPED_KEYS} ahead of ${this.#next}`,
      );
    }
    let key: Uint8Array<ArrayBuffer> | undefined;
    while (this.#next <= n) {
      const step = await this.#ahead;
      this.#chainKey = step.nextChainKey;
      this.#ahead = this.#next < n ? stepChain(step.nextChainKey) : prefetch(step.nextChainKey);
      if (this.#next === n) key = step.messageKey;
      else this.#remember(this.#next, step.messageKey);
      this.#next += 1;
    }
    this.#received += 1;
    return key!;
  }

  #remember(n: number, key: Uint8Array<ArrayBuffer>): void {
    this.#skipped.set(n, key);
    if (this.#skipped.size > MAX_SKIPPED_KEYS) {
      const oldest = this.#skipped.keys().next().value!;
      this.#skipped.delete(oldest);
      this.#droppedUpTo = Math.max(this.#droppedUpTo, oldest);
    }
  }
}
