/**
 * The conformance suite every {@linkcode ChatStore} implementation passes: the SQLite one
 * (`sqlite_store_test.ts`) and the NATS JetStream one to come. It takes a factory of fresh,
 * empty stores and registers one `Deno.test` per case.
 *
 * @example
 * ```ts ignore
 * import { storeSuite } from "./store_suite.ts";
 * storeSuite("nats", async (options) => {
 *   const store = await NatsStore.open(url, freshPrefix(), options);
 *   return { store, openPeer: () => NatsStore.open(url, samePrefix, options), atomicBatches: false, dispose: ... };
 * });
 * ```
 *
 * @module
 */

import type { ChatStore, StoreOptions } from "./types.ts";
import { ROOM_CASES } from "./store_suite_rooms.ts";
import { LOG_CASES } from "./store_suite_log.ts";
import { INBOX_CASES } from "./store_suite_inbox.ts";
import { SESSION_CASES } from "./store_suite_sessions.ts";

/** A fresh, empty store and a way to reach the same data through another instance. */
export interface StoreFixture {
  store: ChatStore;
  /**
   * Opens another instance on the same data, as another process or server would (SQLite: the
   * same file; NATS: the same streams and buckets). The fixture closes it in `dispose`.
   */
  openPeer(): Promise<ChatStore>;
  /**
   * Whether `log.appendMany` is one transaction even with other writers (SQLite), so that a
   * batch's numbers are consecutive; a NATS store appends a batch one entry at a time.
   */
  atomicBatches: boolean;
  /** Closes every instance and deletes the data. */
  dispose(): Promise<void>;
}

/** Makes a fresh, empty store with `options` (the engine's defaults where unset). */
export type StoreFactory = (options?: StoreOptions) => Promise<StoreFixture>;

/** One case of the suite. */
export interface StoreCase {
  name: string;
  /** Options the store is opened with (small bounds keep edge tests quick). */
  options?: StoreOptions;
  fn(store: ChatStore, fixture: StoreFixture): Promise<void>;
}

/** Every case, for an engine that wants to run them another way. */
export const STORE_CASES: readonly StoreCase[] = [
  ...ROOM_CASES,
  ...LOG_CASES,
  ...INBOX_CASES,
  ...SESSION_CASES,
];

/** Registers every case of the suite as a `Deno.test` named `"<engine>: <case>"`. */
export function storeSuite(engine: string, factory: StoreFactory): void {
  for (const c of STORE_CASES) {
    Deno.test(`${engine}: ${c.name}`, async () => {
      const fixture = await factory(c.options);
      try {
        await c.fn(fixture.store, fixture);
      } finally {
        await fixture.dispose();
      }
    });
  }
}
