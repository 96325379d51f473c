/**
 * The moderation policy: who may do what in a room, and what follows. It knows nothing of
 * sockets: the server hands it a user, a room and a decoded command, and applies the
 * `Effects` (`types.ts`) it returns (detach sessions, send the event). Everything it decides is
 * persisted in the {@linkcode ChatStore} before it answers, and every check reads the store
 * against the clock, so a timed ban or mute lifts itself at its time, survives restarts, and
 * another process's change is seen at the next check.
 *
 * @example
 * ```ts
 * import { join } from "node:path";
 * import { SqliteStore, STORE_FILE } from "../store/mod.ts";
 * import { ModerationPolicy } from "./policy.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = await SqliteStore.open(join(dir, STORE_FILE));
 * const policy = new ModerationPolicy({ store, admins: ["root"] });
 * await policy.onCreate("lobby", "alice");
 * await store.members.join("lobby", "alice", Date.now());
 * await store.members.join("lobby", "bob", Date.now());
 * const decision = await policy.apply("alice", "lobby", { command: "kick", target: "bob" });
 * if (decision.ok) console.log(decision.effects.remove); // ["bob"]
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { formatDuration } from "../../protocol/duration.ts";
import { isValidRoomName, isValidUserName } from "../../protocol/names.ts";
import {
  type ChatStore,
  LimitError,
  MAX_REASON_CHARS,
  MAX_TOPIC_CHARS,
  RoomExistsError,
  UnknownRoomError,
} from "../store/mod.ts";
import { ban, kick, lift, mute } from "./actions_people.ts";
import { changeRole } from "./actions_roles.ts";
import { banned, invite, mode, topic } from "./actions_room.ts";
import { answered, type Context } from "./context.ts";
import { show } from "./input.ts";
import {
  DEFAULT_MODERATION_LIMITS,
  type ModerationLimits,
} from "../../protocol/moderation/limits.ts";
import { refuse } from "../../protocol/moderation/refusals.ts";
import { isOperator, isOwner, speaksWhenModerated, standingFrom } from "./standing.ts";
import type {
  CommandName,
  Decision,
  ModerationCommand,
  Refusal,
  Standing,
  Verdict,
  WhoEntry,
} from "./types.ts";

/** How a moderation policy is made. */
export interface ModerationPolicyOptions {
  /** Where roles, lists, topics and modes live. */
  store: ChatStore;
  /** User names of the server's administrators: they act as owners in every room. */
  admins?: Iterable<string>;
  /** Milliseconds since the epoch; `Date.now` unless a test moves time by hand. */
  clock?: () => number;
  /** The server's message of the day (see `motd.ts`), or null (or `""`) for none. */
  motd?: string | null;
  /** Tighter bounds than the defaults; never above the store's own. */
  limits?: Partial<ModerationLimits>;
}

/** Who may give each command: anyone, any member, operators and up, owners and up. */
const NEEDS: Readonly<Record<CommandName, "anyone" | "member" | "operator" | "owner">> = {
  kick: "operator",
  ban: "operator",
  unban: "operator",
  banned: "operator",
  mute: "operator",
  unmute: "operator",
  op: "owner",
  deop: "owner",
  voice: "operator",
  devoice: "operator",
  // Showing is for members; setting is checked by the action (+t, operators for modes).
  topic: "member",
  mode: "member",
  invite: "operator",
  motd: "anyone",
};

/** "for 2h (until 2025-01-01T02:00:00.000Z)" or "for ever". */
function lasting(until: number | null, now: number): string {
  return until === null
    ? "for ever"
    : `for ${formatDuration(until - now)} (until ${new Date(until).toISOString()})`;
}

/** Roles, bans, mutes, invites, topics and modes of every room, decided and persisted. */
export class ModerationPolicy {
  /** The bounds in force. */
  readonly limits: Readonly<ModerationLimits>;
  readonly #store: ChatStore;
  readonly #clock: () => number;
  #admins: ReadonlySet<string> = new Set();
  #motd: string | null;

  /**
   * @throws {TypeError} when an administrator's name is not a valid user name.
   * @throws {RangeError} when a limit is not a positive whole number or passes the store's.
   */
  constructor(options: ModerationPolicyOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? Date.now;
    this.#motd = options.motd || null;
    const limits = { ...DEFAULT_MODERATION_LIMITS, ...options.limits };
    const ceilings: Record<keyof ModerationLimits, number> = {
      maxReasonLength: MAX_REASON_CHARS,
      maxTopicLength: MAX_TOPIC_CHARS,
      inviteLifetimeMs: Number.MAX_SAFE_INTEGER,
    };
    for (const [key, ceiling] of Object.entries(ceilings)) {
      const value = limits[key as keyof ModerationLimits];
      if (!Number.isSafeInteger(value) || value < 1 || value > ceiling) {
        throw new RangeError(
          `${key} must be a whole number from 1 to ${ceiling} (received ${value})`,
        );
      }
    }
    this.limits = Object.freeze(limits);
    this.setAdmins(options.admins ?? []);
  }

