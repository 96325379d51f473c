/**
 * A thief with a copy of one session's keys (a memory snapshot) and every frame the server ever
 * sent that session: it tries to open each key package with every agreement key it holds, and
 * each message with every chain it holds or gained, exactly as the victim would. What it opens
 * is what a snapshot gives away; the healing tests assert it is nothing past the bound.
 *
 * @module
 */

import type { KeySnapshot } from "../../client/e2e/engine.ts";
import type { Inbound } from "../../client/e2e/inbound.ts";
import { openKeyPackage, parseKeyPackage } from "../../client/e2e/key_package.ts";
import { type MessageScope, openMessage, parseMessage } from "../../client/e2e/payloads.ts";
import { ReceivingChain } from "../../client/e2e/chains.ts";

/** Tries to read frames with a snapshot; returns the texts it opened. */
export class Thief {
  /** Chains by `scope|session|epoch`. */
  readonly #chains = new Map<string, ReceivingChain>();

  constructor(readonly snapshot: KeySnapshot) {
    for (const [scope, bySession] of snapshot.received) {
      for (const [session, chains] of bySession) {
        for (const chain of chains) this.#chains.set(`${scope}|${session}|${chain.epoch}`, chain);
      }
    }
  }

  /** Tries every frame in order; returns what it could read. */
  async read(frames: Inbound[]): Promise<string[]> {
    const opened: string[] = [];
    for (const frame of frames) {
      try {
        if (frame.type === "keys") await this.#keys(frame);
        if (frame.type === "msg") {
          opened.push(
            await this.#message(frame.room, frame.session, frame.payload, {
              kind: "room",
              room: frame.room,
            }),
          );
        }
        if (frame.type === "dm") {
          opened.push(
            await this.#message("", frame.session, frame.payload, {
              kind: "direct",
              recipient: this.snapshot.session,
            }),
          );
        }
      } catch {
        // Could not: that is the point.
      }
    }
    return opened;
  }

  /** Tries to read the victim's own messages of `room` with its stolen sending chain. */
  readOwn(room: string, payloads: string[]): Promise<string[]> {
    return this.#readOwn(room, { kind: "room", room }, payloads);
  }

  /** Tries to read the victim's own direct messages to `session` with its stolen chain. */
  readOwnDirect(session: string, payloads: string[]): Promise<string[]> {
    return this.#readOwn(`@${session}`, { kind: "direct", recipient: session }, payloads);
  }

  async #readOwn(key: string, scope: MessageScope, payloads: string[]): Promise<string[]> {
    const chain = this.snapshot.sending.get(key);
    const opened: string[] = [];
    if (!chain) return opened;
    for (const payload of payloads) {
      try {
        const envelope = parseMessage(payload, "victim");
        if (envelope.epoch !== chain.epoch) continue;
        const { key } = await chain.take(envelope.n);
        opened.push((await openMessage(envelope, key, scope, "victim")).text);
      } catch {
        // Could not.
      }
    }
    return opened;
  }

  async #keys(frame: Extract<Inbound, { type: "keys" }>): Promise<void> {
    const envelope = parseKeyPackage(frame.payload, frame.from);
    const seq = Number(envelope.ref.slice(1));
    const privateKey = this.snapshot.agreementKeys.get(seq);
    const publicKey = this.snapshot.agreementPublic.get(seq);
    if (!privateKey || !publicKey) return;
    const scope = frame.room ?? "";
    const content = await openKeyPackage(envelope, { privateKey, publicKey }, {
      kind: frame.room === undefined ? "direct" : "room",
      scope,
      senderSession: frame.session,
      recipient: this.snapshot.session,
    }, frame.from);
    this.#chains.set(
      `${scope}|${frame.session}|${content.epoch}`,
      new ReceivingChain(content.epoch, content.chainKey as Uint8Array<ArrayBuffer>),
    );
  }

  async #message(
    scope: string,
    session: string,
    payload: string,
    messageScope: MessageScope,
  ): Promise<string> {
    const envelope = parseMessage(payload, "x");
    const chain = this.#chains.get(`${scope}|${session}|${envelope.epoch}`);
    if (!chain) throw new Error("no chain");
    const { key } = await chain.take(envelope.n);
    return (await openMessage(envelope, key, messageScope, "x")).text;
  }
}
