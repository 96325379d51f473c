/**
 * Who outranks whom. One rule decides every action on another user: the actor must stand
 * strictly above the target, except that server administrators may act on each other. So an
 * operator cannot act on another operator or on the owner, an owner cannot act on another owner,
 * and only an administrator can act on an owner or on another administrator.
 *
 * @module
 */

import type { Role } from "../store/mod.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import type { Refusal, Standing } from "./types.ts";

/**
 * Rank of each standing. A voice is a right to speak in a `+m` room, not authority, so a
 * voiced member ranks as a member.
 */
const RANK: Readonly<Record<Standing, number>> = {
  member: 0,
  voiced: 0,
  operator: 1,
  owner: 2,
  admin: 3,
};

/** A user's standing from their stored role and whether they are a server administrator. */
export function standingFrom(role: Role | null, isAdmin: boolean): Standing {
  return isAdmin ? "admin" : role ?? "member";
}

/** True for operators and above: they moderate, join `+i` rooms, speak in `+m` rooms. */
export function isOperator(standing: Standing): boolean {
  return RANK[standing] >= RANK.operator;
}

/** True for owners and administrators: they give and take the operator role. */
export function isOwner(standing: Standing): boolean {
  return RANK[standing] >= RANK.owner;
}

/** True for anyone who may speak in a moderated (`+m`) room: voiced members and up. */
export function speaksWhenModerated(standing: Standing): boolean {
  return standing !== "member";
}

/**
 * Null when a user standing at `actor` may act on one standing at `target`, else the refusal
 * naming why (`target` is the target's name, for the message).
 */
export function mayActOn(actor: Standing, target: Standing, name: string): Refusal | null {
  if (RANK[actor] > RANK[target] || (actor === "admin" && target === "admin")) return null;
  switch (target) {
    case "admin":
      return refuse("cannot_act_on_admin", `${name} is a server administrator`);
    case "owner":
      return refuse("cannot_act_on_owner", `${name} owns this room`);
    case "operator":
      return refuse("cannot_act_on_operator", `${name} is an operator, as you are`);
    default:
      // Only an actor without authority fails against a member; callers check that first.
      return refuse("not_operator");
  }
}
