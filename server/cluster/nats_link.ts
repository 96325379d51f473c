/**
 * One process's connection to NATS, shared by the store, the CA's journal and the cluster's
 * fan-out: the official client (`@nats-io/transport-node`) with JetStream and key-value handles,
 * reconnecting forever on its own, logging when NATS goes away and comes back, and telling
 * whoever listens (the cluster) so it can refuse work meanwhile and recover afterwards.
 *
 * @module
 */

import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { type Logger, silentLogger } from "../log.ts";

/** How long one request to NATS (a publish acknowledgement, a KV read) may take. */
export const NATS_REQUEST_TIMEOUT_MS = 2_000;
/** Pause between reconnection attempts. */
export const NATS_RECONNECT_WAIT_MS = 250;
/** How long the first connection may take before `openchat serve` gives up. */
export const NATS_CONNECT_TIMEOUT_MS = 5_000;

/** What NATS is doing, as the rest of the process needs to know. */
export type LinkState = "up" | "down" | "closed";

/** Options of {@linkcode NatsLink.connect}. */
export interface NatsLinkOptions {
  logger?: Logger;
  /** A name NATS shows for this connection (`openchat-serve`, `openchat-ca`). */
  name?: string;
}

/** A live connection to NATS with its JetStream and KV handles. */
export class NatsLink {
  readonly #listeners = new Set<(state: LinkState) => void>();
  #state: LinkState = "up";

  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly kvm: Kvm,
    readonly servers: readonly string[],
    private readonly log: Logger,
  ) {
    void this.#watch();
  }

  /**
   * Connects to the first reachable of `servers` and checks that JetStream is on.
   *
   * @throws {Error} saying which servers were tried and why it failed.
   */
  static async connect(
    servers: readonly string[],
    options: NatsLinkOptions = {},
  ): Promise<NatsLink> {
    const log = options.logger ?? silentLogger;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...servers],
        name: options.name ?? "openchat",
        maxReconnectAttempts: -1,
        reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
        timeout: NATS_CONNECT_TIMEOUT_MS,
        pingInterval: 2_000,
        maxPingOut: 2,
      });
    } catch (error) {
      throw new Error(`cannot reach NATS at ${servers.join(", ")}: ${(error as Error).message}`);
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: NATS_REQUEST_TIMEOUT_MS });
      const js = jetstream(nc, { timeout: NATS_REQUEST_TIMEOUT_MS });
      return new NatsLink(nc, js, jsm, new Kvm(js), servers, log);
    } catch (error) {
      await nc.close().catch(() => {});
      throw new Error(
        `NATS at ${servers.join(", ")} has no JetStream (start nats-server with -js): ${
          (error as Error).message
        }`,
      );
    }
  }

  /** `up` while connected, `down` while reconnecting, `closed` after {@linkcode close}. */
  get state(): LinkState {
    return this.#state;
  }

  /** Calls `listener` on every change of state; returns a function that stops it. */
  onState(listener: (state: LinkState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the connection (pending requests fail). */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#set("closed");
    await this.nc.close().catch(() => {});
  }

  #set(state: LinkState): void {
    if (this.#state === state || this.#state === "closed") return;
    this.#state = state;
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch (error) {
        this.log.log("error", "internal_error", { in: "nats_state", error: String(error) });
      }
    }
  }

  async #watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case "disconnect":
          this.log.log("error", "nats_down", {
            server: "server" in status ? String(status.server) : undefined,
            note: "requests that need NATS are refused (store_unavailable) until it returns",
          });
          this.#set("down");
          break;
        case "reconnect":
          this.log.log("info", "nats_up", {
            server: "server" in status ? String(status.server) : undefined,
          });
          this.#set("up");
          break;
        default:
          break;
      }
    }
  }
}
