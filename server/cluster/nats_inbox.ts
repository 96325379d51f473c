/**
 * Device inboxes in JetStream: one stream, one subject per device, each item numbered 1, 2,
 * 3... by its writer, which publishes only if the subject's last message is still the one it
 * read (expected last subject sequence), so numbers are never taken twice nor stored out of
 * order. The stream keeps at most the inbox limit per subject (the oldest go); an
 * acknowledgement purges what the device read. A small record per device (`inbox.USER.DEVICE`
 * in the bucket) keeps how far it acknowledged and the last number when nothing is stored, so
 * numbers are never reused.
 *
 * @module
 */

import type { StoredMsg } from "@nats-io/jetstream";
import { DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsLink } from "./nats_link.ts";
import type { StoreNames } from "./nats_names.ts";
import { casUpdate, getJson } from "./nats_kv.ts";
import { isConflict, isNotFound, MAX_CAS_ATTEMPTS } from "./nats_errors.ts";
import { InvalidInputError, StoreUnavailableError } from "../store/errors.ts";
import type { InboxItem, InboxPage, InboxStore, NewInboxItem } from "../store/types.ts";
import { checkDevice, checkInboxItem, checkLimit, checkSeq } from "../store/validate.ts";

/** What the bucket keeps per device. */
interface Marks {
  /** Acknowledged through this number. */
  acked: number;
  /** The last number assigned, kept when retention or a forget emptied the inbox. */
  floor: number;
}

const decoder = new TextDecoder();

function parseItem(message: StoredMsg): InboxItem | undefined {
  try {
    const item = JSON.parse(decoder.decode(message.data));
    return Number.isSafeInteger(item?.seq) ? item as InboxItem : undefined;
  } catch {
    return undefined;
  }
}

/** The inbox part of the NATS store. */
export class NatsInbox implements InboxStore {
  #ready = false;

  constructor(
    private readonly link: NatsLink,
    private readonly kv: KV,
    private readonly names: StoreNames,
    private readonly maxItems: number,
  ) {}

