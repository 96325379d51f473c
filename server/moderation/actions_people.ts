/**
 * Actions on people: kick, ban, unban, mute, unmute. Each checks its input and target first and
 * writes only once everything has passed, so a refusal changes nothing.
 *
 * @module
 */

import { acted, type Context, resolveTarget, withReason } from "./context.ts";
import { checkDuration, checkReason, isRefusal } from "./input.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import type { Decision, ModerationCommand } from "./types.ts";

type Of<C extends ModerationCommand["command"]> = Extract<ModerationCommand, { command: C }>;

/**
 * Kick: the target (a member) stops being one, every device of theirs leaves; an invite they
 * still hold is dropped too, so a kick from a `+i` room keeps them out. They may join again
 * (unless `+i`): a kick is not a ban.
 */
export async function kick(context: Context, command: Of<"kick">): Promise<Decision> {
  const reason = checkReason(command.reason, context.limits.maxReasonLength);
  if (isRefusal(reason)) return reason;
  const target = await resolveTarget(context, command.target, true);
  if (isRefusal(target)) return target;
  const { room, store } = context;
  await store.moderation.removeListEntry(room.name, "invite", target.user);
  // Ends the membership and closes every device's interval in one step: nothing sent from here
  // on is readable by any of their devices, even before the server detaches their sessions.
  await store.members.leave(room.name, target.user);
  return acted(
    withReason(
      {
        action: "kick",
        room: room.name,
        actor: context.actor,
        ts: context.now,
        target: target.user,
      } as const,
      reason,
    ),
    { remove: [target.user] },
  );
}

/**
 * Ban: the target (member or not: a ban is how a moderator keeps someone out) is put on the
 * ban list until `now + durationMs` (for ever without one), loses any invite, and stops being a
 * member. Banning again replaces the duration and reason.
 */
export async function ban(context: Context, command: Of<"ban">): Promise<Decision> {
  const duration = checkDuration(command.durationMs);
  if (isRefusal(duration)) return duration;
  const reason = checkReason(command.reason, context.limits.maxReasonLength);
  if (isRefusal(reason)) return reason;
  const target = await resolveTarget(context, command.target, false);
  if (isRefusal(target)) return target;
  const { room, store, now } = context;
  const until = duration === null ? null : now + duration;
  await store.moderation.putListEntry(room.name, "ban", target.user, {
    by: context.actor,
    reason,
    at: now,
    until,
  });
  await store.moderation.removeListEntry(room.name, "invite", target.user);
  await store.members.leave(room.name, target.user);
  return acted(
    withReason(
      {
        action: "ban",
        room: room.name,
        actor: context.actor,
        ts: now,
        target: target.user,
        until,
      } as const,
      reason,
    ),
    // Named even when they were not a member: the server detaches any live session it finds.
    { remove: [target.user] },
  );
}

/**
 * Mute: the target (a member) may not speak until `now + durationMs` (for ever without one).
 * Muting again replaces the duration.
 */
export async function mute(context: Context, command: Of<"mute">): Promise<Decision> {
  const duration = checkDuration(command.durationMs);
  if (isRefusal(duration)) return duration;
  const target = await resolveTarget(context, command.target, true);
  if (isRefusal(target)) return target;
  const { room, store, now } = context;
  const until = duration === null ? null : now + duration;
  await store.moderation.putListEntry(room.name, "mute", target.user, {
    by: context.actor,
    reason: "",
    at: now,
    until,
  });
  return acted({
    action: "mute",
    room: room.name,
    actor: context.actor,
    ts: now,
    target: target.user,
    until,
  });
}

/** Unban or unmute: lifts an entry in force; one that has lifted by itself is no change. */
export async function lift(
  context: Context,
  command: Of<"unban"> | Of<"unmute">,
): Promise<Decision> {
  const target = await resolveTarget(context, command.target, false);
  if (isRefusal(target)) return target;
  const { room, store, now } = context;
  const kind = command.command === "unban" ? "ban" : "mute";
  if (!(await store.moderation.getListEntry(room.name, kind, target.user, now))) {
    const state = kind === "ban" ? "banned from" : "muted in";
    return refuse("no_change", `${target.user} is not ${state} ${room.name}`);
  }
  await store.moderation.removeListEntry(room.name, kind, target.user);
  return acted({
    action: command.command,
    room: room.name,
    actor: context.actor,
    ts: now,
    target: target.user,
  });
}
