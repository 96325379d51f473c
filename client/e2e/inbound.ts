/**
 * The server frames the end-to-end engine acts on, already decoded and validated by the
 * protocol layer. The engine never sees bytes or sockets: the chat client hands it these and
 * sends what it returns.
 *
 * @module
 */

import type { MemberInfo, OfflineDevice, ServerMessage } from "../../protocol/messages.ts";

/** A member session as the server describes it (`joined`, `presence`, `peer`, stored senders). */
export type MemberDescription = MemberInfo;

/** A member device with no live session. */
export type { OfflineDevice };

/** Server frames the engine handles as they come. */
export type Inbound =
  | Extract<
    ServerMessage,
    {
      type:
        | "joined"
        | "left"
        | "presence"
        | "offline_device"
        | "announce"
        | "agreement"
        | "link"
        | "keys"
        | "msg"
        | "dm"
        | "bundles";
    }
  >
  /** `peer`, with the user named on each session (the chat client adds it). */
  | {
    type: "peer";
    id: string;
    user: string;
    sessions: MemberDescription[];
    offline?: OfflineDevice[];
  };

/** Stored traffic the engine catches up on: the inbox, then each room's log. */
export type Stored = Extract<ServerMessage, { type: "inbox" | "history" }>;
