/**
 * What the moderation tests share: a real SQLite store in a temp dir, a clock the test moves by
 * hand, and a room with one user of every standing.
 *
 * `lobby`: alice owns it, carol is an operator, dave is voiced, bob and erin are members; root
 * and toor are server administrators (not members); frank is not a member.
 *
 * @module
 */

import { join } from "node:path";
import { type ChatStore, SqliteStore, STORE_FILE } from "../store/mod.ts";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import type { ModerationLimits } from "../../protocol/moderation/limits.ts";
import { ModerationPolicy } from "./policy.ts";
import type { Decision, ModerationCommand, Refusal, Verdict } from "./types.ts";

/** The tests' starting time. */
export const T0 = Date.UTC(2025, 0, 1);

/** The server administrators of every fixture. */
export const ADMINS = ["root", "toor"];

/** A store, a policy over it, the hand-moved clock, and a way to restart both. */
export interface Fixture {
  store: ChatStore;
  policy: ModerationPolicy;
  /** The clock the policy reads; set `now` to move time. */
  clock: { now: number };
  /** The store's file, for a second instance (another process or server). */
  path: string;
  /** Closes the store and opens the file again with a new policy, as a server restart does. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Opens a fresh store with `lobby` populated as described in the module doc. */
export async function fixture(
  options: { limits?: Partial<ModerationLimits>; motd?: string | null } = {},
): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-moderation-" });
  const path = join(dir, STORE_FILE);
  const clock = { now: T0 };
  const make = (store: ChatStore) =>
    new ModerationPolicy({ store, admins: ADMINS, clock: () => clock.now, ...options });
  const store = await SqliteStore.open(path);
  const f: Fixture = {
    path,
    store,
    policy: make(store),
    clock,
    async restart() {
      await f.store.close();
      f.store = await SqliteStore.open(path);
      f.policy = make(f.store);
    },
    async dispose() {
      await f.store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
  assert(await f.policy.onCreate("lobby", "alice"));
  for (const user of ["alice", "bob", "carol", "dave", "erin"]) {
    await store.members.join("lobby", user, T0);
  }
  await store.moderation.setRole("lobby", "carol", "operator");
  await store.moderation.setRole("lobby", "dave", "voiced");
  return f;
}

/** Runs `fn` with a fresh fixture and disposes of it. */
export function withFixture(
  fn: (f: Fixture) => Promise<void>,
  options?: Parameters<typeof fixture>[0],
): () => Promise<void> {
  return async () => {
    const f = await fixture(options);
    try {
      await fn(f);
    } finally {
      await f.dispose();
    }
  };
}

/**
 * Everything moderation can change in `room`, read from the store: the room record, members
 * with roles, and every list (entries in force at `now` and lifted ones alike: a refusal must
 * not touch either).
 */
export async function snapshot(store: ChatStore, room = "lobby"): Promise<unknown> {
  const lists: Record<string, unknown> = {};
  for (const kind of ["ban", "mute", "invite"] as const) {
    lists[kind] = await store.moderation.listEntries(room, kind, 0);
  }
  return {
    room: await store.rooms.get(room),
    members: await store.members.membersOf(room),
    lists,
  };
}

/** Asserts `decision` was accepted and returns its effects. */
export function accepted(decision: Decision | Verdict, what = "") {
  if (!decision.ok) {
    throw new Error(`${what} refused: ${decision.code}: ${decision.message}`.trim());
  }
  return "effects" in decision ? decision.effects : undefined;
}

/** Asserts `decision` was refused with `code` and returns the refusal. */
export function refused(decision: Decision | Verdict, code: string, what = ""): Refusal {
  assert(!decision.ok, `${what} expected ${code}, was accepted`);
  assertEquals(decision.code, code, `${what}: ${decision.message}`);
  assert(decision.message.length > 0);
  return decision;
}

/** Applies `command` and asserts it was refused with `code` and that the store did not change. */
export async function refusedUnchanged(
  f: Fixture,
  actor: string,
  command: ModerationCommand,
  code: string,
  room = "lobby",
): Promise<Refusal> {
  const before = await snapshot(f.store);
  const refusal = refused(
    await f.policy.apply(actor, room, command),
    code,
    `${actor} ${JSON.stringify(command)}`,
  );
  assertEquals(await snapshot(f.store), before, `${JSON.stringify(command)} changed the store`);
  return refusal;
}
