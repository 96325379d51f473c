/**
 * Every message of the wire protocol, as discriminated unions, and the decoders that turn a
 * frame body into one of them. A frame is decoded and validated once, where bytes come in;
 * past the decoder, code handles typed values only. Unknown fields are ignored (and never
 * relayed); a missing or ill-typed field, an unknown type or a non-object is a
 * {@linkcode ProtocolError}, never an exception of another kind.
 *
 * @module
 */

import { ProtocolError } from "./errors.ts";
import { isValidDeviceLabel } from "./devices.ts";
import { isValidUserName } from "./names.ts";
import { MAX_TOKEN_CHARS } from "./invite_token.ts";
import {
  arrayField,
  b64Field,
  b64VarField,
  boolField,
  type Fields,
  idField,
  intField,
  objectOf,
  payloadField,
  roomField,
  textField,
  userField,
} from "./fields.ts";
import {
  decodeModerate,
  decodeModerated,
  decodeModerationEvent,
  decodeMotd,
  decodeWhoRoles,
  type ModeratedFrame,
  type ModerateRequest,
  type ModerationFrame,
  type MotdFrame,
  type WhoRole,
} from "./moderation/frames.ts";

export type {
  ModeratedFrame,
  ModerateRequest,
  ModerationFrame,
  MotdFrame,
  WhoRole,
} from "./moderation/frames.ts";

/** The protocol version this code speaks. */
export const PROTOCOL_VERSION = 2;
/** Size of each side's set-up nonce. */
export const NONCE_BYTES = 32;
/** Size of a session id. */
export const SESSION_ID_BYTES = 16;
/** Largest certificate accepted in a set-up frame (DER bytes). */
export const MAX_CERT_BYTES = 4096;
/** Largest signature accepted in a set-up frame. */
export const MAX_SIGNATURE_BYTES = 132;
/** Largest session announcement (opaque to the server). */
export const MAX_ANNOUNCE_CHARS = 4096;
/** Largest end-to-end payload of a room or direct message. */
export const MAX_PAYLOAD_CHARS = 60_000;
/** Largest agreement statement (a session's replacement X25519 key, signed; opaque here). */
export const MAX_AGREEMENT_CHARS = 256;
/** Largest device link (one device vouching for another; opaque to the server). */
export const MAX_LINK_CHARS = 2048;
/** Size of a link request (an HMAC-SHA256). */
export const LINK_REQUEST_BYTES = 32;
/** Most link requests in one `link_requests` frame. */
export const MAX_LINK_REQUESTS = 16;
/** Largest wrapped chain key addressed to one member. */
export const MAX_KEY_PAYLOAD_CHARS = 1024;
/** Most key items in one `keys` frame (the frame size limit usually binds first). */
export const MAX_KEY_ITEMS = 1024;
/** Most members listed in one `joined` or `who` frame. */
export const MAX_LISTED_MEMBERS = 1024;
/** Most rooms listed in one `rooms` reply. */
export const MAX_LISTED_ROOMS = 500;
/** Size of an invite's secret in `enroll`. */
export const ENROLL_SECRET_BYTES = 16;
/** Largest certificate signing request accepted in `enroll` (DER bytes). */
export const MAX_REQUEST_BYTES = 4096;
/** Most sessions listed in one `peer` answer (one per online device). */
export const MAX_PEER_SESSIONS = 64;
/** Most entries in one `history` frame (the frame size limit usually binds first). */
export const MAX_HISTORY_ENTRIES = 500;
/** Most items in one `inbox` frame (the frame size limit usually binds first). */
export const MAX_INBOX_ITEMS = 500;
/** Largest pre-key payload (opaque to the server). */
export const MAX_PREKEY_CHARS = 512;
/** Most one-time pre-keys in one `prekeys` frame. */
export const MAX_PREKEYS_PER_FRAME = 100;
/** Most devices one `bundles` request may name. */
export const MAX_BUNDLE_DEVICES = 64;
/** Most offline member devices listed in one `joined` frame. */
export const MAX_LISTED_OFFLINE = 1024;
/** Most devices listed in one `devices` answer. */
export const MAX_LISTED_DEVICES = 100;

/**
 * `presence` leave reasons after which the session goes on outside the room and may come back
 * into it with the same session id: its user left (`left`), or a moderator removed its user
 * (`kicked`, `banned`). Any other reason means the session ended.
 */
