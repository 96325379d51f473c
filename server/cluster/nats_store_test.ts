/**
 * The store conformance suite against a real `nats-server` (started on a free loopback port,
 * with its own store directory, and removed at the end): every case on a fresh prefix.
 */

import { NatsServer } from "../../tests/support/nats_server.ts";
import { STORE_CASES } from "../store/store_suite.ts";
import type { ChatStore } from "../store/types.ts";
import { NatsLink } from "./nats_link.ts";
import { NatsStore } from "./nats_store.ts";

let prefixes = 0;

Deno.test({
  name: "nats store: the conformance suite",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await NatsServer.start();
    const link = await NatsLink.connect([server.url]);
    try {
      for (const c of STORE_CASES) {
        await t.step(c.name, async () => {
          const prefix = `t${++prefixes}`;
          const opened: NatsStore[] = [];
          const open = async () => {
            const store = await NatsStore.open(link, { ...c.options, prefix });
            opened.push(store);
            return store;
          };
          const store = await open();
          try {
            await c.fn(store, {
              store,
              openPeer: open as () => Promise<ChatStore>,
              atomicBatches: false,
              dispose: async () => {},
            });
          } finally {
            await store.destroy();
          }
        });
      }
    } finally {
      await link.close();
      await server.dispose();
    }
  },
});
