/**
 * Moderation on the live server: the bridge between `moderate` frames and the socket-free
 * {@linkcode ModerationPolicy}. Each command is decided in its room's turn (the same turn that
 * numbers the room's log and changes its memberships, `offline.ts`), so a kick never crosses a
 * message being relayed; the delivery applies its effects in that turn (the event to every
 * session in the room, and to the actor, the invitee and the removed user wherever they are;
 * removed users leave the live room; in a cluster, on every server in the room's order), and
 * then the actor gets its answer. Checks at join and at speak are
 * the policy's too, asked by `offline.ts` through its `RoomGate`.
 *
 * @module
 */

import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/framing.ts";
import type { ModerateRequest, ServerMessage, WhoRole } from "../protocol/messages.ts";
import { MAX_LISTED_BANS } from "../protocol/moderation/limits.ts";
import type { Logger } from "./log.ts";
import type { BanInfo, Effects, ModerationCommand, ModerationPolicy } from "./moderation/mod.ts";
import type { OfflineDelivery } from "./offline.ts";
import { refuse } from "./refuse.ts";
import type { RoomRegistry } from "./rooms.ts";
import type { Session } from "./session.ts";

/** Room for a `moderated` frame's own fields beside its list of bans. */
const BANNED_OVERHEAD_BYTES = 256;

/** What the moderator needs from the server. */
export interface ModeratorContext {
  readonly rooms: RoomRegistry;
  /** The current sessions of `user`, one per device online. */
  sessionsOf(user: string): Session[];
}

/**
 * A request's arguments as the policy's command. Nothing is checked here: the policy judges
 * every field (an unknown command, a missing target, a bad duration) and refuses with a code.
 */
function commandOf(request: ModerateRequest): ModerationCommand {
  const { command, target, reason, durationMs, text, changes } = request;
  const args = { target, reason, durationMs, text, changes };
  const given = Object.entries(args).filter(([, value]) => value !== undefined);
  return { command, ...Object.fromEntries(given) } as ModerationCommand;
}

/**
 * `/banned` as `moderated` frames that each fit a frame and {@linkcode MAX_LISTED_BANS}; all
 * but the last say `more: true`. An empty list is one frame.
 */
export function bannedFrames(id: string, room: string, bans: BanInfo[]): ServerMessage[] {
  const budget = MAX_FRAME_BYTES - FRAME_HEADER_BYTES - BANNED_OVERHEAD_BYTES;
  const encoder = new TextEncoder();
  const frames: ServerMessage[] = [];
  let batch: BanInfo[] = [];
  let bytes = 0;
  for (const ban of bans) {
    // Reasons may be any text: count UTF-8 bytes, not characters.
    const size = encoder.encode(JSON.stringify(ban)).length + 1;
    if (batch.length > 0 && (bytes + size > budget || batch.length >= MAX_LISTED_BANS)) {
      frames.push({ type: "moderated", id, kind: "banned", room, bans: batch, more: true });
      batch = [];
      bytes = 0;
    }
    batch.push(ban);
    bytes += size;
  }
  frames.push({ type: "moderated", id, kind: "banned", room, bans: batch });
  return frames;
}

/** The server's moderation: commands, their live effects, and the roles `who` shows. */
export class Moderator {
  constructor(
    private readonly context: ModeratorContext,
    /** The policy over the server's store. */
    readonly policy: ModerationPolicy,
    private readonly offline: OfflineDelivery,
    private readonly log: Logger,
  ) {}

  /** Sends the message of the day, if there is one (right after `welcome`). */
  greet(session: Session): void {
    const text = this.policy.motd;
    if (text !== null) session.send({ type: "motd", text });
  }

  /**
   * `moderate`: decides `request` from `session`'s user in its room's turn and applies what
   * follows; a refusal is a non-fatal `error` naming `id`, and changed nothing.
   *
   * @throws {StoreError} when the store fails (the router answers `store_unavailable`).
   */
  async handle(session: Session, request: ModerateRequest): Promise<void> {
    const command = commandOf(request);
    if (command.command === "motd") {
      session.send({ type: "motd", id: request.id, text: this.policy.motd });
      return;
    }
    const room = request.room ?? "";
    const decision = await this.offline.moderate(session, room, async () => {
      const decision = await this.policy.apply(session.user, room, command);
      const event = decision.ok ? decision.effects.event : null;
      if (!decision.ok || !event) return { outcome: decision };
      const { remove, notify } = decision.effects;
      return { outcome: decision, live: { event, remove, notify } };
    });
    if (!decision) return; // the session ended before its turn
    if (!decision.ok) {
      return refuse(session, decision.code, { id: request.id }, decision.message);
    }
    const event = decision.effects.event;
    if (event) {
      this.log.log("info", "moderation", {
        room: event.room,
        actor: event.actor,
        action: event.action,
        ...("target" in event ? { target: event.target } : {}),
      });
    }
    this.#reply(session, request.id, decision.effects);
  }

  /** Every session handling `request` from `session` may send a frame to (back-pressure). */
  recipients(session: Session, request: ModerateRequest): Session[] {
    const targets = new Set<Session>([session]);
    const room = request.room === undefined ? undefined : this.context.rooms.get(request.room);
    for (const member of room?.members.values() ?? []) targets.add(member);
    if (request.target !== undefined) {
      for (const other of this.context.sessionsOf(request.target)) targets.add(other);
    }
    return [...targets];
  }

  /**
   * The role of each of `users` in `room` (and whether each is muted), for a `who` answer;
   * undefined when the store keeps no such room.
   */
  async roles(room: string, users: string[]): Promise<WhoRole[] | undefined> {
    const who = await this.policy.who(room);
    if (!who.ok) return undefined;
    const members = new Map(who.members.map((member) => [member.user, member]));
    return users.map((user) => {
      const member = members.get(user);
      return {
        user,
        role: member?.role ?? "member",
        ...(member?.muted ? { muted: true as const } : {}),
      };
    });
  }

  /** The answer to the actor, after the event. */
  #reply(session: Session, id: string, effects: Effects): void {
    const reply = effects.reply;
    switch (reply.kind) {
      case "done":
        return session.send({ type: "moderated", id, kind: "done", event: reply.event });
      case "banned":
        for (const frame of bannedFrames(id, reply.room, reply.bans)) session.send(frame);
        return;
      case "topic":
        return session.send({ type: "moderated", id, ...reply });
      case "modes":
        return session.send({ type: "moderated", id, ...reply });
      case "motd":
        return session.send({ type: "motd", id, text: reply.text });
    }
  }
}
