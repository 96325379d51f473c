/**
 * Small helpers over {@linkcode RawClient} for the offline-delivery tests: log in and announce,
 * gather a `joined` answer split over frames, read a room's history or the device's inbox to the
 * end.
 *
 * @module
 */

import type { ServerMessage } from "../../protocol/messages.ts";
import { RawClient } from "./raw_client.ts";
import type { ServerFixture, TestIdentity } from "./server_fixture.ts";
import { toBase64Url } from "../../crypto/bytes.ts";

type Msg<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

/** Connects, authenticates and announces; returns the client and its welcome. */
export async function online(
  fx: Pick<ServerFixture, "port" | "caPem">,
  identity: TestIdentity,
  announce = `announce-of-${identity.name}-${identity.device}`,
): Promise<{ client: RawClient; welcome: Msg<"welcome"> }> {
  const client = await RawClient.connect(fx.port, fx.caPem);
  const welcome = await client.authenticate(fx.caPem, identity);
  await client.send({ type: "announce", payload: announce });
  return { client, welcome };
}

/** The whole `joined` answer for `room` (its frames merged; `frames` says how many). */
export async function joinedOf(
  client: RawClient,
  room: string,
): Promise<Msg<"joined"> & { frames: number }> {
  const first = await client.next("joined", (m) => m.room === room);
  const merged = { ...first, frames: 1 };
  let last = first;
  while (last.more) {
    last = await client.next("joined", (m) => m.room === room);
    merged.members = [...merged.members, ...last.members];
    merged.offline = [...merged.offline, ...last.offline];
    merged.frames += 1;
  }
  delete merged.more;
  return merged;
}

/** Sends `join` and returns the whole answer. */
export async function join(client: RawClient, room: string) {
  await client.send({ type: "join", room });
  return await joinedOf(client, room);
}

/** Asks for `room`'s history after `after` and gathers every frame until `done`. */
export async function historyOf(client: RawClient, room: string, after = 0) {
  await client.send({ type: "history", room, after });
  const frames: Msg<"history">[] = [];
  do frames.push(await client.next("history", (m) => m.room === room)); while (
    !frames.at(-1)!.done
  );
  return {
    frames,
    entries: frames.flatMap((frame) => frame.entries),
    sessions: frames.flatMap((frame) => frame.sessions),
    missed: frames.find((frame) => frame.missed !== undefined)?.missed,
  };
}

/** Asks for the inbox after `after` and gathers every frame until `done`. */
export async function inboxOf(client: RawClient, after = 0) {
  await client.send({ type: "inbox", after });
  const frames: Msg<"inbox">[] = [];
  do frames.push(await client.next("inbox")); while (!frames.at(-1)!.done);
  return {
    frames,
    items: frames.flatMap((frame) => frame.items),
    sessions: frames.flatMap((frame) => frame.sessions),
    dropped: frames[0]!.dropped,
  };
}

/** An identity's certificate as the server lists it (DER, b64u). */
export const certOf = (identity: TestIdentity): string => toBase64Url(identity.certDer, false);

/** Resolves after `ms`. */
export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a ping and waits for its pong: everything the server sent before it has arrived. */
export async function settle(client: RawClient): Promise<void> {
  await client.send({ type: "ping" });
  await client.next("pong");
}