export const ROOM_EXIT_REASONS: ReadonlySet<string> = new Set(["left", "kicked", "banned"]);

/** A chain key wrapped for one member. */
export interface KeyItem {
  to: string;
  payload: string;
}

/** Everything a client may send. */
export type ClientMessage =
  /** With `ca: true` the server's answer carries its CA certificate (for enrolment). */
  | { type: "hello"; version: number; nonce: string; ca?: boolean }
  | { type: "auth"; cert: string; signature: string }
  /**
   * Redeems an invite: its secret and a PKCS#10 request; answered by `enrolled`. With
   * `link_request` (opaque), the device that asked for the invite can vouch for the new key.
   */
  | { type: "enroll"; secret: string; csr: string; link_request?: string }
  /** Asks for a new certificate for the same key; answered by `renewed`. */
  | { type: "renew"; cert: string; signature: string }
  | { type: "device_invite"; id: string; device: string }
  | { type: "devices"; id: string }
  | { type: "device_revoke"; id: string; device: string }
  /** A link by which this device vouches for another device of its user (opaque here). */
  | { type: "device_link"; id: string; device: string; link: string }
  | { type: "announce"; payload: string }
  | { type: "join"; room: string }
  | { type: "leave"; room: string }
  | { type: "rooms" }
  | { type: "who"; room: string }
  /** This session replaced its agreement key: the server keeps it and tells its co-members. */
  | { type: "agreement"; payload: string }
  /** Key packages: to members of `room`, or (without `room`) direct-message chains to any session. */
  | { type: "keys"; room?: string; items: KeyItem[] }
  /**
   * A room message. With `version`, the server relays it only if the room's membership is still
   * the one the sender sealed it for (see `joined` and `presence`), else refuses it with
   * `membership_changed`, so no member receives a message that was not sealed for them.
   */
  | { type: "msg"; id: string; room: string; payload: string; version?: number }
  /**
   * A direct message to one session of `to` (`session`), or, stored in its inbox, to one of its
   * devices that is offline (`device`): exactly one of the two.
   */
  | { type: "dm"; id: string; to: string; session?: string; device?: string; payload: string }
  /** The room log after sequence `after`, within this device's membership; answered by `history`. */
  | { type: "history"; room: string; after: number }
  /** This device's inbox after sequence `after`; answered by `inbox`. */
  | { type: "inbox"; after: number }
  /** Deletes this device's inbox up to sequence `upto` (processed and kept on the device). */
  | { type: "inbox_ack"; upto: number }
  /** Publishes a signed pre-key (replacing the last) and adds one-time pre-keys. */
  | { type: "prekeys"; signed?: string; onetime: string[] }
  /** Asks for a pre-key bundle of each device (`user/device`), taking one one-time pre-key each. */
  | { type: "bundles"; id: string; devices: string[] }
  | { type: "lookup"; id: string; user: string }
  /** A moderation command (`moderation/frames.ts`), answered by `moderated`, `motd` or `error`. */
  | ModerateRequest
  | { type: "ping" }
  | { type: "pong" };

/**
 * A room member as the server describes it: who, which device (from their certificate), which
 * session, and their announcement.
 */
export interface MemberInfo {
  user: string;
  device: string;
  session: string;
  announce: string;
  /** The session's latest agreement statement, once it replaced its first key. */
  agreement?: string;
  /** A link by which another device of the same user vouches for this one. */
  link?: string;
}

/** A member device with no live session, as `joined` and `presence` list it. */
export interface OfflineDevice {
  user: string;
  device: string;
  /** Its current certificate (DER, b64u). */
  cert: string;
  /** The link by which another device of the user vouches for it, if any. */
  link?: string;
}

/** One stored room message, as `history` gives it. */
export interface HistoryEntry {
  seq: number;
  from: string;
  device: string;
  session: string;
  /** Server time it was stored, ms since the epoch. */
  ts: number;
  payload: string;
}

/** One stored item of a device's inbox. */
export interface InboxItem {
  seq: number;
  kind: "keys" | "dm";
  /** For key packages of a room. */
  room?: string;
  from: string;
  device: string;
  session: string;
  ts: number;
  payload: string;
}

