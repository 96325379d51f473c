/**
 * A chat user driven in-process through the `ChatClient` API, for tests that need someone on the
 * other end: it records every event and waits, with a deadline, for the ones a test expects.
 *
 * @module
 */

import { ChatClient } from "../../client/chat_client.ts";
import { parseEndpoint } from "../../client/connection.ts";
import type { ClientEvent } from "../../client/events.ts";
import { loadIdentity } from "../../client/identity.ts";
import { TrustStore } from "../../client/trust_store.ts";
import type { ServerFixture } from "./server_fixture.ts";

/** How long {@linkcode ChatPeer.waitFor} waits by default. */
export const PEER_WAIT_MS = 10_000;

interface Waiter {
  match: (event: ClientEvent) => boolean;
  resolve: (event: ClientEvent) => void;
}

/** A connected `ChatClient` with its events recorded. */
export class ChatPeer {
  readonly events: ClientEvent[] = [];
  readonly client: ChatClient;
  readonly #configDir: string;
  #waiters: Waiter[] = [];

  private constructor(client: ChatClient, configDir: string) {
    this.client = client;
    this.#configDir = configDir;
    client.on((event) => {
      this.events.push(event);
      const matched = this.#waiters.filter((waiter) => waiter.match(event));
      this.#waiters = this.#waiters.filter((waiter) => !matched.includes(waiter));
      for (const waiter of matched) waiter.resolve(event);
    });
  }

  /** Issues `name` a certificate from the fixture's CA and connects as them to `rooms`. */
  static async join(
    fx: ServerFixture,
    name: string,
    rooms = ["lobby"],
    options: {
      reconnect?: boolean;
      outboxTimeoutMs?: number;
      /** Renew by itself (writing the fixture's identity file), deciding by this clock. */
      clock?: () => Date;
    } = {},
  ): Promise<ChatPeer> {
    const identityPath = await fx.identityFile(await fx.issue(name));
    return await ChatPeer.start(`127.0.0.1:${fx.port}`, identityPath, {
      rooms,
      reconnect: options.reconnect ?? false,
      outboxTimeoutMs: options.outboxTimeoutMs,
      ...(options.clock ? { renew: true, clock: options.clock } : {}),
    });
  }

  /**
   * Connects with the identity file `identityPath` to the server (or relay) at `address`, with a
   * trust store of its own (in `configDir`, or a new temporary directory).
   */
  static async start(
    address: string,
    identityPath: string,
    options: {
      rooms?: string[];
      reconnect?: boolean;
      outboxTimeoutMs?: number;
      configDir?: string;
      /** Renew by itself, writing `identityPath`, deciding by `clock`. */
      renew?: boolean;
      clock?: () => Date;
      /** The end-to-end engine's clock (see `ChatClientOptions.e2eClock`). */
      e2eClock?: () => number;
    } = {},
  ): Promise<ChatPeer> {
    const identity = await loadIdentity(identityPath);
    const configDir = options.configDir ??
      await Deno.makeTempDir({ prefix: `openchat-peer-${identity.user}-` });
    const trustStore = await TrustStore.open(configDir, identity.caFingerprint);
    const client = new ChatClient({
      endpoint: parseEndpoint(address),
      identity,
      trustStore,
      rooms: options.rooms ?? ["lobby"],
      reconnect: options.reconnect ?? false,
      outboxTimeoutMs: options.outboxTimeoutMs,
      ...(options.renew ? { identityPath } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.e2eClock ? { e2eClock: options.e2eClock } : {}),
    });
    const peer = new ChatPeer(client, configDir);
    await client.start();
    return peer;
  }

  /** The first event (already seen or still to come) for which `match` holds. */
  waitFor<T extends ClientEvent>(
    what: string,
    match: (event: ClientEvent) => event is T,
    timeoutMs?: number,
  ): Promise<T>;
  waitFor(
    what: string,
    match: (event: ClientEvent) => boolean,
    timeoutMs?: number,
  ): Promise<ClientEvent>;
  waitFor(
    what: string,
    match: (event: ClientEvent) => boolean,
    timeoutMs = PEER_WAIT_MS,
  ): Promise<ClientEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(
          new Error(
            `Timed out waiting for ${what}; events were:\n${
              this.events.map((event) => JSON.stringify(event)).join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      const entry: Waiter = {
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      };
      this.#waiters.push(entry);
    });
  }

  /** Messages received in `room`. */
  messages(room = "lobby"): Extract<ClientEvent, { type: "message" }>[] {
    return this.events.filter((event): event is Extract<ClientEvent, { type: "message" }> =>
      event.type === "message" && event.room === room
    );
  }

  /** Quits (briefly waiting for what is queued) and removes the trust store. */
  async close(): Promise<void> {
    await this.client.quit(2_000);
    await this.client.finished;
    await Deno.remove(this.#configDir, { recursive: true }).catch(() => {});
  }
}