  /** The server's administrators. */
  get admins(): ReadonlySet<string> {
    return this.#admins;
  }

  /**
   * Replaces the set of administrators, at runtime: the next decision uses the new set.
   *
   * @throws {TypeError} when a name is not a valid user name (and then nothing changes).
   */
  setAdmins(names: Iterable<string>): void {
    const admins = new Set<string>();
    for (const name of names) {
      if (!isValidUserName(name)) {
        throw new TypeError(`an administrator must be a user name (received ${show(name)})`);
      }
      admins.add(name);
    }
    this.#admins = admins;
  }

  /** The message of the day `/motd` answers, null for none. */
  get motd(): string | null {
    return this.#motd;
  }

  /** Replaces the message of the day (e.g. after the file was read again); `""` is none. */
  setMotd(text: string | null): void {
    this.#motd = text || null;
  }

  /**
   * Creates `room` with `user` as its owner, when it does not exist. Returns false (and
   * changes nothing) when it does, e.g. another session created it first.
   */
  async onCreate(room: string, user: string): Promise<boolean> {
    try {
      await this.#store.rooms.create(room, user, this.#clock());
      return true;
    } catch (error) {
      if (error instanceof RoomExistsError) return false;
      throw error;
    }
  }

  /** Where `user` stands in `room` (`member` when they hold no role, even if not a member). */
  async roleOf(user: string, room: string): Promise<Standing> {
    if (this.#admins.has(user)) return "admin";
    return standingFrom(await this.#store.moderation.roleOf(room, user), false);
  }

  /** The members of `room` in name order, each with its role and whether it is muted. */
  async who(room: string): Promise<{ ok: true; members: WhoEntry[] } | Refusal> {
    if (!(await this.#roomExists(room))) return this.#noSuchRoom(room);
    const now = this.#clock();
    const members = await this.#store.members.membersOf(room);
    const muted = new Set(
      (await this.#store.moderation.listEntries(room, "mute", now)).map((entry) => entry.user),
    );
    return {
      ok: true,
      members: members.map((member) => ({
        user: member.user,
        role: standingFrom(member.role, this.#admins.has(member.user)),
        muted: muted.has(member.user),
      })),
    };
  }

  /**
   * May `user` join `room`? Refused while a ban is in force (whoever they are: only someone
   * who outranks them could have banned them), and in a `+i` room unless they are already a
   * member, an operator or up, or hold an invite. A room that does not exist is `no_such_room`:
   * the server creates it with {@linkcode onCreate} instead. Changes nothing; call
   * {@linkcode onJoin} once the join is done, which uses up the invite.
   */
  async canJoin(user: string, room: string): Promise<Verdict> {
    const now = this.#clock();
    const record = isValidRoomName(room) ? await this.#store.rooms.get(room) : undefined;
    if (!record) return this.#noSuchRoom(room);
    const ban = await this.#store.moderation.getListEntry(room, "ban", user, now);
    if (ban) {
      const why = ban.reason ? `: ${ban.reason}` : "";
      return refuse(
        "banned",
        `You are banned from ${room} ${lasting(ban.until, now)}${why}`,
        ban.until,
      );
    }
    if (!record.modes.includes("i")) return { ok: true };
    if (await this.#store.members.isMember(room, user)) return { ok: true };
    if (isOperator(await this.roleOf(user, room))) return { ok: true };
    if (await this.#store.moderation.getListEntry(room, "invite", user, now)) return { ok: true };
    return refuse("invite_only", `${room} is invite-only (+i): an operator must /invite you`);
  }

  /**
   * Tells the policy `user` has joined `room`: an invite they held is used up, so that after a
   * kick or a leave they need a new one to come back into a `+i` room. Returns whether one was.
   */
  onJoin(user: string, room: string): Promise<boolean> {
    return this.#store.moderation.removeListEntry(room, "invite", user);
  }

  /**
   * May `user` send a message in `room` now? Refused while a mute is in force, and in a `+m`
   * room for anyone below voiced. The server checks membership itself.
   */
  async canSpeak(user: string, room: string): Promise<Verdict> {
    return (await this.canSpeakEach([user], room)).get(user)!;
  }

  /**
   * {@linkcode canSpeak} for each of `users` in `room`, at one moment: the room is read once and
   * each user's mute once, however many messages they sent. The server asks this for the room
   * messages of one turn of its event loop, which it stores together.
   */
  async canSpeakEach(users: readonly string[], room: string): Promise<Map<string, Verdict>> {
    const now = this.#clock();
    const distinct = [...new Set(users)];
    const verdicts = new Map<string, Verdict>();
    if (distinct.length === 0) return verdicts;
    if (!isValidRoomName(room)) {
      for (const user of distinct) verdicts.set(user, this.#noSuchRoom(room));
      return verdicts;
    }
    // Both asked at once: over a network store (a cluster) that is one round trip, not two.
    // Several senders: the room's mutes in one read (usually none) rather than one per sender.
    const [record, mutes] = await Promise.all([
      this.#store.rooms.get(room),
      distinct.length > 1
        ? this.#store.moderation.listEntries(room, "mute", now)
        : this.#store.moderation.getListEntry(room, "mute", distinct[0]!, now)
          .then((entry) => (entry ? [entry] : [])),
    ]);
    const mutedBy = new Map(mutes.map((entry) => [entry.user, entry]));
    for (const user of distinct) {
      const muted = mutedBy.get(user);
      if (muted) {
        const why = `You are muted in ${room} ${lasting(muted.until, now)}`;
        verdicts.set(user, refuse("muted", why, muted.until));
      } else if (!record) {
        verdicts.set(user, this.#noSuchRoom(room));
      } else if (
        record.modes.includes("m") && !speaksWhenModerated(await this.roleOf(user, room))
      ) {
        verdicts.set(user, refuse("moderated"));
      } else verdicts.set(user, { ok: true });
    }
    return verdicts;
  }

  /**
   * Decides `actor`'s `command` in `room`: checks who they are, validates the input, persists
   * the change and returns its `Effects` (`types.ts`), or a refusal that changed nothing. The
   * actor must be a member of the room, except administrators. `/motd` ignores `room`.
   *
   * @throws {StoreError} only when the store itself fails (unavailable, closed).
   */
  async apply(actor: string, room: string, command: ModerationCommand): Promise<Decision> {
    // Own keys only: `constructor` or `toString` must not find Object.prototype's.
    const need = typeof command === "object" && command !== null &&
        Object.hasOwn(NEEDS, command.command)
      ? NEEDS[command.command]
      : undefined;
    if (need === undefined) {
      return refuse(
        "bad_command",
        `Unknown moderation command (received ${show(command?.command)})`,
      );
    }
    if (command.command === "motd") return answered({ kind: "motd", text: this.#motd });
    try {
      const record = isValidRoomName(room) ? await this.#store.rooms.get(room) : undefined;
      if (!record) return this.#noSuchRoom(room);
      const standing = await this.roleOf(actor, room);
      if (standing !== "admin" && !(await this.#store.members.isMember(room, actor))) {
        return refuse("not_in_room", `You are not a member of ${room}`);
      }
      if (need === "operator" && !isOperator(standing)) return refuse("not_operator");
      if (need === "owner" && !isOwner(standing)) return refuse("not_owner");
      const context: Context = {
        store: this.#store,
        limits: this.limits,
        now: this.#clock(),
        room: record,
        actor,
        standing,
        standingOf: (user) => this.roleOf(user, room),
      };
      return await this.#dispatch(context, command);
    } catch (error) {
      // A room deleted, or a list filled, between the checks and the write: nothing changed.
      if (error instanceof UnknownRoomError) return this.#noSuchRoom(room);
      if (error instanceof LimitError) return refuse("list_full", error.message);
      throw error;
    }
  }

  #dispatch(context: Context, command: ModerationCommand): Promise<Decision> {
    switch (command.command) {
      case "kick":
        return kick(context, command);
      case "ban":
        return ban(context, command);
      case "unban":
      case "unmute":
        return lift(context, command);
      case "mute":
        return mute(context, command);
      case "op":
      case "deop":
      case "voice":
      case "devoice":
        return changeRole(context, command);
      case "topic":
        return topic(context, command);
      case "mode":
        return mode(context, command);
      case "invite":
        return invite(context, command);
      case "banned":
        return banned(context);
      case "motd":
        return Promise.resolve(answered({ kind: "motd", text: this.#motd }));
    }
  }

  async #roomExists(room: string): Promise<boolean> {
    return isValidRoomName(room) && (await this.#store.rooms.get(room)) !== undefined;
  }

  #noSuchRoom(room: string): Refusal {
    return refuse("no_such_room", `There is no room called ${show(room)}`);
  }
}