/** A device's pre-keys, as `bundles` hands them out. */
export interface PrekeyBundle {
  user: string;
  device: string;
  /** The device's current certificate (DER, b64u). */
  cert: string;
  signed: string;
  /** One one-time pre-key, taken for this answer; absent when the device has none left. */
  onetime?: string;
}

/** One online device of a user, in a `peer` answer. */
export interface PeerSessionInfo {
  device: string;
  session: string;
  announce: string;
  agreement?: string;
  link?: string;
}

/** One device of the session's user, in a `devices` answer. */
export interface DeviceInfo {
  device: string;
  /** Serial of the device's latest certificate. */
  serial: string;
  status: "valid" | "expired" | "revoked";
  /** ISO 8601 end of that certificate. */
  notAfter: string;
  /** The device that asked for its invite, when one did. */
  invitedBy?: string;
}

/** A device that enrolled with an invite this device asked for, waiting to be vouched for. */
export interface LinkRequestInfo {
  device: string;
  /** Its certificate (DER, b64u): the key to vouch for. */
  cert: string;
  /** Its proof of holding the invite (opaque to the server, b64u). */
  request: string;
}

/** Limits the server tells a client in `welcome`, so a client can stay inside them. */
export interface WireLimits {
  maxFrameBytes: number;
  ratePerSecond: number;
  rateBurst: number;
  idleTimeoutMs: number;
}

/** Everything a server may send. */
export type ServerMessage =
  | {
    type: "server_hello";
    version: number;
    nonce: string;
    cert: string;
    signature: string;
    /** The CA certificate (DER, b64u), when `hello` asked for it. */
    ca?: string;
  }
  | {
    type: "welcome";
    user: string;
    device: string;
    session: string;
    limits: WireLimits;
    /** The link by which another device vouched for this one, if any. */
    link?: string;
    /** What the server holds of this device's pre-keys, so the client can top them up. */
    prekeys?: { signed: boolean; onetime: number };
  }
  /** The certificate issued by `enroll`; the server then closes the connection. */
  | { type: "enrolled"; cert: string }
  /** The certificate issued by `renew`; the server then closes the connection. */
  | { type: "renewed"; cert: string }
  | { type: "error"; code: string; message: string; fatal: boolean; id?: string; room?: string }
  /**
   * The answer to `join`: the other members. A room whose list does not fit in one frame is
   * answered with several `joined` frames, all but the last marked `more: true`.
   */
  | {
    type: "joined";
    room: string;
    members: MemberInfo[];
    /** Member devices with no live session (of member users), to wrap keys to their pre-keys. */
    offline: OfflineDevice[];
    version: number;
    /** The room log's last sequence number when this session joined. */
    seq: number;
    more?: boolean;
  }
  | { type: "left"; room: string }
  | {
    type: "presence";
    room: string;
    event: "join" | "leave";
    user: string;
    device: string;
    session: string;
    /** The room's membership version after this change. */
    version: number;
    announce?: string;
    agreement?: string;
    link?: string;
    /**
     * Why it left: "left" for a `leave`, "kicked" or "banned" when a moderator removed its user
     * ({@linkcode ROOM_EXIT_REASONS}); anything else means the session ended.
     */
    reason?: string;
    /** On `leave`: false when the user is no longer a member at all. */
    member?: boolean;
    /** On `leave` of a member that stays one: its device, now offline. */
    offline?: OfflineDevice;
  }
  /**
   * An offline member device was added (a device enrolled; with `cert`) or removed (revoked),
   * changing the room's version like any other membership change.
   */
  | {
    type: "offline_device";
    room: string;
    version: number;
    user: string;
    device: string;
    state: "added" | "removed";
    cert?: string;
    /** With "added": the link by which another device of the user vouches for it, if any. */
    link?: string;
  }
  | { type: "announce"; user: string; device: string; session: string; announce: string }
  | { type: "agreement"; user: string; device: string; session: string; payload: string }
  | { type: "rooms"; rooms: { name: string; members: number }[] }
  /** With a store, `roles`: the role of each member listed, and whether it is muted. */
  | { type: "who"; room: string; members: string[]; roles?: WhoRole[] }
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
    /** Its sequence number in the room log. */
    seq: number;
  }
  | { type: "dm"; from: string; device: string; session: string; ts: number; payload: string }
  /** The message was accepted; for a room message, `seq` is its place in the room log. */
  | { type: "ack"; id: string; recipients: number; seq?: number }
  /** `sessions`: the user's online devices; `offline`: its other valid devices, with certificates. */
  | {
    type: "peer";
    id: string;
    user: string;
    sessions: PeerSessionInfo[];
    offline?: OfflineDevice[];
  }
  | { type: "device_invite"; id: string; token: string }
  | { type: "devices"; id: string; devices: DeviceInfo[] }
  | { type: "device_revoked"; id: string; device: string }
  /** Devices this device invited that enrolled and wait for it to vouch for them. */
  | { type: "link_requests"; requests: LinkRequestInfo[] }
  | { type: "device_linked"; id: string; device: string }
  /** Part of the room log (`done` on the last frame); `missed`: entries retention removed unread. */
  | {
    type: "history";
    room: string;
    entries: HistoryEntry[];
    sessions: MemberInfo[];
    done: boolean;
    missed?: number;
  }
  /** Part of this device's inbox (`done` on the last frame); `dropped`: items lost unread. */
  | { type: "inbox"; items: InboxItem[]; sessions: MemberInfo[]; dropped: number; done: boolean }
  | { type: "prekeys_stored"; onetime: number }
  /** Pre-key bundles for a `bundles` request; an answer that does not fit one frame is split, all
   * but the last frame marked `more: true`. */
  | { type: "bundles"; id: string; bundles: PrekeyBundle[]; more?: boolean }
  /** A device got a link after its session was described: to its co-members and itself. */
  | { type: "link"; user: string; device: string; session: string; link: string }
  /** Moderation (`moderation/frames.ts`): an event, an answer, the message of the day. */
  | ModerationFrame
  | ModeratedFrame
  | MotdFrame
  | { type: "ping" }
  | { type: "pong" };

