/**
 * The server frames the end-to-end engine acts on, already decoded and validated by the
 * protocol layer. The engine never sees bytes or sockets: the chat client hands it these and
 * sends what it returns.
 *
 * @module
 */

/** A member session as the server describes it. */
export interface MemberDescription {
  user: string;
  device: string;
  session: string;
  /** The session's certified announcement. */
  announce: string;
  /** Its latest agreement statement, if it replaced its first key. */
  agreement?: string;
  /** A link by which another device of the same user vouches for this one (opaque to the server). */
  link?: string;
}

/** Frames the engine handles. */
export type Inbound =
  | { type: "joined"; room: string; version: number; members: MemberDescription[]; more?: boolean }
  | { type: "left"; room: string }
  | {
    type: "presence";
    room: string;
    event: "join" | "leave";
    user: string;
    device: string;
    session: string;
    version: number;
    announce?: string;
    agreement?: string;
    link?: string;
    reason?: string;
  }
  | { type: "announce"; user: string; device: string; session: string; announce: string }
  | { type: "agreement"; user: string; device: string; session: string; payload: string }
  /** A device link arrived for a session's device after the session was described. */
  | { type: "link"; user: string; device: string; session: string; link: string }
  | {
    type: "keys";
    room?: string;
    from: string;
    device: string;
    session: string;
    payload: string;
  }
  | {
    type: "msg";
    room: string;
    from: string;
    device: string;
    session: string;
    ts: number;
    payload: string;
  }
  | { type: "dm"; from: string; device: string; session: string; ts: number; payload: string }
  | { type: "peer"; id: string; user: string; sessions: MemberDescription[] };
