/**
 * The local store (`local_store.ts`) seen through the two small interfaces the end-to-end parts
 * use: the catch-up cursors (`catch_up.ts`) and the device's secrets (pre-keys,
 * `e2e/device_prekeys.ts`). The store seals secrets at rest; the cursors are plain sequence
 * numbers.
 *
 * @module
 */

import type { Cursors } from "./catch_up.ts";
import type { SecretStore } from "./e2e/device_prekeys.ts";
import type { LocalStore } from "./local_store.ts";

/** The store's catch-up cursors. Setting one waits until what was added before is on disk. */
export function storeCursors(store: LocalStore): Cursors {
  return {
    lastSeq: (room) => Promise.resolve(store.lastSeq(room)),
    setLastSeq: (room, seq) =>
      seq > store.lastSeq(room) ? store.setLastSeq(room, seq) : Promise.resolve(),
    inboxCursor: () => Promise.resolve(store.inboxCursor()),
    setInboxCursor: (seq) =>
      seq > store.inboxCursor() ? store.setInboxCursor(seq) : Promise.resolve(),
  };
}

/** The store's sealed secrets. */
export function storeSecrets(store: LocalStore): SecretStore {
  return {
    putSecret: (name, bytes) => store.putSecret(name, bytes),
    getSecret: (name) => store.getSecret(name),
    deleteSecret: async (name) => {
      await store.deleteSecret(name);
    },
    secretNames: (prefix) => Promise.resolve(store.secretNames(prefix)),
  };
}