/** The `type` of any client message. */
export type ClientMessageType = ClientMessage["type"];
/** The `type` of any server message. */
export type ServerMessageType = ServerMessage["type"];

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses a frame body as a JSON object with a string `type`. */
function parseObject(body: Uint8Array): Fields & { type: string } {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch {
    throw new ProtocolError("bad_frame", "Frame is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad_frame", "Frame is not a JSON object");
  }
  const type = (value as Fields).type;
  if (typeof type !== "string") {
    throw new ProtocolError("bad_field", 'Field "type" must be a string');
  }
  return value as Fields & { type: string };
}

function unknownType(type: string): never {
  throw new ProtocolError(
    "unknown_type",
    `Unknown frame type ${JSON.stringify(type.slice(0, 40))}`,
  );
}

const session = (f: Fields, key = "session") => b64Field(f, key, SESSION_ID_BYTES);
const device = (f: Fields, key = "device") => {
  const value = f[key];
  if (!isValidDeviceLabel(value)) {
    throw new ProtocolError(
      "bad_field",
      `Field "${key}" must be a device label ([a-z0-9][a-z0-9_-]{0,31})`,
    );
  }
  return value;
};
const announce = (f: Fields, key = "announce") => payloadField(f, key, MAX_ANNOUNCE_CHARS);

/**
 * Decodes and validates a frame body sent by a client.
 *
 * @throws {ProtocolError} `bad_frame`, `unknown_type` or `bad_field`.
 */
