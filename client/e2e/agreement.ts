/**
 * A session's X25519 agreement keys, which it replaces as it goes so that a snapshot of its
 * memory stops opening what others send it (post-compromise healing).
 *
 * The first key is certified in the session's announcement (sequence 0). Each later one is an
 * **agreement statement** signed with the session's Ed25519 key:
 *
 *     payload = <seq>.<x25519>.<signature>
 *     signed  = "openchat/v2 agreement" 0x00 session 0x00 u32(seq) x25519(32)
 *
 * A session replaces its key on every one of its own chain rotations, soon after the key has
 * opened a key package ({@linkcode AGREEMENT_REPLACE_AFTER_USE_MS}), and at least every
 * {@linkcode AGREEMENT_MAX_AGE_MS}. Key packages name the sequence of the key they were wrapped
 * to, so the owner keeps a replaced private key only for {@linkcode AGREEMENT_GRACE_MS} (for
 * packages already on their way) and at most {@linkcode MAX_RETIRED_AGREEMENT_KEYS} of them.
 *
 * @module
 */

import { concatBytes, toBase64Url, uint32be, utf8 } from "../../crypto/bytes.ts";
import { generateAgreementKeyPair } from "../../crypto/ecdh.ts";
import { exportRawPublicKey, RAW_25519_PUBLIC_BYTES } from "../../crypto/keys.ts";
import { signLabelled, verifyLabelled } from "../../crypto/sign.ts";
import { bytesField, decimalField, MAX_U32, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

/** Label of agreement statements. */
export const AGREEMENT_LABEL = "openchat/v2 agreement";
/** A session replaces its agreement key at least this often, even if it never rotates a chain. */
export const AGREEMENT_MAX_AGE_MS = 3_600_000;
/** How long a replaced private key is kept for key packages wrapped to it before it was replaced. */
export const AGREEMENT_GRACE_MS = 60_000;
/**
 * A key that has opened a key package is replaced this soon after (at the next upkeep), so a
 * snapshot taken later cannot open that package again from the server's store.
 */
export const AGREEMENT_REPLACE_AFTER_USE_MS = 1_000;
/**
 * Most replaced private keys kept at once, a bound on memory when keys are replaced in quick
 * succession; the grace above is what bounds exposure. It allows about one replacement a second
 * through the whole grace: at 8, a client catching up 10,000 messages (13.5 s, 18 replacements)
 * lost a key package wrapped to a key nine replacements back, and with it an epoch's messages.
 */
export const MAX_RETIRED_AGREEMENT_KEYS = 64;

/** One of our agreement keys. */
export interface OwnAgreementKey {
  readonly seq: number;
  readonly publicKey: Uint8Array<ArrayBuffer>;
  readonly privateKey: CryptoKey;
  /** Wall-clock ms when it was made. */
  readonly createdAt: number;
}

/** A peer's agreement key as a verified statement (or its announcement, for sequence 0) gave it. */
export interface PeerAgreementKey {
  readonly seq: number;
  readonly publicKey: Uint8Array<ArrayBuffer>;
}

async function makeKey(seq: number, now: number): Promise<OwnAgreementKey> {
  const pair = await generateAgreementKeyPair();
  return {
    seq,
    publicKey: await exportRawPublicKey(pair.publicKey),
    privateKey: pair.privateKey,
    createdAt: now,
  };
}

/** This session's agreement keys: the current one, and replaced ones still within their grace. */
export class OwnAgreementKeys {
  #current: OwnAgreementKey;
  /** When the current key first opened a package (undefined: not yet). */
  #usedAt: number | undefined;
  readonly #retired: { key: OwnAgreementKey; retiredAt: number }[] = [];

  private constructor(current: OwnAgreementKey) {
    this.#current = current;
  }

  /** Makes the first key (sequence 0, the one the announcement certifies). */
  static async create(now: number): Promise<OwnAgreementKeys> {
    return new OwnAgreementKeys(await makeKey(0, now));
  }

  /** The key peers should wrap to now. */
  get current(): OwnAgreementKey {
    return this.#current;
  }

  /** True when the current key is old enough, or opened a package long enough ago, to be replaced. */
  due(now: number): boolean {
    return now - this.#current.createdAt >= AGREEMENT_MAX_AGE_MS ||
      (this.#usedAt !== undefined && now - this.#usedAt >= AGREEMENT_REPLACE_AFTER_USE_MS);
  }

  /** Notes that the key `seq` just opened a key package. */
  markUsed(seq: number, now: number): void {
    if (seq === this.#current.seq && this.#usedAt === undefined) this.#usedAt = now;
  }

  /** Replaces the current key with a fresh one (the next sequence) and returns it. */
  async replace(now: number): Promise<OwnAgreementKey> {
    const next = await makeKey(this.#current.seq + 1, now);
    this.#retired.push({ key: this.#current, retiredAt: now });
    this.#current = next;
    this.#usedAt = undefined;
    this.prune(now);
    return next;
  }

  /** The key of sequence `seq`, if it is current or still within its grace. */
  keyFor(seq: number, now: number): OwnAgreementKey | undefined {
    this.prune(now);
    if (seq === this.#current.seq) return this.#current;
    return this.#retired.find((entry) => entry.key.seq === seq)?.key;
  }

  /** The private key of sequence `seq`, if it is current or still within its grace. */
  privateFor(seq: number, now: number): CryptoKey | undefined {
    return this.keyFor(seq, now)?.privateKey;
  }

  /** Forgets replaced keys past their grace, and the oldest beyond the count bound. */
  prune(now: number): void {
    while (
      this.#retired.length > MAX_RETIRED_AGREEMENT_KEYS ||
      (this.#retired.length > 0 && now - this.#retired[0]!.retiredAt > AGREEMENT_GRACE_MS)
    ) {
      this.#retired.shift();
    }
  }

  /** Every private key held right now, by sequence: what a snapshot of memory would find. */
  held(): Map<number, CryptoKey> {
    const keys = new Map<number, CryptoKey>();
    for (const { key } of this.#retired) keys.set(key.seq, key.privateKey);
    keys.set(this.#current.seq, this.#current.privateKey);
    return keys;
  }
}

function signedBytes(session: string, seq: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes(utf8(session), Uint8Array.of(0), uint32be(seq), publicKey);
}

/** Builds the statement that announces `key` for `session`, signed with the session key. */
export async function buildAgreementStatement(
  session: string,
  key: OwnAgreementKey,
  signingKey: CryptoKey,
): Promise<string> {
  const signature = await signLabelled(
    signingKey,
    AGREEMENT_LABEL,
    signedBytes(session, key.seq, key.publicKey),
  );
  return `${key.seq}.${toBase64Url(key.publicKey, false)}.${toBase64Url(signature, false)}`;
}

/**
 * Verifies an agreement statement of `session` (whose session key is `verifyKey`).
 *
 * @throws {E2EError} `bad_payload` or `bad_signature`.
 */
export async function verifyAgreementStatement(
  payload: string,
  session: string,
  verifyKey: CryptoKey,
  from: string,
): Promise<PeerAgreementKey> {
  const [seqText, keyText, signatureText] = splitFields(payload, 3, "agreement key", from);
  const seq = decimalField(seqText!, MAX_U32, "agreement key", from);
  const publicKey = bytesField(keyText!, "agreement key", from, RAW_25519_PUBLIC_BYTES);
  const signature = bytesField(signatureText!, "agreement key", from);
  if (
    seq === 0 ||
    !await verifyLabelled(
      verifyKey,
      AGREEMENT_LABEL,
      signedBytes(session, seq, publicKey),
      signature,
    )
  ) {
    throw new E2EError(
      "bad_signature",
      `An agreement key claiming to be from ${from} does not verify`,
    );
  }
  return { seq, publicKey };
}
