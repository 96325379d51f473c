/**
 * What one moderation decision works with: the store, the limits, one reading of the clock, the
 * room as it is, and the actor's standing; plus the helpers every action shares (resolving a
 * target, building effects).
 *
 * @module
 */

import type { ChatStore, RoomRecord } from "../store/mod.ts";
import { checkTarget, isRefusal } from "./input.ts";
import type { ModerationLimits } from "../../protocol/moderation/limits.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import { mayActOn } from "./standing.ts";
import type { Decision, ModerationEvent, Refusal, Reply, Standing } from "./types.ts";

/** The state one decision is made against. */
export interface Context {
  readonly store: ChatStore;
  readonly limits: Readonly<ModerationLimits>;
  /** The clock, read once per decision so that every time in it agrees. */
  readonly now: number;
  readonly room: RoomRecord;
  readonly actor: string;
  readonly standing: Standing;
  /** Any user's standing in this room. */
  standingOf(user: string): Promise<Standing>;
}

/** A target that passed every check, with its standing. */
export interface Target {
  user: string;
  standing: Standing;
}

/**
 * Checks a command's target in order: a valid name, not the actor, outranked by the actor,
 * and (when `mustBeMember`) a member of the room.
 */
export async function resolveTarget(
  context: Context,
  target: unknown,
  mustBeMember: boolean,
): Promise<Target | Refusal> {
  const user = checkTarget(target);
  if (isRefusal(user)) return user;
  if (user === context.actor) return refuse("cannot_act_on_self");
  const standing = await context.standingOf(user);
  const outranked = mayActOn(context.standing, standing, user);
  if (outranked) return outranked;
  if (mustBeMember && !(await context.store.members.isMember(context.room.name, user))) {
    return refuse("no_such_member", `${user} is not a member of ${context.room.name}`);
  }
  return { user, standing };
}

/** The decision of an action: `event` to the room, answered to the actor. */
export function acted(
  event: ModerationEvent,
  extra: { remove?: string[]; notify?: string[] } = {},
): Decision {
  return {
    ok: true,
    effects: {
      remove: extra.remove ?? [],
      event,
      notify: extra.notify ?? [],
      reply: { kind: "done", event },
    },
  };
}

/** The decision of a query: only an answer to the actor. */
export function answered(reply: Reply): Decision {
  return { ok: true, effects: { remove: [], event: null, notify: [], reply } };
}

/** Omits an empty reason, so events carry `reason` only when one was given. */
export function withReason<T extends object>(event: T, reason: string): T & { reason?: string } {
  return reason === "" ? event : { ...event, reason };
}