export function decodeClientMessage(body: Uint8Array): ClientMessage {
  const f = parseObject(body);
  switch (f.type) {
    case "hello": {
      const message: ClientMessage = {
        type: "hello",
        version: intField(f, "version", 0, 65535),
        nonce: b64Field(f, "nonce", NONCE_BYTES),
      };
      if (f.ca !== undefined) message.ca = boolField(f, "ca");
      return message;
    }
    case "auth":
    case "renew":
      return {
        type: f.type,
        cert: b64VarField(f, "cert", MAX_CERT_BYTES),
        signature: b64VarField(f, "signature", MAX_SIGNATURE_BYTES),
      };
    case "enroll": {
      const message: ClientMessage = {
        type: "enroll",
        secret: b64Field(f, "secret", ENROLL_SECRET_BYTES),
        csr: b64VarField(f, "csr", MAX_REQUEST_BYTES),
      };
      if (f.link_request !== undefined) {
        message.link_request = b64Field(f, "link_request", LINK_REQUEST_BYTES);
      }
      return message;
    }
    case "device_link":
      return {
        type: "device_link",
        id: idField(f),
        device: device(f),
        link: payloadField(f, "link", MAX_LINK_CHARS),
      };
    case "device_invite":
    case "device_revoke":
      return { type: f.type, id: idField(f), device: device(f) };
    case "devices":
      return { type: "devices", id: idField(f) };
    case "announce":
      return { type: "announce", payload: announce(f, "payload") };
    case "agreement":
      return { type: "agreement", payload: payloadField(f, "payload", MAX_AGREEMENT_CHARS) };
    case "join":
    case "leave":
    case "who":
      return { type: f.type, room: roomField(f) };
    case "rooms":
    case "ping":
    case "pong":
      return { type: f.type };
    case "keys": {
      const message: ClientMessage = {
        type: "keys",
        items: arrayField(f, "items", MAX_KEY_ITEMS, (item) => ({
          // A live session, or a device's inbox (`user/device`) when it is offline.
          to: typeof item.to === "string" && item.to.includes("/")
            ? addressField(item, "to")
            : session(item, "to"),
          payload: payloadField(item, "payload", MAX_KEY_PAYLOAD_CHARS),
        })),
      };
      if (f.room !== undefined) message.room = roomField(f);
      return message;
    }
    case "msg": {
      const message: ClientMessage = {
        type: "msg",
        id: idField(f),
        room: roomField(f),
        payload: payloadField(f, "payload", MAX_PAYLOAD_CHARS),
      };
      if (f.version !== undefined) {
        message.version = intField(f, "version", 0, Number.MAX_SAFE_INTEGER);
      }
      return message;
    }
    case "dm": {
      const message: ClientMessage = {
        type: "dm",
        id: idField(f),
        to: userField(f, "to"),
        payload: payloadField(f, "payload", MAX_PAYLOAD_CHARS),
      };
      if ((f.session === undefined) === (f.device === undefined)) {
        throw new ProtocolError("bad_field", 'A "dm" names exactly one of "session" and "device"');
      }
      if (f.session !== undefined) message.session = session(f);
      else message.device = device(f);
      return message;
    }
    case "history":
      return { type: "history", room: roomField(f), after: seqField(f, "after") };
    case "inbox":
      return { type: "inbox", after: seqField(f, "after") };
    case "inbox_ack":
      return { type: "inbox_ack", upto: seqField(f, "upto") };
    case "prekeys": {
      const message: ClientMessage = {
        type: "prekeys",
        onetime: payloadList(f, "onetime", MAX_PREKEYS_PER_FRAME, MAX_PREKEY_CHARS),
      };
      if (f.signed !== undefined) message.signed = payloadField(f, "signed", MAX_PREKEY_CHARS);
      return message;
    }
    case "bundles": {
      const devices = f.devices;
      if (!Array.isArray(devices) || devices.length > MAX_BUNDLE_DEVICES) {
        throw new ProtocolError("bad_field", 'Field "devices" must be a list of device addresses');
      }
      return {
        type: "bundles",
        id: idField(f),
        devices: devices.map((_, i) => addressField(devices as unknown as Fields, String(i))),
      };
    }
    case "lookup":
      return { type: "lookup", id: idField(f), user: userField(f) };
    case "moderate":
      return decodeModerate(f);
    default:
      return unknownType(f.type);
  }
}

/** A sequence number or a count: a whole number from 0. */
function seqField(f: Fields, key: string): number {
  return intField(f, key, 0, Number.MAX_SAFE_INTEGER);
}

/** A list of at most `maxItems` payload strings of at most `maxChars` each. */
function payloadList(f: Fields, key: string, maxItems: number, maxChars: number): string[] {
  const value = f[key];
  if (!Array.isArray(value) || value.length > maxItems) {
    throw new ProtocolError("bad_field", `Field "${key}" must be a list of at most ${maxItems}`);
  }
  return value.map((_, i) => payloadField(value as unknown as Fields, String(i), maxChars));
}

/** A device address, `user/device`. */
function addressField(f: Fields, key: string): string {
  const value = f[key];
  const [user, label, ...rest] = typeof value === "string" ? value.split("/") : [];
  if (rest.length > 0 || !isValidUserName(user) || !isValidDeviceLabel(label)) {
    throw new ProtocolError("bad_field", `Field "${key}" must be a device address USER/DEVICE`);
  }
  return value as string;
}

