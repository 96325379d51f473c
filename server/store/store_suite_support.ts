/**
 * Small builders the suite's cases share: a fixed clock, well-formed entries and items, and a
 * room with members.
 *
 * @module
 */

import type { ChatStore, NewInboxItem, NewLogEntry } from "./types.ts";

/** The suite's clock: a fixed moment, so that every time is written relative to it. */
export const T0 = Date.UTC(2025, 0, 1);

/** A well-formed room message from alice/laptop at `ts`, with `overrides`. */
export function logEntry(payload = "c2VhbGVk", overrides: Partial<NewLogEntry> = {}): NewLogEntry {
  return {
    senderUser: "alice",
    senderDevice: "laptop",
    senderSession: "c2Vzc2lvbi1hbGljZS0x",
    version: 1,
    ts: T0,
    payload,
    ...overrides,
  };
}

/** A well-formed inbox item from bob/phone at `ts`, with `overrides`. */
export function inboxItem(
  payload = "a2V5cw",
  overrides: Partial<NewInboxItem> = {},
): NewInboxItem {
  return {
    kind: "keys",
    fromUser: "bob",
    fromDevice: "phone",
    fromSession: "c2Vzc2lvbi1ib2ItMQ",
    room: "lobby",
    ts: T0,
    payload,
    ...overrides,
  };
}

/** Creates `room` (owned by its first member) and joins every user in `users`. */
export async function roomWith(store: ChatStore, room: string, ...users: string[]): Promise<void> {
  await store.rooms.create(room, users[0] ?? "alice", T0);
  for (const user of users) await store.members.join(room, user, T0);
}

/** Appends `count` messages to `room`, payloads `m1`, `m2`...; returns their numbers. */
export async function appendMany(
  store: ChatStore,
  room: string,
  count: number,
  ts = T0,
): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 1; i <= count; i++) {
    seqs.push(await store.log.append(room, logEntry(`m${i}`, { ts })));
  }
  return seqs;
}

/** The sequence numbers of a list of entries or items. */
export const seqsOf = (rows: { seq: number }[]): number[] => rows.map((row) => row.seq);

/** 1, 2, ... n. */
export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
