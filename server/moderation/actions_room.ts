/**
 * Actions on the room itself: topic, modes, invites, and the list of bans.
 *
 * @module
 */

import { acted, answered, type Context } from "./context.ts";
import { applyModeChanges, checkTarget, checkTopic, isRefusal, parseModeChanges } from "./input.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import { isOperator } from "./standing.ts";
import { type Decision, MODE_LETTERS, type ModeLetter, type ModerationCommand } from "./types.ts";

type Of<C extends ModerationCommand["command"]> = Extract<ModerationCommand, { command: C }>;

/**
 * Shows the topic (any member), or sets it: any member while the room is `-t`, operators and up
 * while it is `+t`. Blank text clears it; setting the topic it already has is no change.
 */
export async function topic(context: Context, command: Of<"topic">): Promise<Decision> {
  const { room, store } = context;
  if (command.text === undefined) {
    return answered({ kind: "topic", room: room.name, topic: room.topic, modes: room.modes });
  }
  if (room.modes.includes("t") && !isOperator(context.standing)) {
    return refuse("topic_protected");
  }
  const text = checkTopic(command.text, context.limits.maxTopicLength);
  if (isRefusal(text)) return text;
  if (text === room.topic) return refuse("no_change", `The topic of ${room.name} is already that`);
  await store.rooms.setTopic(room.name, text);
  return acted({
    action: "topic",
    room: room.name,
    actor: context.actor,
    ts: context.now,
    topic: text,
  });
}

/**
 * Shows the modes (any member), or changes them (operators and up). Changes that are already
 * in force are dropped from the event; when none is left, it is no change.
 */
export async function mode(context: Context, command: Of<"mode">): Promise<Decision> {
  const { room, store } = context;
  if (command.changes === undefined) {
    return answered({ kind: "modes", room: room.name, modes: room.modes });
  }
  if (!isOperator(context.standing)) return refuse("not_operator");
  const changes = parseModeChanges(command.changes);
  if (isRefusal(changes)) return changes;
  const { modes, applied } = applyModeChanges(room.modes, changes);
  if (applied === "") {
    return refuse(
      "no_change",
      `The modes of ${room.name} are already ${room.modes ? "+" + room.modes : "none"}`,
    );
  }
  // Keeps letters the store holds that this module gives no meaning to (none today).
  const kept = [...room.modes].filter((letter) => !MODE_LETTERS.includes(letter as ModeLetter));
  const stored = await store.rooms.setModes(room.name, kept.join("") + modes);
  return acted({
    action: "mode",
    room: room.name,
    actor: context.actor,
    ts: context.now,
    modes: stored,
    changes: applied,
  });
}

/**
 * Invites a user who is not a member: they may join once, even while the room is `+i`, until
 * the invite is used or expires. Inviting again renews it. The invitee is notified.
 */
export async function invite(context: Context, command: Of<"invite">): Promise<Decision> {
  const user = checkTarget(command.target);
  if (isRefusal(user)) return user;
  const { room, store, now } = context;
  if (await store.members.isMember(room.name, user)) {
    return refuse("no_change", `${user} is already a member of ${room.name}`);
  }
  const until = now + context.limits.inviteLifetimeMs;
  await store.moderation.putListEntry(room.name, "invite", user, {
    by: context.actor,
    reason: "",
    at: now,
    until,
  });
  return acted(
    { action: "invite", room: room.name, actor: context.actor, ts: now, target: user, until },
    { notify: [user] },
  );
}

/** Lists the bans in force, in user name order, with who set them, why and until when. */
export async function banned(context: Context): Promise<Decision> {
  const { room, store, now } = context;
  const entries = await store.moderation.listEntries(room.name, "ban", now);
  return answered({
    kind: "banned",
    room: room.name,
    bans: entries.map(({ user, by, reason, at, until }) => ({ user, by, reason, at, until })),
  });
}