function offlineDevice(f: Fields): OfflineDevice {
  const entry: OfflineDevice = {
    user: userField(f),
    device: device(f),
    cert: b64VarField(f, "cert", MAX_CERT_BYTES),
  };
  if (f.link !== undefined) entry.link = payloadField(f, "link", MAX_LINK_CHARS);
  return entry;
}

function inboxItem(f: Fields): InboxItem {
  const kind = f.kind;
  if (kind !== "keys" && kind !== "dm") {
    throw new ProtocolError("bad_field", 'Field "kind" must be "keys" or "dm"');
  }
  const item: InboxItem = {
    seq: seqField(f, "seq"),
    kind,
    from: userField(f, "from"),
    device: device(f),
    session: session(f),
    ts: intField(f, "ts", 0, Number.MAX_SAFE_INTEGER),
    payload: payloadField(f, "payload", kind === "dm" ? MAX_PAYLOAD_CHARS : MAX_KEY_PAYLOAD_CHARS),
  };
  if (f.room !== undefined) item.room = roomField(f);
  return item;
}

/** The optional end-to-end fields a server attaches to a session's description. */
function extras(f: Fields): { agreement?: string; link?: string } {
  const out: { agreement?: string; link?: string } = {};
  if (f.agreement !== undefined) out.agreement = payloadField(f, "agreement", MAX_AGREEMENT_CHARS);
  if (f.link !== undefined) out.link = payloadField(f, "link", MAX_LINK_CHARS);
  return out;
}

function member(f: Fields): MemberInfo {
  return {
    user: userField(f),
    device: device(f),
    session: session(f),
    announce: announce(f),
    ...extras(f),
  };
}

const DEVICE_STATUSES = new Set(["valid", "expired", "revoked"]);

function deviceInfo(f: Fields): DeviceInfo {
  const status = f.status;
  if (typeof status !== "string" || !DEVICE_STATUSES.has(status)) {
    throw new ProtocolError("bad_field", 'Field "status" must be valid, expired or revoked');
  }
  const serial = f.serial;
  if (typeof serial !== "string" || !/^[0-9a-f]{1,40}$/.test(serial)) {
    throw new ProtocolError("bad_field", 'Field "serial" must be lower-case hex');
  }
  const info: DeviceInfo = {
    device: device(f),
    serial,
    status: status as DeviceInfo["status"],
    notAfter: textField(f, "notAfter", 40),
  };
  if (f.invitedBy !== undefined) info.invitedBy = device(f, "invitedBy");
  return info;
}

/**
 * Decodes and validates a frame body sent by a server.
 *
 * @throws {ProtocolError} `bad_frame`, `unknown_type` or `bad_field`.
 */
