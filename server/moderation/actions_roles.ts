/**
 * Roles: op and deop (owners and administrators only), voice and devoice (operators and up).
 * A user holds one stored role per room, so making a voiced member an operator replaces the
 * voice, and deop leaves a plain member.
 *
 * @module
 */

import { acted, type Context, resolveTarget } from "./context.ts";
import { isRefusal } from "./input.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import { isOperator } from "./standing.ts";
import type { Decision, ModerationCommand } from "./types.ts";

type RoleCommand = Extract<
  ModerationCommand,
  { command: "op" | "deop" | "voice" | "devoice" }
>;

/** What each role command gives (null: takes away) and the role it takes away. */
const EFFECT = {
  op: { gives: "operator", takes: null },
  deop: { gives: null, takes: "operator" },
  voice: { gives: "voiced", takes: null },
  devoice: { gives: null, takes: "voiced" },
} as const;

/**
 * Gives or takes a role. Giving needs the target to be a member (roles are for people in the
 * room); taking does not, so an operator who left can still be deopped. The owner's ownership
 * is never given or taken here.
 */
export async function changeRole(context: Context, command: RoleCommand): Promise<Decision> {
  const { gives, takes } = EFFECT[command.command];
  const target = await resolveTarget(context, command.target, gives !== null);
  if (isRefusal(target)) return target;
  const { room, store } = context;
  const name = target.user;
  if (gives === "operator" && isOperator(target.standing)) {
    return refuse("no_change", `${name} already has operator rights in ${room.name}`);
  }
  if (gives === "voiced" && target.standing !== "member") {
    return refuse("no_change", `${name} can already speak in ${room.name}`);
  }
  // The stored role, not the standing: an administrator's standing hides the role they hold.
  if (takes !== null && (await store.moderation.roleOf(room.name, name)) !== takes) {
    return refuse(
      "no_change",
      `${name} is not ${takes === "operator" ? "an operator" : "voiced"} in ${room.name}`,
    );
  }
  await store.moderation.setRole(room.name, name, gives);
  return acted({
    action: command.command,
    room: room.name,
    actor: context.actor,
    ts: context.now,
    target: name,
  });
}
