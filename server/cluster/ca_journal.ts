/**
 * The CA's records shared by a cluster: a JetStream stream is the journal of every write
 * (certificates issued and revoked, invites made, claimed and cancelled, device links), and
 * each process keeps a replica in memory (a {@linkcode CaStore} over SQLite's `:memory:`) by
 * applying the journal in order. A write is decided against the replica and published only if
 * the journal has not moved since (expected last sequence), so an invite is claimed once in the
 * whole cluster and two revocations never interleave; then every replica applies it.
 *
 * Reads stay synchronous and local (the server checks every login against its replica);
 * the server notices a change (a revocation anywhere) when the replica's version moves.
 *
 * @module
 */

import { DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { ConsumerMessages } from "@nats-io/jetstream";
import { type CaJournal, type CaOp, CaStore } from "../ca_store.ts";
import type { Logger } from "../log.ts";
import type { NatsLink } from "./nats_link.ts";
import type { StoreNames } from "./nats_names.ts";
import { isConflict, isNotFound } from "./nats_errors.ts";

/** How long a write waits to come back from the journal. */
export const JOURNAL_APPLY_TIMEOUT_MS = 5_000;
/** Rows per journal entry when a cluster is seeded from a data directory's database. */
export const SEED_BATCH = 200;

const decoder = new TextDecoder();

/** The cluster's CA journal and this process's replica of it. */
export class NatsCaJournal implements CaJournal {
  applied = 0;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #messages: ConsumerMessages | undefined;

  private constructor(
    private readonly link: NatsLink,
    private readonly stream: string,
    private readonly subject: string,
    /** The replica this journal feeds. */
    readonly records: CaStore,
    private readonly log: Logger | undefined,
  ) {}

  /** Opens the journal (made if missing) and a replica caught up with it. */
  static async open(link: NatsLink, names: StoreNames, log?: Logger): Promise<NatsCaJournal> {
    const stream = `${names.prefix}_ca`;
    const subject = `${names.prefix}.ca`;
    try {
      await link.jsm.streams.info(stream);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await link.jsm.streams.add({
        name: stream,
        subjects: [subject],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.New,
        num_replicas: 1,
      }).catch((addError) => {
        if (!/already in use|exists/i.test(String(addError?.message))) throw addError;
      });
    }
    const journal = new NatsCaJournal(link, stream, subject, CaStore.replica(), log);
    journal.records.useJournal(journal);
    const consumer = await link.js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
    const messages = await consumer.consume();
    journal.#messages = messages;
    void (async () => {
      for await (const message of messages) journal.#apply(message.seq, message.data);
    })();
    await journal.settle();
    return journal;
  }

  #apply(seq: number, data: Uint8Array): void {
    if (seq <= this.applied) return;
    try {
      const entry = JSON.parse(decoder.decode(data));
      if (Array.isArray(entry?.ops)) this.records.apply(entry.ops as CaOp[]);
    } catch (error) {
      this.log?.log("error", "ca_journal_bad_entry", { seq, error: String(error) });
    }
    this.applied = seq;
    const ready = this.#waiters.filter((w) => w.seq <= seq);
    this.#waiters = this.#waiters.filter((w) => w.seq > seq);
    for (const waiter of ready) waiter.resolve();
  }

  async settle(): Promise<void> {
    const info = await this.link.jsm.streams.info(this.stream);
    await this.until(info.state.last_seq);
  }

  async append(ops: CaOp[], base: number): Promise<number> {
    const ack = await this.link.js.publish(this.subject, JSON.stringify({ ops }), {
      expect: { lastSequence: base, streamName: this.stream },
    });
    return ack.seq;
  }

  until(seq: number): Promise<void> {
    if (this.applied >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`the CA journal did not reach ${seq} in time`));
      }, JOURNAL_APPLY_TIMEOUT_MS);
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.push(waiter);
    });
  }

  isConflict(error: unknown): boolean {
    return isConflict(error);
  }

  /**
   * Seeds an empty journal with every row of `source` (a data directory's database). Returns
   * false, writing nothing, when another process seeded it first.
   */
  async seed(source: CaStore): Promise<boolean> {
    const ops = source.exportOps();
    for (let i = 0; i < ops.length; i += SEED_BATCH) {
      const batch = ops.slice(i, i + SEED_BATCH);
      if (i === 0) {
        // Only into an empty journal: whoever comes second finds it seeded.
        try {
          await this.until(await this.append(batch, 0));
        } catch (error) {
          if (isConflict(error)) return false;
          throw error;
        }
        continue;
      }
      for (;;) {
        await this.settle();
        try {
          await this.until(await this.append(batch, this.applied));
          break;
        } catch (error) {
          if (!isConflict(error)) throw error;
        }
      }
    }
    return true;
  }

  /** Stops following the journal. */
  async close(): Promise<void> {
    await this.#messages?.close().catch(() => {});
  }
}