export function decodeServerMessage(body: Uint8Array): ServerMessage {
  const f = parseObject(body);
  switch (f.type) {
    case "server_hello": {
      const message: ServerMessage = {
        type: "server_hello",
        version: intField(f, "version", 0, 65535),
        nonce: b64Field(f, "nonce", NONCE_BYTES),
        cert: b64VarField(f, "cert", MAX_CERT_BYTES),
        signature: b64VarField(f, "signature", MAX_SIGNATURE_BYTES),
      };
      if (f.ca !== undefined) message.ca = b64VarField(f, "ca", MAX_CERT_BYTES);
      return message;
    }
    case "enrolled":
    case "renewed":
      return { type: f.type, cert: b64VarField(f, "cert", MAX_CERT_BYTES) };
    case "welcome": {
      const limits = objectOf(f.limits, "limits");
      const welcome: ServerMessage = {
        type: "welcome",
        user: userField(f),
        device: device(f),
        session: session(f),
        limits: {
          maxFrameBytes: intField(limits, "maxFrameBytes", 1, 2 ** 31),
          ratePerSecond: intField(limits, "ratePerSecond", 1, 2 ** 31),
          rateBurst: intField(limits, "rateBurst", 1, 2 ** 31),
          idleTimeoutMs: intField(limits, "idleTimeoutMs", 1, 2 ** 31),
        },
      };
      if (f.link !== undefined) welcome.link = payloadField(f, "link", MAX_LINK_CHARS);
      if (f.prekeys !== undefined) {
        const prekeys = objectOf(f.prekeys, "prekeys");
        welcome.prekeys = {
          signed: boolField(prekeys, "signed"),
          onetime: seqField(prekeys, "onetime"),
        };
      }
      return welcome;
    }
    case "error": {
      const code = f.code;
      if (typeof code !== "string" || !/^[a-z_]{1,40}$/.test(code)) {
        throw new ProtocolError("bad_field", 'Field "code" must be an error code');
      }
      const message: ServerMessage = {
        type: "error",
        code,
        message: textField(f, "message", 500),
        fatal: boolField(f, "fatal"),
      };
      if (f.id !== undefined) message.id = idField(f);
      if (f.room !== undefined) message.room = roomField(f);
      return message;
    }
    case "joined": {
      const message: Extract<ServerMessage, { type: "joined" }> = {
        type: "joined",
        room: roomField(f),
        members: arrayField(f, "members", MAX_LISTED_MEMBERS, member),
        offline: arrayField(f, "offline", MAX_LISTED_OFFLINE, offlineDevice),
        version: intField(f, "version", 0, Number.MAX_SAFE_INTEGER),
        seq: seqField(f, "seq"),
      };
      if (f.more !== undefined) message.more = boolField(f, "more");
      return message;
    }
    case "offline_device": {
      const state = f.state;
      if (state !== "added" && state !== "removed") {
        throw new ProtocolError("bad_field", 'Field "state" must be "added" or "removed"');
      }
      const message: ServerMessage = {
        type: "offline_device",
        room: roomField(f),
        version: intField(f, "version", 0, Number.MAX_SAFE_INTEGER),
        user: userField(f),
        device: device(f),
        state,
      };
      if (state === "added") {
        message.cert = b64VarField(f, "cert", MAX_CERT_BYTES);
        if (f.link !== undefined) message.link = payloadField(f, "link", MAX_LINK_CHARS);
      }
      return message;
    }
    case "left":
      return { type: "left", room: roomField(f) };
    case "presence": {
      const event = f.event;
      if (event !== "join" && event !== "leave") {
        throw new ProtocolError("bad_field", 'Field "event" must be "join" or "leave"');
      }
      const message: ServerMessage = {
        type: "presence",
        room: roomField(f),
        event,
        user: userField(f),
        device: device(f),
        session: session(f),
        version: intField(f, "version", 0, Number.MAX_SAFE_INTEGER),
      };
      if (event === "join") Object.assign(message, { announce: announce(f) }, extras(f));
      if (f.reason !== undefined) message.reason = textField(f, "reason", 200);
      if (f.member !== undefined) message.member = boolField(f, "member");
      if (f.offline !== undefined) message.offline = offlineDevice(objectOf(f.offline, "offline"));
      return message;
    }
    case "announce":
      return {
        type: "announce",
        user: userField(f),
        device: device(f),
        session: session(f),
        announce: announce(f),
      };
    case "agreement":
      return {
        type: "agreement",
        user: userField(f),
        device: device(f),
        session: session(f),
        payload: payloadField(f, "payload", MAX_AGREEMENT_CHARS),
      };
    case "rooms":
      return {
        type: "rooms",
        rooms: arrayField(f, "rooms", MAX_LISTED_ROOMS, (room) => ({
          name: roomField(room, "name"),
          members: intField(room, "members", 0, 2 ** 31),
        })),
      };
    case "who": {
      const members = f.members;
      if (!Array.isArray(members) || members.length > MAX_LISTED_MEMBERS) {
        throw new ProtocolError("bad_field", 'Field "members" must be a list of user names');
      }
      const message: ServerMessage = {
        type: "who",
        room: roomField(f),
        members: members.map((_, i) => userField(members as unknown as Fields, String(i))),
      };
      if (f.roles !== undefined) message.roles = decodeWhoRoles(f, MAX_LISTED_MEMBERS);
      return message;
    }
    case "keys": {
      const message: ServerMessage = {
        type: "keys",
        from: userField(f, "from"),
        device: device(f),
        session: session(f),
        payload: payloadField(f, "payload", MAX_KEY_PAYLOAD_CHARS),
      };
      if (f.room !== undefined) message.room = roomField(f);
      return message;
    }
    case "msg":
      return {
        type: "msg",
        room: roomField(f),
        from: userField(f, "from"),
        device: device(f),
        session: session(f),
        ts: intField(f, "ts", 0, Number.MAX_SAFE_INTEGER),
        payload: payloadField(f, "payload", MAX_PAYLOAD_CHARS),
        seq: seqField(f, "seq"),
      };
    case "dm":
      return {
        type: "dm",
        from: userField(f, "from"),
        device: device(f),
        session: session(f),
        ts: intField(f, "ts", 0, Number.MAX_SAFE_INTEGER),
        payload: payloadField(f, "payload", MAX_PAYLOAD_CHARS),
      };
    case "history": {
      const message: Extract<ServerMessage, { type: "history" }> = {
        type: "history",
        room: roomField(f),
        entries: arrayField(f, "entries", MAX_HISTORY_ENTRIES, (entry) => ({
          seq: seqField(entry, "seq"),
          from: userField(entry, "from"),
          device: device(entry),
          session: session(entry),
          ts: intField(entry, "ts", 0, Number.MAX_SAFE_INTEGER),
          payload: payloadField(entry, "payload", MAX_PAYLOAD_CHARS),
        })),
        sessions: arrayField(f, "sessions", MAX_HISTORY_ENTRIES, member),
        done: boolField(f, "done"),
      };
      if (f.missed !== undefined) message.missed = seqField(f, "missed");
      return message;
    }
    case "inbox":
      return {
        type: "inbox",
        items: arrayField(f, "items", MAX_INBOX_ITEMS, inboxItem),
        sessions: arrayField(f, "sessions", MAX_INBOX_ITEMS, member),
        dropped: seqField(f, "dropped"),
        done: boolField(f, "done"),
      };
    case "prekeys_stored":
      return { type: "prekeys_stored", onetime: seqField(f, "onetime") };
    case "bundles": {
      const message: Extract<ServerMessage, { type: "bundles" }> = {
        type: "bundles",
        id: idField(f),
        bundles: arrayField(f, "bundles", MAX_BUNDLE_DEVICES, (item) => {
          const bundle: PrekeyBundle = {
            user: userField(item),
            device: device(item),
            cert: b64VarField(item, "cert", MAX_CERT_BYTES),
            signed: payloadField(item, "signed", MAX_PREKEY_CHARS),
          };
          if (item.onetime !== undefined) {
            bundle.onetime = payloadField(item, "onetime", MAX_PREKEY_CHARS);
          }
          return bundle;
        }),
      };
      if (f.more !== undefined) message.more = boolField(f, "more");
      return message;
    }
    case "ack":
      return {
        type: "ack",
        id: idField(f),
        recipients: intField(f, "recipients", 0, 2 ** 31),
        ...(f.seq !== undefined ? { seq: seqField(f, "seq") } : {}),
      };
    case "peer":
      return {
        type: "peer",
        id: idField(f),
        user: userField(f),
        sessions: arrayField(f, "sessions", MAX_PEER_SESSIONS, (item) => ({
          device: device(item),
          session: session(item),
          announce: announce(item),
          ...extras(item),
        })),
        ...(f.offline !== undefined
          ? { offline: arrayField(f, "offline", MAX_LISTED_DEVICES, offlineDevice) }
          : {}),
      };
    case "device_invite": {
      const token = f.token;
      if (
        typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_CHARS ||
        !/^[\x21-\x7e]+$/.test(token)
      ) {
        throw new ProtocolError("bad_field", 'Field "token" must be an invite token');
      }
      return { type: "device_invite", id: idField(f), token };
    }
    case "devices":
      return {
        type: "devices",
        id: idField(f),
        devices: arrayField(f, "devices", MAX_LISTED_DEVICES, deviceInfo),
      };
    case "device_revoked":
    case "device_linked":
      return { type: f.type, id: idField(f), device: device(f) };
    case "link_requests":
      return {
        type: "link_requests",
        requests: arrayField(f, "requests", MAX_LINK_REQUESTS, (item) => ({
          device: device(item),
          cert: b64VarField(item, "cert", MAX_CERT_BYTES),
          request: b64Field(item, "request", LINK_REQUEST_BYTES),
        })),
      };
    case "link":
      return {
        type: "link",
        user: userField(f),
        device: device(f),
        session: session(f),
        link: payloadField(f, "link", MAX_LINK_CHARS),
      };
    case "moderation":
      return { type: "moderation", ...decodeModerationEvent(f) };
    case "moderated":
      return decodeModerated(f);
    case "motd":
      return decodeMotd(f);
    case "ping":
    case "pong":
      return { type: f.type };
    default:
      return unknownType(f.type);
  }
}
