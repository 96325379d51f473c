/**
 * The sender-chain ratchet. A chain key steps forward with HMAC-SHA256: one output becomes the
 * key of message n, another the chain key for step n+1. Outputs do not reveal inputs, so holding
 * step n's chain key opens messages n, n+1, ... but never n-1: once used steps are deleted, a
 * stolen chain state cannot read earlier messages (forward secrecy).
 *
 *     message_key(n)  = HMAC-SHA256(chain_key(n), 0x01)
 *     chain_key(n+1)  = HMAC-SHA256(chain_key(n), 0x02)
 *
 * @module
 */

import { hmacSha256, importHmacKey } from "./kdf.ts";

/** Size of chain keys and message keys. */
export const CHAIN_KEY_BYTES = 32;
const MESSAGE_KEY_INPUT = Uint8Array.of(0x01);
const CHAIN_KEY_INPUT = Uint8Array.of(0x02);

/** One step of a chain: the message key for this step and the chain key of the next. */
export interface ChainStep {
  messageKey: Uint8Array<ArrayBuffer>;
  nextChainKey: Uint8Array<ArrayBuffer>;
}

/**
 * Steps a chain key once.
 *
 * @example
 * ```ts
 * import { stepChain } from "./ratchet.ts";
 * const { messageKey, nextChainKey } = await stepChain(new Uint8Array(32));
 * messageKey.length === 32 && nextChainKey.length === 32; // true
 * ```
 * @throws {RangeError} when `chainKey` is not {@linkcode CHAIN_KEY_BYTES} long.
 */
export async function stepChain(chainKey: Uint8Array): Promise<ChainStep> {
  if (chainKey.length !== CHAIN_KEY_BYTES) {
    throw new RangeError(`Chain key must be ${CHAIN_KEY_BYTES} bytes, received ${chainKey.length}`);
  }
  const key = await importHmacKey(chainKey);
  const [messageKey, nextChainKey] = await Promise.all([
    hmacSha256(key, MESSAGE_KEY_INPUT),
    hmacSha256(key, CHAIN_KEY_INPUT),
  ]);
  return { messageKey, nextChainKey };
}
