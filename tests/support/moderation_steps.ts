/**
 * Steps the moderation tests repeat with `openchat join --json` children: type a command and
 * wait for what it must cause (a refusal with its code, an event everyone sees), each wait
 * bounded and each looking only at what came after the command.
 *
 * @module
 */

import type { ClientEvent, ModerationNotice } from "../../client/events.ts";
import { assert, assertEquals } from "./assert.ts";
import type { JoinProcess } from "./join_process.ts";
import { WAIT_MS } from "./moderation_stage.ts";

type Event<T extends ClientEvent["type"]> = Extract<ClientEvent, { type: T }>;

/** Types `line` as `who` and returns the first `type` event after it that matches. */
export async function typed<T extends ClientEvent["type"]>(
  who: JoinProcess,
  line: string,
  type: T,
  where: (event: Event<T>) => boolean = () => true,
): Promise<Event<T>> {
  const from = who.events.length;
  await who.type(line);
  return await who.since(from, type, where, WAIT_MS);
}

/** Types `line` and asserts it is refused with `code` (and a message to show). */
export async function refused(who: JoinProcess, line: string, code: string): Promise<string> {
  const from = who.events.length;
  await who.type(line);
  const error = await who.since(from, "error", () => true, WAIT_MS);
  assertEquals(error.code, code, `${line}: ${error.message}`);
  assert(error.message.length > 0);
  return error.message;
}

/**
 * Types `line` as `actor` and waits until the actor and each of `everyone` saw the `action`
 * event it causes, matching `where`; returns the actor's view of it.
 */
export async function acted(
  actor: JoinProcess,
  line: string,
  action: ModerationNotice["action"],
  everyone: JoinProcess[],
  where: (event: ModerationNotice) => boolean = () => true,
): Promise<ModerationNotice> {
  const starts = new Map([actor, ...everyone].map((p) => [p, p.events.length]));
  await actor.type(line);
  const match = (event: ModerationNotice) => event.action === action && where(event);
  const seen = await Promise.all(
    [actor, ...everyone].map((p) => p.since(starts.get(p)!, "moderation", match, WAIT_MS)),
  );
  return seen[0]!;
}

/** Types a message as `who` and asserts the server refused it, naming `why`. */
export async function notDelivered(who: JoinProcess, text: string, why: string): Promise<void> {
  await who.type(text);
  const queued = await who.next("queued", (e) => e.text === text, WAIT_MS);
  const refusal = await who.next("undelivered", (e) => e.id === queued.id, WAIT_MS);
  assert(refusal.reason.includes(why), `${text}: ${refusal.reason}`);
}

/** `/who` as `who`: each member with its role and mute, as `name(role,muted)`, in name order. */
export async function roles(who: JoinProcess): Promise<string[]> {
  const answer = await typed(who, "/who", "who");
  return answer.members.map((m) => `${m.user}(${[m.role, ...(m.muted ? ["muted"] : [])]})`);
}