  /** Makes the inbox stream if needed. */
  async ensureStream(): Promise<void> {
    if (this.#ready) return;
    const name = this.names.inboxStream;
    try {
      await this.link.jsm.streams.info(name);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.link.jsm.streams.add({
          name,
          subjects: [`${this.names.prefix}.inbox.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          discard: DiscardPolicy.Old,
          max_msgs_per_subject: this.maxItems,
          allow_direct: true,
          num_replicas: 1,
        });
      } catch (addError) {
        if (!/already in use|exists/i.test(String((addError as Error)?.message))) throw addError;
      }
    }
    this.#ready = true;
  }

  #subject(device: string): string {
    const { user, label } = checkDevice(device);
    return this.names.inboxSubject(user, label);
  }

  async #marks(device: string): Promise<Marks> {
    return (await getJson<Marks>(this.kv, `inbox.${device.replace("/", ".")}`)).value ??
      { acked: 0, floor: 0 };
  }

  async #raise(device: string, field: keyof Marks, value: number): Promise<void> {
    await casUpdate<Marks, void>(this.kv, `inbox.${device.replace("/", ".")}`, (current) => {
      const marks = current ?? { acked: 0, floor: 0 };
      if (marks[field] >= value) return { next: null, result: undefined };
      return { next: { ...marks, [field]: value }, result: undefined };
    });
  }

  async #get(query: { seq?: number; next_by_subj?: string; last_by_subj?: string }) {
    await this.ensureStream();
    try {
      return await this.link.jsm.direct.getMessage(this.names.inboxStream, query as never);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** The device's stored items: the first and last, with their stream sequences. */
  async #ends(subject: string) {
    const last = await this.#get({ last_by_subj: subject });
    if (!last) return undefined;
    const first = await this.#get({ seq: 1, next_by_subj: subject });
    return { first: first ?? last, last };
  }

  async append(device: string, item: NewInboxItem): Promise<number> {
    const subject = this.#subject(device);
    const i = checkInboxItem(item);
    await this.ensureStream();
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const last = await this.#get({ last_by_subj: subject });
      let seq: number;
      if (last) seq = (parseItem(last)?.seq ?? 0) + 1;
      else {
        const marks = await this.#marks(device);
        seq = Math.max(marks.acked, marks.floor) + 1;
      }
      const stored: InboxItem = { seq, ...i, room: i.room };
      try {
        await this.link.js.publish(subject, JSON.stringify(stored), {
          expect: { lastSubjectSequence: last?.seq ?? 0 },
        });
        return seq;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
    throw new StoreUnavailableError(`too many concurrent writers of ${device}'s inbox`);
  }

  async read(device: string, afterSeq: number, limit: number): Promise<InboxPage> {
    const subject = this.#subject(device);
    checkSeq("afterSeq", afterSeq);
    let left = checkLimit(limit);
    const marks = await this.#marks(device);
    const ends = await this.#ends(subject);
    const seen = Math.max(afterSeq, marks.acked);
    if (!ends) {
      return { items: [], dropped: Math.max(0, Math.max(marks.acked, marks.floor) - seen) };
    }
    const first = parseItem(ends.first)?.seq ?? 1;
    const dropped = Math.max(0, first - 1 - seen);
    const items: InboxItem[] = [];
    let message: StoredMsg | null = ends.first;
    while (message && left > 0) {
      const item = parseItem(message);
      if (item && item.seq > afterSeq) {
        items.push(item);
        left -= 1;
      }
      if (message.seq >= ends.last.seq) break;
      message = await this.#get({ seq: message.seq + 1, next_by_subj: subject });
    }
    return { items, dropped };
  }

  async ack(device: string, uptoSeq: number): Promise<number> {
    const subject = this.#subject(device);
    checkSeq("uptoSeq", uptoSeq);
    const marks = await this.#marks(device);
    const ends = await this.#ends(subject);
    const last = ends ? parseItem(ends.last)?.seq ?? 0 : Math.max(marks.acked, marks.floor);
    if (uptoSeq > last) {
      // Acknowledging a number not yet assigned would swallow the next item unread.
      throw new InvalidInputError(
        `uptoSeq ${uptoSeq} is past the last item of ${device} (${last})`,
      );
    }
    if (uptoSeq <= marks.acked || !ends) {
      if (uptoSeq > marks.acked) await this.#raise(device, "acked", uptoSeq);
      return 0;
    }
    // The mark first: a writer that finds the subject empty numbers on from it.
    await this.#raise(device, "acked", uptoSeq);
    let bound = ends.last.seq + 1;
    let message: StoredMsg | null = ends.first;
    while (message) {
      const item = parseItem(message);
      if (item && item.seq > uptoSeq) {
        bound = message.seq;
        break;
      }
      if (message.seq >= ends.last.seq) break;
      message = await this.#get({ seq: message.seq + 1, next_by_subj: subject });
    }
    const result = await this.link.jsm.streams.purge(this.names.inboxStream, {
      filter: subject,
      seq: bound,
    });
    return result.purged;
  }

  /** Deletes everything in `device`'s inbox; the numbering goes on after it. */
  async forget(device: string): Promise<void> {
    const subject = this.#subject(device);
    const ends = await this.#ends(subject);
    if (!ends) return;
    await this.#raise(device, "acked", parseItem(ends.last)?.seq ?? 0);
    await this.link.jsm.streams.purge(this.names.inboxStream, {
      filter: subject,
      seq: ends.last.seq + 1,
    });
  }

  /** Drops items older than `cutoff` (strictly), oldest first; returns how many went. */
  async prune(cutoff: number): Promise<number> {
    await this.ensureStream();
    const info = await this.link.jsm.streams.info(this.names.inboxStream, {
      subjects_filter: `${this.names.prefix}.inbox.>`,
    });
    let removed = 0;
    const base = `${this.names.prefix}.inbox.`;
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const device = subject.slice(base.length).replace(".", "/");
      const ends = await this.#ends(subject);
      if (!ends) continue;
      let message: StoredMsg | null = ends.first;
      let expired = 0;
      let keep: number | undefined;
      while (message) {
        const item = parseItem(message);
        if (item && item.ts >= cutoff) {
          keep = message.seq;
          break;
        }
        expired += 1;
        if (message.seq >= ends.last.seq) break;
        message = await this.#get({ seq: message.seq + 1, next_by_subj: subject });
      }
      if (expired === 0) continue;
      if (keep === undefined) await this.#raise(device, "floor", parseItem(ends.last)?.seq ?? 0);
      await this.link.jsm.streams.purge(this.names.inboxStream, {
        filter: subject,
        seq: keep ?? ends.last.seq + 1,
      });
      removed += expired;
    }
    return removed;
  }
}
