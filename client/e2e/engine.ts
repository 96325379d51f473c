/**
 * The end-to-end engine of one session: everything a client decides about keys, trust, rosters
 * and sealed messages, with no socket in sight. The chat client hands it decoded server frames
 * (`inbound.ts`) and the messages the user typed; it returns the frames to send and the events
 * to show, and it is tested directly, frame by frame, from the attacker's side.
 *
 * What it enforces (docs/SECURITY.md states each as a property):
 *
 * - A peer session is known only from a room's membership or an explicit lookup; an `announce`
 *   only refreshes a known session with the same keys. A session that ended is never known again.
 * - Keys and messages are accepted in a room only from sessions that are members in our view.
 * - Whether a message is verified is decided by the device key behind the session that signed
 *   it, never by a name. Devices we do not accept get no chain keys and no direct messages.
 * - Every key package carries the sender's roster hash; a member whose view differs is reported
 *   (`roster_mismatch`) and the room stops sending until that member agrees again.
 * - Each own chain rotation replaces our agreement key first; packages are wrapped to each
 *   recipient's current key with a fresh ephemeral key, and bound to both ends.
 * - Gaps (skipped, reordered, missing) are reported; replays are refused at every level.
 *
 * The caller must not call into one engine concurrently: the chat client runs everything through
 * one serial queue.
 *
 * @module
 */

import { randomBytes } from "../../crypto/bytes.ts";
import type { KeyItem } from "../../protocol/messages.ts";
import type { ClientEvent, DeviceTrustInfo, TrustLevel } from "../events.ts";
import { buildAgreementStatement, OwnAgreementKeys } from "./agreement.ts";
import {
  ANNOUNCE_REFRESH_MS,
  buildAnnouncement,
  type CertificateVerifier,
  createSigningKeys,
  type DeviceReader,
  type SigningKeys,
} from "./announcement.ts";
import { type ReceivingChain, SendingChain } from "./chains.ts";
import { E2EError } from "./errors.ts";
import type { Inbound, MemberDescription, OfflineDevice, Stored } from "./inbound.ts";
import { type DevicePrekeys } from "./device_prekeys.ts";
import { OfflineDirectory, type OfflineMember, prekeyFromBundle } from "./offline.ts";
import { prekeyRef, signPrekey } from "./prekeys.ts";
import type { PrekeyBundle } from "../../protocol/messages.ts";
import {
  MAX_BUNDLE_DEVICES,
  MAX_PREKEYS_PER_FRAME,
  ROOM_EXIT_REASONS,
} from "../../protocol/messages.ts";
import {
  createEphemeral,
  type KeyPackageContent,
  openKeyPackage,
  parseKeyPackage,
  ROSTER_HASH_BYTES,
  sealKeyPackage,
  verifyKeyPackage,
} from "./key_package.ts";
import {
  type MessageScope,
  openMessage,
  parseMessage,
  type Plaintext,
  sealMessage,
  verifyMessage,
} from "./payloads.ts";
import { isAccepted, PeerDirectory, type PeerSession } from "./peers.ts";
import { ReceivedChains } from "./received_chains.ts";
import { type RoomMember, RoomView } from "./room_state.ts";
import { describeRoster, type RosterEntry, rosterHash } from "./roster.ts";
import {
  decideTrust,
  fingerprintDigits,
  MIN_TRUST_PREFIX_DIGITS,
  type TrustBook,
} from "./trust.ts";
import { checkLinkProof, type VerifiedLink, verifyDeviceLink } from "./device_link.ts";

/** Key items per `keys` frame: each is under 500 bytes, so this stays far inside a frame. */
export const KEY_ITEMS_PER_FRAME = 100;
/** How long a lookup's list of a user's sessions is used for direct messages before it is asked again. */
export const DIRECT_LOOKUP_TTL_MS = 60_000;
/** Direct messages held while their sender's session is being looked up. */
export const MAX_HELD_DIRECT = 50;
/** Most members a (multi-frame) `joined` answer may list; a server sending more is cut off there. */
export const MAX_JOINED_MEMBERS = 100_000;
const ZERO_HASH = new Uint8Array(ROSTER_HASH_BYTES);
const DIRECT_SCOPE = "";

/** This device, as the engine needs it. */
export interface LocalDevice {
  readonly user: string;
  readonly device: string;
  readonly certDer: Uint8Array;
  /** The device's certificate key (P-256), to certify the session's keys. */
  readonly privateKey: CryptoKey;
  /** SHA-256 of the device's public key, as colon-separated hex and raw. */
  readonly keyFingerprint: string;
  readonly keyDigest: Uint8Array;
}

/** Frames the engine asks the client to send (the client adds ids where the protocol needs them). */
export type Outbound =
  | { type: "announce"; payload: string }
  | { type: "agreement"; payload: string }
  | { type: "keys"; room?: string; items: KeyItem[] }
  | { type: "lookup"; id: string; user: string }
  | { type: "bundles"; id: string; devices: string[] }
  | { type: "prekeys"; signed?: string; onetime: string[] };

/** What one call produced: frames to send, in order, and events to show. */
export interface Effects {
  frames: Outbound[];
  events: ClientEvent[];
}

/** A room message sealed for the current membership. */
export interface SealedRoomMessage {
  readonly room: string;
  readonly payload: string;
  readonly version: number;
  readonly epoch: number;
}

/** One copy of a direct message, for one device session (or, offline, one device's inbox). */
export interface SealedDirectCopy {
  readonly to: string;
  /** The live session it goes to; absent when it goes to `device`'s inbox. */
  readonly session?: string;
  readonly device: string;
  readonly payload: string;
  readonly epoch: number;
}

/** Where a direct message stands. */
export type DirectSeal =
  | { readonly status: "wait" }
  | { readonly status: "failed"; readonly reason: string }
  | { readonly status: "sealed"; readonly copies: SealedDirectCopy[] };

/** How to build an engine. */
export interface EngineOptions {
  readonly local: LocalDevice;
  /** Our session id, from `welcome`. */
  readonly session: string;
  readonly verifyCert: CertificateVerifier;
  readonly deviceOf: DeviceReader;
  readonly trust: TrustBook;
  /**
   * This device's pre-keys: with them it publishes pre-keys and opens what others wrapped to
   * them while it was offline. Without, it neither publishes nor reads its inbox's key packages.
   */
  readonly prekeys?: DevicePrekeys;
  /** Wall clock in ms (tests move it). */
  readonly now?: () => number;
}

/** What a thief who copied this session's memory right now would hold (for the healing tests). */
export interface KeySnapshot {
  readonly session: string;
  readonly agreementKeys: Map<number, CryptoKey>;
  readonly agreementPublic: Map<number, Uint8Array>;
  readonly received: Map<string, Map<string, ReceivingChain[]>>;
  /** Our own sending chains, as receivers at their current step, by scope (room or `@session`). */
  readonly sending: Map<string, ReceivingChain>;
}

interface DirectPeerState {
  sending?: SendingChain;
  unresolved: number;
  /** The peer's agreement key sequence our current chain was wrapped to. */
  wrappedTo: number;
  /** For an offline device: a new chain whose key package waits for the device's bundle. */
  delivering?: boolean;
}

/** A chain key waiting for offline devices' bundles before its key packages can be sealed. */
interface Delivery {
  readonly header: Omit<KeyPackageContent, "senderSession" | "recipient" | "chainKey">;
  readonly chainKey: Uint8Array<ArrayBuffer>;
  readonly recipients: Map<string, OfflineMember>;
  /** Bundle requests not answered yet. */
  pending: number;
  /** For a direct chain: what to set once its package left. */
  readonly direct?: { state: DirectPeerState; chain: SendingChain };
  /** For a room's chain: the view whose messages wait until the packages left. */
  readonly room?: RoomView;
}

class Out implements Effects {
  readonly frames: Outbound[] = [];
  readonly events: ClientEvent[] = [];
  emit(event: ClientEvent): void {
    this.events.push(event);
  }
  report(error: unknown): void {
    if (error instanceof E2EError) {
      this.events.push({ type: "error", code: error.code, message: error.message });
      return;
    }
    throw error;
  }
}

/** The end-to-end state of one session (one connection). */
export class E2ESession {
  readonly #options: EngineOptions;
  readonly #now: () => number;
  readonly #signing: SigningKeys;
  readonly #agreement: OwnAgreementKeys;
  readonly #peers: PeerDirectory;
  readonly #rooms = new Map<string, RoomView>();
  /** Chains received, by scope (room name, or "" for direct), kept across leave and rejoin. */
  readonly #received = new Map<string, ReceivedChains>();
  /** Our last epoch by scope (room name, or `@session` for a direct chain), across rejoins. */
  readonly #epochs = new Map<string, number>();
  readonly #direct = new Map<string, DirectPeerState>();
  readonly #directory = new Map<
    string,
    { sessions: string[]; offline: OfflineMember[]; at: number }
  >();
  readonly #lookups = new Map<string, string>();
  readonly #pendingWhois = new Set<string>();
  readonly #heldDirect: Extract<Inbound, { type: "dm" }>[] = [];
  readonly #offline: OfflineDirectory;
  /** Deliveries waiting for bundles, by request id. */
  readonly #deliveries = new Map<string, Delivery>();
  #announcedAt: number;
  #nextLookup = 1;

  private constructor(
    options: EngineOptions,
    signing: SigningKeys,
    agreement: OwnAgreementKeys,
  ) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#signing = signing;
    this.#agreement = agreement;
    this.#peers = new PeerDirectory(options.verifyCert, options.deviceOf, this.#now);
    this.#offline = new OfflineDirectory(options.verifyCert, options.deviceOf, this.#now);
    this.#announcedAt = this.#now();
    this.#initialAgreementPublic = agreement.current.publicKey;
  }

  /** The agreement key the announcement certifies (sequence 0), kept after it is replaced. */
  readonly #initialAgreementPublic: Uint8Array;

  /** Makes the session's keys; our own device key is accepted in the trust book. */
  static async create(options: EngineOptions): Promise<E2ESession> {
    const now = (options.now ?? Date.now)();
    const [signing, agreement] = await Promise.all([
      createSigningKeys(),
      OwnAgreementKeys.create(now),
    ]);
    const { local } = options;
    if (!options.trust.accepted(local.user).some((d) => d.fingerprint === local.keyFingerprint)) {
      await options.trust.accept(local.user, {
        fingerprint: local.keyFingerprint,
        device: local.device,
        state: "verified",
        since: new Date(now).toISOString(),
      });
    }
    return new E2ESession(options, signing, agreement);
  }

  /** The device certificate after a renewal (same key): later announcements carry it. */
  renewed(certDer: Uint8Array): void {
    this.#certDer = certDer;
  }

  #certDer: Uint8Array | undefined;

  /** Our session id. */
  get session(): string {
    return this.#options.session;
  }

  /** The announcement to send before anything else (and again every few hours). */
  async announce(): Promise<Outbound> {
    const { local, session } = this.#options;
    this.#announcedAt = this.#now();
    return {
      type: "announce",
      payload: await buildAnnouncement({
        who: { user: local.user, device: local.device, session },
        certDer: this.#certDer ?? local.certDer,
        deviceKey: local.privateKey,
        // The announcement always certifies the first key; later ones come as statements.
        agreementPublic: this.#initialAgreementPublic,
        signingPublic: this.#signing.publicKey,
        ts: this.#announcedAt,
      }),
    };
  }

  // ---- inbound ------------------------------------------------------------------------------

  /** Acts on one server frame. Peer mistakes become `error` events; nothing is thrown for them. */
  async handle(message: Inbound): Promise<Effects> {
    const out = new Out();
    try {
      switch (message.type) {
        case "joined":
          await this.#joined(message, out);
          break;
        case "left":
          this.#left(message.room);
          break;
        case "presence":
          await this.#presence(message, out);
          break;
        case "announce":
          await this.#announceFrame(message, out);
          break;
        case "agreement":
          await this.#agreementFrame(message, out);
          break;
        case "link":
          await this.#linkFrame(message, out);
          break;
        case "keys":
          await this.#keys(message, out);
          break;
        case "msg":
          await this.#roomMessage(message, out);
          break;
        case "dm":
          await this.#directMessage(message, out);
          break;
        case "peer":
          await this.#peerFrame(message, out);
          break;
        case "offline_device":
          await this.#offlineDevice(message, out);
          break;
        case "bundles":
          await this.#bundles(message, out);
          break;
      }
    } catch (error) {
      out.report(error);
    }
    return out;
  }

  async #joined(message: Extract<Inbound, { type: "joined" }>, out: Out): Promise<void> {
    let room = this.#rooms.get(message.room);
    // The server puts a session back into its user's rooms, and answers a `join` of a room it is
    // in with `joined` again: the same membership version is the same view, nothing to redo.
    if (room?.joined && !room.joining && message.version === room.version) return;
    if (!room || room.joined) {
      // A fresh view for every join; epochs and received chains carry on (they live outside it).
      room = new RoomView(message.room);
      this.#rooms.set(message.room, room);
    }
    const gathered = room.joining ?? [];
    for (const member of message.members.slice(0, MAX_JOINED_MEMBERS - gathered.length)) {
      gathered.push({ user: member.user, device: member.device, session: member.session });
      this.#descriptions.set(member.session, member);
    }
    room.joiningOffline.push(...message.offline.slice(0, MAX_JOINED_MEMBERS));
    if (message.more) {
      room.joining = gathered;
      return;
    }
    room.joining = undefined;
    room.joined = true;
    room.version = message.version;
    for (const member of gathered) {
      if (member.session === this.session) continue;
      if (this.#peers.hasEnded(member.session)) {
        out.report(
          new E2EError(
            "ended_session",
            `The server listed ${member.user}'s session that ended as a member of ${room.name}`,
          ),
        );
        continue;
      }
      const admitted = await this.#admit(this.#descriptions.get(member.session)!, out);
      this.#descriptions.delete(member.session);
      room.members.set(member.session, { ...member, ...(admitted ? { peer: admitted } : {}) });
    }
    // Offline devices after the live ones: a link vouches only through a device already accepted,
    // and on first use the user's first device is the one people actually see talking.
    for (const entry of room.joiningOffline.splice(0)) await this.#addOffline(room, entry, out);
    await this.#recordRoster(room);
    await this.#rotate(room, out);
    this.#reportMembers(room, out);
  }

  /** Descriptions of members of a `joined` that is still coming in several frames. */
  readonly #descriptions = new Map<string, MemberDescription>();

  /** Checks an offline member device and decides its trust; it joins the room's offline list. */
  async #addOffline(room: RoomView, entry: OfflineDevice, out: Out): Promise<void> {
    if (this.#isSelf(entry.user, entry.device)) return;
    const member = await this.#admitOffline(entry, out);
    if (member) room.offline.set(member.address, member);
  }

  /** True for this very device. */
  #isSelf(user: string, device: string): boolean {
    return user === this.#options.local.user && device === this.#options.local.device;
  }

  /** Checks an offline device's certificate and decides its trust, once per device and key. */
  async #admitOffline(entry: OfflineDevice, out: Out): Promise<OfflineMember | undefined> {
    try {
      const { member, isNew } = await this.#offline.admit(entry);
      // A device we saw without accepting may come back with a link that vouches for it.
      const newLink = !isNew && entry.link !== undefined && entry.link !== member.link &&
        !isAccepted(member.trust);
      if (newLink) member.link = entry.link;
      if (isNew || newLink) {
        const vouching = member.link ? await this.#verifyLink(member.link, member.user) : undefined;
        const decision = await decideTrust(
          this.#options.trust,
          { user: member.user, device: member.device, fingerprint: member.fingerprint },
          vouching,
          new Date(this.#now()),
        );
        member.trust = decision.state;
        // A link that changes nothing was already reported as it stood.
        if (isNew || isAccepted(decision.state)) {
          this.#announceDecision(member.user, member.device, member.fingerprint, decision, out);
        }
      }
      return member;
    } catch (error) {
      out.report(error);
      return undefined;
    }
  }

  async #offlineDevice(
    message: Extract<Inbound, { type: "offline_device" }>,
    out: Out,
  ): Promise<void> {
    const room = this.#rooms.get(message.room);
    if (!room?.joined) return;
    room.version = message.version;
    if (message.state === "removed" || !message.cert) {
      room.offline.delete(`${message.user}/${message.device}`);
    } else {
      await this.#addOffline(room, {
        user: message.user,
        device: message.device,
        cert: message.cert,
        ...(message.link ? { link: message.link } : {}),
      }, out);
    }
    await this.#recordRoster(room);
    await this.#rotate(room, out);
    this.#reportMembers(room, out);
  }

  #left(name: string): void {
    this.#rooms.delete(name);
    this.#received.get(name)?.dropAll();
  }

  async #presence(message: Extract<Inbound, { type: "presence" }>, out: Out): Promise<void> {
    const room = this.#rooms.get(message.room);
    if (!room?.joined) return;
    room.version = message.version;
    if (message.event === "join") {
      if (this.#peers.hasEnded(message.session)) {
        // A ghost: the server replays a session that ended. It is no member in our view.
        out.report(
          new E2EError(
            "ended_session",
            `The server offered ${message.user}'s session that ended as a member of ${room.name} again`,
          ),
        );
        return;
      }
      const member: RoomMember = {
        user: message.user,
        device: message.device,
        session: message.session,
      };
      room.members.set(message.session, member);
      room.offline.delete(`${message.user}/${message.device}`); // it is online now
      out.emit({ type: "join", room: room.name, user: message.user });
      if (message.announce) {
        const peer = await this.#admit({
          user: message.user,
          device: message.device,
          session: message.session,
          announce: message.announce,
          ...(message.agreement ? { agreement: message.agreement } : {}),
          ...(message.link ? { link: message.link } : {}),
        }, out);
        if (peer) member.peer = peer;
      }
    } else {
      const member = room.members.get(message.session);
      room.members.delete(message.session);
      this.#received.get(room.name)?.drop(message.session);
      // Left, kicked or banned: the session goes on elsewhere and may come back. Else it ended.
      if (!ROOM_EXIT_REASONS.has(message.reason ?? "")) this.#endSession(message.session);
      if (message.member === false) {
        // The user left the room: none of their devices is a member any more.
        for (const [address, entry] of room.offline) {
          if (entry.user === message.user) room.offline.delete(address);
        }
      } else if (message.offline) {
        await this.#addOffline(room, message.offline, out);
      }
      if (member) {
        out.emit({
          type: "leave",
          room: room.name,
          user: message.user,
          ...(message.reason ? { reason: message.reason } : {}),
          ...(message.member !== false && message.offline ? { offline: true as const } : {}),
        });
      }
    }
    await this.#recordRoster(room);
    // Every membership change starts a new chain: a member reads exactly what was sent while
    // they were one.
    await this.#rotate(room, out);
    this.#reportMembers(room, out);
  }

  /** A session that ended is forgotten everywhere and never accepted again. */
  #endSession(session: string): void {
    this.#peers.end(session);
    this.#direct.delete(session);
    this.#received.get(DIRECT_SCOPE)?.drop(session);
    for (const room of this.#rooms.values()) {
      const member = room.members.get(session);
      if (member) delete member.peer;
    }
  }

  async #announceFrame(message: Extract<Inbound, { type: "announce" }>, out: Out): Promise<void> {
    const peer = this.#peers.get(message.session);
    if (!peer) {
      throw new E2EError(
        "unknown_sender",
        `An announcement for a session of ${message.user} that shares nothing with you was ignored`,
      );
    }
    if (peer.user !== message.user || peer.device !== message.device) {
      throw new E2EError("bad_announcement", `Session ${message.session} is not ${message.user}'s`);
    }
    await this.#peers.refresh(peer, message.announce);
    void out;
  }

  async #agreementFrame(message: Extract<Inbound, { type: "agreement" }>, out: Out): Promise<void> {
    const peer = this.#knownSession(message.session, message.user);
    await this.#peers.updateAgreement(peer, message.payload);
    void out;
  }

  /** The known, live peer session `session`, which the server must have stamped as `user`'s. */
  #knownSession(session: string, user: string): PeerSession {
    if (this.#peers.hasEnded(session)) {
      throw new E2EError("ended_session", `A frame from ${user}'s session that ended was dropped`);
    }
    const peer = this.#peers.get(session);
    if (!peer) {
      throw new E2EError(
        "unknown_sender",
        `A frame from ${user} came from a session with no verified keys`,
      );
    }
    if (peer.user !== user) {
      throw new E2EError(
        "bad_signature",
        `A frame stamped as from ${user} came from ${peer.user}'s session`,
      );
    }
    return peer;
  }

  /** The member `session` of `room` in our view, with its verified session. */
  #roomSender(room: RoomView, session: string, user: string): PeerSession {
    const member = room.members.get(session);
    if (!member) {
      if (this.#peers.hasEnded(session)) {
        throw new E2EError(
          "ended_session",
          `A frame from ${user}'s session that ended was dropped`,
        );
      }
      throw new E2EError(
        "not_member",
        `A frame in ${room.name} claiming to be from ${user} came from a session that is not a member there`,
      );
    }
    return this.#knownSession(session, user);
  }

  async #keys(message: Extract<Inbound, { type: "keys" }>, out: Out): Promise<void> {
    const from = `${message.from}/${message.device}`;
    const direct = message.room === undefined;
    const room = direct ? undefined : this.#rooms.get(message.room!);
    if (!direct && !room?.joined) return;
    const peer = room
      ? this.#roomSender(room, message.session, message.from)
      : this.#knownSession(message.session, message.from);
    const scope = room?.name ?? DIRECT_SCOPE;
    const envelope = parseKeyPackage(message.payload, from);
    await verifyKeyPackage(envelope, {
      scope,
      senderSession: message.session,
      recipient: this.session,
      verifyKey: peer.announcement.signingKey,
    }, from);
    const seq = envelope.ref.startsWith("a") ? Number(envelope.ref.slice(1)) : -1;
    const own = this.#agreement.keyFor(seq, this.#now());
    if (!own) {
      throw new E2EError(
        "stale_key",
        `A key package from ${from} was wrapped to a key this session no longer holds (${envelope.ref})`,
      );
    }
    const content = await openKeyPackage(envelope, own, {
      kind: direct ? "direct" : "room",
      scope,
      senderSession: message.session,
      recipient: this.session,
    }, from);
    // A key that opened a package is replaced soon after, so a later snapshot of this session
    // cannot open the stored package again (and read its epoch from the start).
    this.#agreement.markUsed(own.seq, this.#now());
    const previous = this.#receivedIn(scope).add(
      message.session,
      content.epoch,
      content.chainKey as Uint8Array<ArrayBuffer>,
      from,
    );
    if (previous && content.prevCount > previous.received) {
      out.emit({
        type: "gap",
        ...(room ? { room: room.name } : {}),
        from: peer.user,
        device: peer.device,
        count: content.prevCount - previous.received,
        reason: "missing",
      });
    }
    if (room) await this.#checkRoster(room, peer, content, out);
  }

  async #checkRoster(
    room: RoomView,
    peer: PeerSession,
    content: KeyPackageContent,
    out: Out,
  ): Promise<void> {
    // The server shows every member each change before any key package made after it, so a
    // package for a version we were never shown means our view was kept behind: a fork.
    const skipped = content.version > room.version;
    const ours = room.rosterAt(content.version);
    if (!ours && !skipped) return; // a version from before we joined, or far behind
    const agrees = !skipped && ours!.toHex() === content.rosterHash.toHex();
    if (!agrees) {
      if (room.dispute?.session !== peer.session) {
        room.dispute = {
          version: content.version,
          session: peer.session,
          label: `${peer.user}/${peer.device}`,
        };
        out.emit({
          type: "roster_mismatch",
          room: room.name,
          version: content.version,
          from: peer.user,
          device: peer.device,
          ours: describeRoster(this.#rosterEntries(room)),
        });
      }
      return;
    }
    if (room.dispute?.session === peer.session && content.version > room.dispute.version) {
      room.dispute = undefined;
      out.emit({
        type: "notice",
        message: `${peer.user}/${peer.device} now sees the same members of ${room.name} as you`,
      });
      await this.#rotate(room, out);
      this.#reportMembers(room, out);
    }
  }

  #receivedIn(scope: string): ReceivedChains {
    let chains = this.#received.get(scope);
    if (!chains) {
      chains = new ReceivedChains();
      this.#received.set(scope, chains);
    }
    return chains;
  }

  async #roomMessage(message: Extract<Inbound, { type: "msg" }>, out: Out): Promise<void> {
    const room = this.#rooms.get(message.room);
    if (!room?.joined) return;
    const peer = this.#roomSender(room, message.session, message.from);
    const scope: MessageScope = { kind: "room", room: room.name };
    const plain = await this.#open(message.payload, scope, message.session, peer, room.name, out);
    out.emit(this.#messageEvent(room.name, peer, plain, message.seq, false));
  }

  #messageEvent(
    room: string,
    peer: PeerSession,
    plain: Plaintext & { late: boolean },
    seq: number,
    history: boolean,
  ): ClientEvent {
    return {
      type: "message",
      room,
      from: peer.user,
      device: peer.device,
      text: plain.text,
      ts: new Date(plain.ts).toISOString(),
      verified: isAccepted(peer.trust),
      trust: peer.trust,
      ...(plain.action ? { action: true as const } : {}),
      ...(plain.late ? { late: true as const } : {}),
      ...(seq > 0 ? { seq } : {}),
      ...(history ? { history: true as const } : {}),
    };
  }

  // ---- catching up ---------------------------------------------------------------------------

  /** This device's address, `user/device`: where key packages to its pre-keys are addressed. */
  get address(): string {
    return `${this.#options.local.user}/${this.#options.local.device}`;
  }

  /**
   * Catches up on stored traffic: a batch of this device's inbox (key packages and direct
   * messages sent while it was offline), or of a room's log. Senders come described in the same
   * frame; they are verified like any session, with their certificates checked as of their
   * announcements. Messages are then verified and opened exactly like live ones, and shown
   * marked as history. Entries this very device sent are skipped: it keeps its own messages.
   */
  async handleStored(message: Stored): Promise<Effects> {
    const out = new Out();
    for (const description of message.sessions) {
      try {
        const { peer, isNew } = await this.#peers.learnHistorical(description);
        if (isNew) await this.#decide(peer, description.link, out);
      } catch (error) {
        out.report(error);
      }
    }
    if (message.type === "inbox") {
      for (const item of message.items) {
        try {
          await this.#storedItem(item, out);
        } catch (error) {
          out.report(error);
        }
      }
      if (message.dropped > 0) {
        out.emit({
          type: "notice",
          message:
            `${message.dropped} item(s) sent to this device while it was offline were dropped by the server (inbox full or too old)`,
        });
      }
    } else {
      for (const entry of message.entries) {
        if (this.#isSelf(entry.from, entry.device)) continue;
        try {
          const peer = this.#storedSender(entry.session, entry.from, entry.device);
          const scope: MessageScope = { kind: "room", room: message.room };
          const plain = await this.#open(
            entry.payload,
            scope,
            entry.session,
            peer,
            message.room,
            out,
          );
          out.emit(this.#messageEvent(message.room, peer, plain, entry.seq, true));
        } catch (error) {
          out.report(error);
        }
      }
      if (message.missed) {
        out.emit({
          type: "notice",
          message:
            `${message.missed} message(s) of ${message.room} were removed by the server before this device read them`,
        });
      }
    }
    return out;
  }

  /** The sender of stored traffic, as the frame described it (or a live session). */
  #storedSender(session: string, user: string, device: string): PeerSession {
    const peer = this.#peers.sender(session);
    if (!peer || peer.user !== user || peer.device !== device) {
      throw new E2EError(
        "unknown_sender",
        `Stored traffic from ${user}/${device} came from a session the server did not describe`,
      );
    }
    return peer;
  }

  /** One inbox item: a key package to one of our pre-keys, or a direct message. */
  async #storedItem(
    item: Extract<Stored, { type: "inbox" }>["items"][number],
    out: Out,
  ): Promise<void> {
    const peer = this.#storedSender(item.session, item.from, item.device);
    const from = `${item.from}/${item.device}`;
    if (item.kind === "dm") {
      const plain = await this.#open(
        item.payload,
        { kind: "direct", recipient: this.address },
        item.session,
        peer,
        undefined,
        out,
      );
      this.#emitDirect(peer, plain, out, true, item.seq);
      return;
    }
    const prekeys = this.#options.prekeys;
    if (!prekeys) return;
    const scope = item.room ?? DIRECT_SCOPE;
    const envelope = parseKeyPackage(item.payload, from);
    await verifyKeyPackage(envelope, {
      scope,
      senderSession: item.session,
      recipient: this.address,
      verifyKey: peer.announcement.signingKey,
    }, from);
    const pair = await prekeys.pairFor(envelope.ref);
    if (!pair) {
      throw new E2EError(
        "stale_key",
        `A key package from ${from} was wrapped to a pre-key this device no longer holds (${envelope.ref})`,
      );
    }
    const content = await openKeyPackage(envelope, pair, {
      kind: item.room === undefined ? "direct" : "room",
      scope,
      senderSession: item.session,
      recipient: this.address,
    }, from);
    await prekeys.used(envelope.ref);
    this.#receivedIn(scope).add(
      item.session,
      content.epoch,
      content.chainKey as Uint8Array<ArrayBuffer>,
      from,
    );
  }

  /** Verifies, finds the chain step, reports gaps and decrypts one sealed message. */
  async #open(
    payload: string,
    scope: MessageScope,
    session: string,
    peer: PeerSession,
    room: string | undefined,
    out: Out,
  ): Promise<Plaintext & { late: boolean }> {
    const from = `${peer.user}/${peer.device}`;
    const envelope = parseMessage(payload, from);
    await verifyMessage(envelope, scope, session, peer.announcement.signingKey, from);
    const chains = this.#receivedIn(room ?? DIRECT_SCOPE);
    const chain = chains.get(session, envelope.epoch);
    if (!chain && envelope.epoch <= chains.highest(session)) {
      // Frames of one session arrive in order: a message of an epoch already replaced (and
      // forgotten) is one that was delivered before, sent again. So is one of the sender's
      // latest epoch whose chain was dropped when it left: after a leave, its next message
      // comes with a new epoch's key package first.
      throw new E2EError(
        "replay",
        `A replayed message from ${from} was dropped (epoch ${envelope.epoch} has ended)`,
      );
    }
    if (!chain) {
      throw new E2EError(
        "no_key",
        `A message from ${from} could not be read: no key for its epoch ${envelope.epoch} reached you`,
      );
    }
    const { key, late, skipped } = await chain.take(envelope.n).catch((error) => {
      if (error instanceof E2EError && error.code === "replay") {
        throw new E2EError(
          "replay",
          `A replayed message from ${from} was dropped (${error.message})`,
        );
      }
      throw error;
    });
    const gap = (count: number, reason: "skipped" | "reordered") =>
      out.emit({
        type: "gap",
        ...(room ? { room } : {}),
        from: peer.user,
        device: peer.device,
        count,
        reason,
      });
    if (skipped > 0) gap(skipped, "skipped");
    if (late) gap(1, "reordered");
    const plain = await openMessage(envelope, key, scope, from);
    return { ...plain, late };
  }

  async #directMessage(message: Extract<Inbound, { type: "dm" }>, out: Out): Promise<void> {
    if (!this.#peers.get(message.session) && !this.#peers.hasEnded(message.session)) {
      if (this.#heldDirect.length >= MAX_HELD_DIRECT) {
        throw new E2EError(
          "unknown_sender",
          `Too many direct messages from unknown sessions; one from ${message.from} was dropped`,
        );
      }
      this.#heldDirect.push(message);
      this.#lookup(message.from, out);
      return;
    }
    const peer = this.#knownSession(message.session, message.from);
    const scope: MessageScope = { kind: "direct", recipient: this.session };
    const plain = await this.#open(message.payload, scope, message.session, peer, undefined, out);
    this.#emitDirect(peer, plain, out, false);
  }

  /** Shows a direct message to us, or a copy our other device sent (which names its recipient). */
  #emitDirect(
    peer: PeerSession,
    plain: Plaintext & { late: boolean },
    out: Out,
    history: boolean,
    seq?: number,
  ): void {
    const me = this.#options.local.user;
    if (peer.user !== me && plain.to !== me) {
      throw new E2EError(
        "bad_payload",
        `A direct message from ${peer.user} to ${plain.to} was delivered to you`,
      );
    }
    out.emit({
      type: "dm",
      from: peer.user,
      device: peer.device,
      to: plain.to!,
      text: plain.text,
      ts: new Date(plain.ts).toISOString(),
      verified: isAccepted(peer.trust),
      trust: peer.trust,
      ...(plain.action ? { action: true as const } : {}),
      ...(plain.late ? { late: true as const } : {}),
      ...(peer.user === me ? { copy: true as const } : {}),
      ...(seq ? { seq } : {}),
      ...(history ? { history: true as const } : {}),
    });
  }

  async #peerFrame(message: Extract<Inbound, { type: "peer" }>, out: Out): Promise<void> {
    if (this.#lookups.get(message.id) !== message.user) return; // not a lookup we made
    this.#lookups.delete(message.id);
    const sessions: string[] = [];
    for (const description of message.sessions) {
      if (description.session === this.session || description.user !== message.user) continue;
      const peer = await this.#admit(description, out);
      if (peer) sessions.push(peer.session);
    }
    const offline: OfflineMember[] = [];
    for (const entry of message.offline ?? []) {
      if (entry.user !== message.user || this.#isSelf(entry.user, entry.device)) continue;
      const member = await this.#admitOffline(entry, out);
      if (member) offline.push(member);
    }
    this.#directory.set(message.user, { sessions, offline, at: this.#now() });
    if (this.#pendingWhois.delete(message.user)) out.emit(this.#whoisEvent(message.user, true));
    const held = this.#heldDirect.filter((dm) => dm.from === message.user);
    this.#heldDirect.splice(
      0,
      this.#heldDirect.length,
      ...this.#heldDirect.filter((dm) => !held.includes(dm)),
    );
    for (const dm of held) {
      try {
        if (!this.#peers.get(dm.session)) {
          throw new E2EError(
            "unknown_sender",
            `A direct message from ${dm.from} came from a session the lookup did not list`,
          );
        }
        await this.#directMessage(dm, out);
      } catch (error) {
        out.report(error);
      }
    }
  }

  /**
   * The server refused one of our `bundles` requests (its store failed): the devices it named
   * get nothing of that chain, and are reported as not reached; what waited for them goes on.
   */
  async bundlesRefused(id: string): Promise<Effects> {
    const out = new Out();
    if (this.#deliveries.has(id)) {
      await this.#bundles({ type: "bundles", id, bundles: [] }, out, true);
    }
    return out;
  }

  /** The server could not look `user` up (offline, or no such user). */
  lookupFailed(id: string, reason: string): Effects {
    const out = new Out();
    const user = this.#lookups.get(id);
    if (user === undefined) return out;
    this.#lookups.delete(id);
    this.#directory.set(user, { sessions: [], offline: [], at: this.#now() });
    if (this.#pendingWhois.delete(user)) out.emit(this.#whoisEvent(user, false));
    const held = this.#heldDirect.filter((dm) => dm.from === user);
    if (held.length > 0) {
      this.#heldDirect.splice(
        0,
        this.#heldDirect.length,
        ...this.#heldDirect.filter((dm) => !held.includes(dm)),
      );
      out.emit({
        type: "error",
        code: "unknown_sender",
        message: `${held.length} direct message(s) from ${user} could not be verified (${reason})`,
      });
    }
    return out;
  }

  // ---- admission and trust -------------------------------------------------------------------

  /** Verifies a described session and decides its device's trust; failures are reported. */
  async #admit(description: MemberDescription, out: Out): Promise<PeerSession | undefined> {
    try {
      const { peer, isNew } = await this.#peers.learn(description);
      if (isNew) await this.#decide(peer, description.link, out);
      return peer;
    } catch (error) {
      out.report(error);
      return undefined;
    }
  }

  async #decide(peer: PeerSession, link: string | undefined, out: Out): Promise<void> {
    const fingerprint = peer.announcement.keyFingerprint;
    const vouching = link ? await this.#verifyLink(link, peer.user) : undefined;
    const decision = await decideTrust(
      this.#options.trust,
      { user: peer.user, device: peer.device, fingerprint },
      vouching,
      new Date(this.#now()),
    );
    peer.trust = decision.state;
    this.#announceDecision(peer.user, peer.device, fingerprint, decision, out);
  }

  /** Tells the user what a trust decision about a device key came to, when there is news. */
  #announceDecision(
    user: string,
    device: string,
    fingerprint: string,
    decision: Awaited<ReturnType<typeof decideTrust>>,
    out: Out,
  ): void {
    if (decision.newly) {
      out.emit({
        type: "device_accepted",
        user,
        device,
        fingerprint,
        trust: decision.newly,
        ...(decision.by ? { by: decision.by } : {}),
      });
    } else if (decision.state === "not_accepted") {
      out.emit({
        type: "key_changed",
        user,
        device,
        fingerprint,
        trusted: this.#options.trust.accepted(user).map((entry) => entry.fingerprint),
      });
    }
  }

  async #verifyLink(link: string, user: string): Promise<VerifiedLink | undefined> {
    try {
      return await verifyDeviceLink(
        link,
        user,
        this.#options.verifyCert,
        this.#options.deviceOf,
        new Date(this.#now()),
      );
    } catch {
      return undefined; // a link that does not verify vouches for nothing
    }
  }

  /** A link for a device we see but do not accept may make it vouched: decide again. */
  async #linkFrame(message: Extract<Inbound, { type: "link" }>, out: Out): Promise<void> {
    const peer = this.#knownSession(message.session, message.user);
    if (peer.device !== message.device || isAccepted(peer.trust)) return;
    await this.#decide(peer, message.link, out);
    if (isAccepted(peer.trust)) await this.#rotateRoomsWith([peer], out);
  }

  /**
   * Our own device's link, from the device that invited it: when its proof shows the signer
   * held the vouching secret of our invite, the signer is the device that invited us, and we
   * accept it (the server, which never saw the secret, cannot make such a link).
   */
  async ownLink(link: string, secret: Uint8Array): Promise<Effects> {
    const out = new Out();
    const { local } = this.#options;
    const verified = await this.#verifyLink(link, local.user);
    if (
      !verified || verified.device !== local.device ||
      verified.fingerprint !== local.keyFingerprint ||
      !await checkLinkProof(verified, local.user, secret)
    ) {
      out.emit({
        type: "error",
        code: "bad_link",
        message:
          "The link the server holds for this device does not prove it came from the device that invited it",
      });
      return out;
    }
    const known = this.#options.trust.accepted(local.user)
      .some((entry) => entry.fingerprint === verified.signerFingerprint);
    if (known) return out;
    await this.#options.trust.accept(local.user, {
      fingerprint: verified.signerFingerprint,
      device: verified.signerDevice,
      state: "vouched",
      since: new Date(this.#now()).toISOString(),
      by: local.device,
    });
    out.emit({
      type: "device_accepted",
      user: local.user,
      device: verified.signerDevice,
      fingerprint: verified.signerFingerprint,
      trust: "vouched",
      invitedUs: true,
    });
    const upgraded = this.#peers.sessionsOf(local.user).filter((peer) =>
      peer.announcement.keyFingerprint === verified.signerFingerprint
    );
    for (const peer of upgraded) peer.trust = "vouched";
    await this.#rotateRoomsWith(upgraded, out);
    return out;
  }

  /** Rooms where one of `peers` is a member start a new chain, so those peers get our keys. */
  async #rotateRoomsWith(peers: PeerSession[], out: Out): Promise<void> {
    for (const room of this.#rooms.values()) {
      if ([...room.members.values()].some((m) => m.peer && peers.includes(m.peer))) {
        await this.#rotate(room, out);
        this.#reportMembers(room, out);
      }
    }
  }

  /**
   * Accepts exactly the seen device key of `user` whose fingerprint starts with `prefix` (at
   * least {@linkcode MIN_TRUST_PREFIX_DIGITS} hex digits, colons optional), after the user
   * compared it out of band. Rooms it is in start a new chain, so it gets our keys.
   */
  async trust(user: string, prefix: string): Promise<Effects> {
    const out = new Out();
    const digits = fingerprintDigits(prefix);
    if (!/^[0-9A-F]+$/.test(digits) || digits.length < MIN_TRUST_PREFIX_DIGITS) {
      out.emit({
        type: "error",
        code: "bad_fingerprint",
        message:
          `Give at least ${MIN_TRUST_PREFIX_DIGITS} hex digits of the fingerprint you compared (see /whois ${user})`,
      });
      return out;
    }
    const matches = this.#peers.sessionsOf(user).filter((peer) =>
      fingerprintDigits(peer.announcement.keyFingerprint).startsWith(digits)
    );
    const keys = new Set(matches.map((peer) => peer.announcement.keyFingerprint));
    if (keys.size !== 1) {
      out.emit({
        type: "error",
        code: "unknown_key",
        message: keys.size === 0
          ? `No key of ${user} starting with ${prefix} has been seen; /whois ${user} lists them`
          : `More than one key of ${user} starts with ${prefix}; give more digits`,
      });
      return out;
    }
    const fingerprint = [...keys][0]!;
    const device = matches[0]!.device;
    await this.#options.trust.accept(user, {
      fingerprint,
      device,
      state: "verified",
      since: new Date(this.#now()).toISOString(),
    });
    for (const peer of matches) peer.trust = "verified";
    out.emit({ type: "trusted", user, device, fingerprint });
    await this.#rotateRoomsWith(matches, out);
    return out;
  }

  /** Looks `user` up and reports every device with its trust (a `whois` event). */
  whois(user: string): Effects {
    const out = new Out();
    this.#pendingWhois.add(user);
    this.#lookup(user, out);
    return out;
  }

  #whoisEvent(user: string, online: boolean): ClientEvent {
    const devices = new Map<string, DeviceTrustInfo>();
    const { local } = this.#options;
    if (user === local.user) {
      devices.set(local.keyFingerprint, {
        device: local.device,
        fingerprint: local.keyFingerprint,
        trust: "verified",
        online: true,
      });
    }
    for (const entry of this.#options.trust.accepted(user)) {
      if (!devices.has(entry.fingerprint)) {
        devices.set(entry.fingerprint, {
          device: entry.device,
          fingerprint: entry.fingerprint,
          trust: entry.state,
          online: false,
        });
      }
    }
    for (const peer of this.#peers.sessionsOf(user)) {
      const fingerprint = peer.announcement.keyFingerprint;
      devices.set(fingerprint, {
        device: peer.device,
        fingerprint,
        trust: peer.trust as TrustLevel,
        online: online && (this.#directory.get(user)?.sessions.includes(peer.session) ?? false),
      });
    }
    return { type: "whois", user, online, devices: [...devices.values()] };
  }

  // ---- rotation ------------------------------------------------------------------------------

  async #recordRoster(room: RoomView): Promise<void> {
    room.recordRoster(
      room.version,
      await rosterHash(room.name, room.version, this.#rosterEntries(room)),
    );
  }

  #rosterEntries(room: RoomView): RosterEntry[] {
    const { local } = this.#options;
    return [
      {
        user: local.user,
        device: local.device,
        session: this.session,
        keyFingerprint: local.keyDigest,
      },
      ...room.rosterEntries(),
    ];
  }

  /** Replaces our agreement key and announces the new one (before any package of a rotation). */
  async #replaceAgreementKey(out: Out): Promise<void> {
    const key = await this.#agreement.replace(this.#now());
    out.frames.push({
      type: "agreement",
      payload: await buildAgreementStatement(this.session, key, this.#signing.pair.privateKey),
    });
  }

  /**
   * Starts a new sending epoch in `room` and hands its key to every member we accept, once all
   * our messages of the current epoch are resolved (so the package can say how many the server
   * accepted); until then the room waits.
   */
  async #rotate(room: RoomView, out: Out): Promise<void> {
    if (!room.joined) return;
    if (room.unresolved > 0) {
      room.rotation = "wanted";
      return;
    }
    room.rotation = "running";
    try {
      const prevCount = room.sending?.accepted ?? 0;
      await this.#replaceAgreementKey(out);
      const epoch = (this.#epochs.get(room.name) ?? 0) + 1;
      this.#epochs.set(room.name, epoch);
      const { chain, initialKey } = SendingChain.create(epoch, this.#now());
      const hash = room.rosterAt(room.version) ?? ZERO_HASH;
      const recipients = room.acceptedMembers().filter((member) =>
        member.session !== room.dispute?.session
      );
      const header = {
        kind: "room" as const,
        scope: room.name,
        epoch,
        prevCount,
        version: room.version,
        rosterHash: hash,
      };
      const items = await this.#packages(
        recipients.map((member) => member.peer!),
        header,
        initialKey,
      );
      this.#pushKeys(out, room.name, items);
      // Offline member devices get the same chain key through their pre-keys, once the server
      // has handed out their bundles (their packages then wait in their inboxes).
      const offline = room.acceptedOffline();
      if (offline.length > 0) {
        room.delivering += 1;
        this.#startDelivery(header, initialKey, offline, out, { room });
      }
      initialKey.fill(0);
      room.sending = chain;
    } finally {
      room.rotation = "idle";
    }
  }

  async #packages(
    recipients: PeerSession[],
    header: Omit<KeyPackageContent, "senderSession" | "recipient" | "chainKey">,
    chainKey: Uint8Array,
  ): Promise<KeyItem[]> {
    if (recipients.length === 0) return [];
    const ephemeral = await createEphemeral();
    return await Promise.all(recipients.map(async (peer) => ({
      to: peer.session,
      payload: await sealKeyPackage({
        content: { ...header, senderSession: this.session, recipient: peer.session, chainKey },
        ref: `a${peer.agreement.seq}`,
        recipientPublic: peer.agreement.publicKey,
        ephemeral,
        signingKey: this.#signing.pair.privateKey,
      }),
    })));
  }

  /**
   * Keeps a copy of `chainKey` until the bundles of `recipients` (offline devices) arrive, and
   * asks the server for them.
   */
  #startDelivery(
    header: Delivery["header"],
    chainKey: Uint8Array,
    recipients: OfflineMember[],
    out: Out,
    waiting: Pick<Delivery, "direct" | "room">,
  ): void {
    const delivery: Delivery = {
      header,
      chainKey: chainKey.slice(),
      recipients: new Map(recipients.map((member) => [member.address, member])),
      pending: 0,
      ...waiting,
    };
    const addresses = [...delivery.recipients.keys()];
    for (let i = 0; i < addresses.length; i += MAX_BUNDLE_DEVICES) {
      const id = `b${this.#nextLookup++}${randomBytes(3).toHex()}`;
      this.#deliveries.set(id, delivery);
      delivery.pending += 1;
      out.frames.push({ type: "bundles", id, devices: addresses.slice(i, i + MAX_BUNDLE_DEVICES) });
    }
  }

  /** Bundles arrived: seal the waiting chain key to each offline device's pre-key. */
  async #bundles(
    message: Extract<Inbound, { type: "bundles" }>,
    out: Out,
    refused = false,
  ): Promise<void> {
    const delivery = this.#deliveries.get(message.id);
    if (!delivery) return;
    // Bundles with certificates may take several frames: the last one says so.
    if (!message.more) {
      this.#deliveries.delete(message.id);
      delivery.pending -= 1;
    }
    const byAddress = new Map<string, PrekeyBundle>();
    for (const bundle of message.bundles) byAddress.set(`${bundle.user}/${bundle.device}`, bundle);
    const items: KeyItem[] = [];
    for (const address of message.bundles.length ? byAddress.keys() : []) {
      const member = delivery.recipients.get(address);
      if (!member) continue;
      delivery.recipients.delete(address);
      try {
        const prekey = await prekeyFromBundle(
          member,
          byAddress.get(address)!,
          this.#options.verifyCert,
          new Date(this.#now()),
        );
        items.push({
          to: address,
          payload: await sealKeyPackage({
            content: {
              ...delivery.header,
              senderSession: this.session,
              recipient: address,
              chainKey: delivery.chainKey,
            },
            ref: prekeyRef(prekey),
            recipientPublic: prekey.publicKey,
            ephemeral: await createEphemeral(),
            signingKey: this.#signing.pair.privateKey,
          }),
        });
      } catch (error) {
        out.report(error);
      }
    }
    this.#pushKeys(out, delivery.header.kind === "room" ? delivery.header.scope : undefined, items);
    if (delivery.pending > 0 || message.more) return;
    for (const member of delivery.recipients.values()) {
      out.emit({
        type: "notice",
        message: refused
          ? `The server could not hand out ${member.address}'s pre-keys: it cannot read this until it is back`
          : `${member.address} is offline and has published no pre-keys: it cannot read this until it is back`,
      });
    }
    delivery.chainKey.fill(0);
    const room = delivery.room;
    if (room) {
      room.delivering = Math.max(0, room.delivering - 1);
      // Members are reported once the room is ready again (see `#reportMembers`).
      if (this.#rooms.get(room.name) === room) this.#reportMembers(room, out);
    }
    if (delivery.direct) {
      const { state, chain } = delivery.direct;
      state.delivering = false;
      if (items.length > 0) state.sending = chain;
    }
  }

  /**
   * What this device should publish of its pre-keys, given what the server holds: `prekeys`
   * frames with new keys signed by the device key (none when nothing is due).
   */
  async prekeyUpload(server: { signed: boolean; onetime: number }): Promise<Outbound[]> {
    const prekeys = this.#options.prekeys;
    if (!prekeys) return [];
    const { local } = this.#options;
    const due = await prekeys.due(server, this.#now());
    const sign = (key: Parameters<typeof signPrekey>[2]) =>
      signPrekey(local.user, local.device, key, local.privateKey);
    const signed = due.signed ? await sign(due.signed) : undefined;
    const onetime = await Promise.all(due.onetime.map(sign));
    if (!signed && onetime.length === 0) return [];
    const frames: Outbound[] = [];
    for (let i = 0; i === 0 || i < onetime.length; i += MAX_PREKEYS_PER_FRAME) {
      frames.push({
        type: "prekeys",
        ...(i === 0 && signed ? { signed } : {}),
        onetime: onetime.slice(i, i + MAX_PREKEYS_PER_FRAME),
      });
    }
    return frames;
  }

  #pushKeys(out: Out, room: string | undefined, items: KeyItem[]): void {
    for (let i = 0; i < items.length; i += KEY_ITEMS_PER_FRAME) {
      out.frames.push({
        type: "keys",
        ...(room !== undefined ? { room } : {}),
        items: items.slice(i, i + KEY_ITEMS_PER_FRAME),
      });
    }
  }

  #reportMembers(room: RoomView, out: Out): void {
    if (!room.ready) return;
    const users = new Set([this.#options.local.user]);
    for (const member of room.members.values()) users.add(member.user);
    const list = [...users].sort();
    const text = list.join(",");
    if (text === room.lastReported) return;
    room.lastReported = text;
    out.emit({ type: "members", room: room.name, members: list });
  }

  // ---- sending -------------------------------------------------------------------------------

  /** True when a message can be sealed in `room` right now. */
  roomReady(room: string): boolean {
    return this.#rooms.get(room)?.ready ?? false;
  }

  /** Why `room` cannot take a message now, for an `undelivered` reason. */
  roomWaitReason(room: string): string {
    const view = this.#rooms.get(room);
    if (!view?.joined) return `not in ${room} yet`;
    if (view.dispute) {
      return `${view.dispute.label} sees different members of ${room} than you (roster mismatch)`;
    }
    return `keys for ${room} were not in place`;
  }

  /**
   * Seals `plain` for `room` with the next step of our chain, rotating first when the chain is
   * due. Returns undefined when the room is not ready (the caller keeps the message queued),
   * plus the frames a rotation produced.
   */
  async sealRoom(
    room: string,
    plain: Plaintext,
  ): Promise<{ sealed?: SealedRoomMessage; effects: Effects }> {
    const out = new Out();
    const view = this.#rooms.get(room);
    if (!view?.ready) return { effects: out };
    if (view.sending!.dueAt(this.#now())) {
      await this.#rotate(view, out);
      if (!view.ready) return { effects: out };
    }
    const chain = view.sending!;
    const { n, messageKey } = await chain.nextKey();
    const payload = await sealMessage({
      scope: { kind: "room", room },
      session: this.session,
      epoch: chain.epoch,
      n,
      messageKey,
      signingKey: this.#signing.pair.privateKey,
      plain,
    });
    messageKey.fill(0);
    view.unresolved += 1;
    return { sealed: { room, payload, version: view.version, epoch: chain.epoch }, effects: out };
  }

  /**
   * The server accepted (`ack`) or refused one of our room messages of `epoch`. A rotation that
   * waited for the last one of its epoch runs now.
   */
  async roomResolved(room: string, epoch: number, accepted: boolean): Promise<Effects> {
    const out = new Out();
    const view = this.#rooms.get(room);
    if (!view?.sending || view.sending.epoch !== epoch) return out;
    view.unresolved = Math.max(0, view.unresolved - 1);
    if (accepted) view.sending.markAccepted();
    if (view.unresolved === 0 && view.rotation === "wanted") {
      await this.#rotate(view, out);
      this.#reportMembers(view, out);
    }
    return out;
  }

  /**
   * Seals a direct message to `user`: one copy for every accepted device session of theirs that
   * is online, and one for each of our own other accepted devices. Asks the server for their
   * sessions first when the last answer is older than {@linkcode DIRECT_LOOKUP_TTL_MS}.
   */
  async sealDirect(
    user: string,
    plain: Plaintext,
  ): Promise<{ seal: DirectSeal; effects: Effects }> {
    const out = new Out();
    const me = this.#options.local.user;
    const targets: PeerSession[] = [];
    const offline: OfflineMember[] = [];
    let waiting = false;
    for (const who of user === me ? [me] : [user, me]) {
      const entry = this.#directory.get(who);
      if (!entry || this.#now() - entry.at > DIRECT_LOOKUP_TTL_MS) {
        this.#lookup(who, out);
        waiting = true;
        continue;
      }
      for (const session of entry.sessions) {
        const peer = this.#peers.get(session);
        if (peer && isAccepted(peer.trust)) targets.push(peer);
      }
      // Devices of the same user with no live session get it in their inbox.
      for (const member of entry.offline) {
        const online = targets.some((peer) =>
          peer.user === member.user && peer.device === member.device
        );
        if (!online && isAccepted(member.trust)) offline.push(member);
      }
    }
    if (waiting) return { seal: { status: "wait" }, effects: out };
    const reaches = targets.some((peer) => peer.user === user) ||
      offline.some((member) => member.user === user);
    if (!reaches) {
      const entry = this.#directory.get(user)!;
      return {
        seal: {
          status: "failed",
          reason: entry.sessions.length + entry.offline.length === 0
            ? `${user} has no device you can reach`
            : `no device of ${user} that you accept (/whois ${user})`,
        },
        effects: out,
      };
    }
    // Every copy needs a chain in place first; an offline device's waits for its bundle.
    for (const peer of targets) {
      const state = this.#directState(peer.session);
      // A direct chain also ends when the peer replaced its agreement key: it rotated, so a
      // snapshot of it stops opening what we send it from our next message on.
      if (
        !state.sending || state.sending.dueAt(this.#now()) ||
        peer.agreement.seq > state.wrappedTo
      ) {
        if (state.unresolved > 0) return { seal: { status: "wait" }, effects: out };
        await this.#rotateDirect(peer, state, out);
      }
    }
    for (const member of offline) {
      const state = this.#directState(member.address);
      if (state.delivering) waiting = true;
      else if (!state.sending || state.sending.dueAt(this.#now())) {
        if (state.unresolved > 0) return { seal: { status: "wait" }, effects: out };
        await this.#rotateDirectOffline(member, state, out);
        waiting = true;
      }
    }
    if (waiting) return { seal: { status: "wait" }, effects: out };
    const copies: SealedDirectCopy[] = [];
    const recipients: { key: string; user: string; device: string; session?: string }[] = [
      ...targets.map((peer) => ({
        key: peer.session,
        user: peer.user,
        device: peer.device,
        session: peer.session,
      })),
      ...offline.map((member) => ({
        key: member.address,
        user: member.user,
        device: member.device,
      })),
    ];
    for (const recipient of recipients) {
      const state = this.#direct.get(recipient.key)!;
      const chain = state.sending!;
      const { n, messageKey } = await chain.nextKey();
      const payload = await sealMessage({
        scope: { kind: "direct", recipient: recipient.key },
        session: this.session,
        epoch: chain.epoch,
        n,
        messageKey,
        signingKey: this.#signing.pair.privateKey,
        plain: { ...plain, to: user },
      });
      messageKey.fill(0);
      state.unresolved += 1;
      copies.push({
        to: recipient.user,
        device: recipient.device,
        ...(recipient.session ? { session: recipient.session } : {}),
        payload,
        epoch: chain.epoch,
      });
    }
    return { seal: { status: "sealed", copies }, effects: out };
  }

  /** The direct chain state toward `target` (a session id, or an offline device's address). */
  #directState(target: string): DirectPeerState {
    let state = this.#direct.get(target);
    if (!state) {
      state = { unresolved: 0, wrappedTo: -1 };
      this.#direct.set(target, state);
    }
    return state;
  }

  /** A new direct chain to an offline device: its package waits for the device's bundle. */
  async #rotateDirectOffline(
    member: OfflineMember,
    state: DirectPeerState,
    out: Out,
  ): Promise<void> {
    const prevCount = state.sending?.accepted ?? 0;
    await this.#replaceAgreementKey(out);
    const scopeKey = `@${member.address}`;
    const epoch = (this.#epochs.get(scopeKey) ?? 0) + 1;
    this.#epochs.set(scopeKey, epoch);
    const { chain, initialKey } = SendingChain.create(epoch, this.#now());
    state.delivering = true;
    this.#startDelivery(
      { kind: "direct", scope: DIRECT_SCOPE, epoch, prevCount, version: 0, rosterHash: ZERO_HASH },
      initialKey,
      [member],
      out,
      { direct: { state, chain } },
    );
    initialKey.fill(0);
  }

  async #rotateDirect(peer: PeerSession, state: DirectPeerState, out: Out): Promise<void> {
    const prevCount = state.sending?.accepted ?? 0;
    await this.#replaceAgreementKey(out);
    const scopeKey = `@${peer.session}`;
    const epoch = (this.#epochs.get(scopeKey) ?? 0) + 1;
    this.#epochs.set(scopeKey, epoch);
    const { chain, initialKey } = SendingChain.create(epoch, this.#now());
    const items = await this.#packages([peer], {
      kind: "direct",
      scope: DIRECT_SCOPE,
      epoch,
      prevCount,
      version: 0,
      rosterHash: ZERO_HASH,
    }, initialKey);
    initialKey.fill(0);
    this.#pushKeys(out, undefined, items);
    state.sending = chain;
    state.wrappedTo = peer.agreement.seq;
  }

  /** The server accepted or refused one copy of a direct message sent to `session`. */
  directResolved(session: string, epoch: number, accepted: boolean): void {
    const state = this.#direct.get(session);
    if (!state?.sending || state.sending.epoch !== epoch) return;
    state.unresolved = Math.max(0, state.unresolved - 1);
    if (accepted) state.sending.markAccepted();
  }

  /** The server says `user`'s session changed: look them up again before the next copy. */
  forgetDirectory(user: string): void {
    this.#directory.delete(user);
  }

  #lookup(user: string, out: Out): void {
    for (const pending of this.#lookups.values()) if (pending === user) return;
    const id = `l${this.#nextLookup++}${randomBytes(3).toHex()}`;
    this.#lookups.set(id, user);
    out.frames.push({ type: "lookup", id, user });
  }

  // ---- upkeep --------------------------------------------------------------------------------

  /** Periodic upkeep: replaces an agreement key an hour old, re-announces every few hours. */
  async tick(): Promise<Effects> {
    const out = new Out();
    const now = this.#now();
    if (this.#agreement.due(now)) await this.#replaceAgreementKey(out);
    this.#agreement.prune(now);
    if (now - this.#announcedAt > ANNOUNCE_REFRESH_MS) out.frames.push(await this.announce());
    return out;
  }

  // ---- inspection ----------------------------------------------------------------------------

  /** The members of `room` as the prompt shows them. */
  roomMembers(room: string): { user: string; device: string; verified: boolean | null }[] {
    const view = this.#rooms.get(room);
    if (!view) return [];
    return [...view.members.values()].map((member) => ({
      user: member.user,
      device: member.device,
      verified: member.peer ? isAccepted(member.peer.trust) : null,
    }));
  }

  /** True when the room view exists and is joined. */
  isJoined(room: string): boolean {
    return this.#rooms.get(room)?.joined ?? false;
  }

  /** Users whose messages count as verified now (every device we know of theirs is accepted). */
  isVerified(user: string): boolean | null {
    const peers = this.#peers.sessionsOf(user);
    if (peers.length === 0) return null;
    return peers.every((peer) => isAccepted(peer.trust));
  }

  /** A copy of every key this session holds right now: what a memory snapshot would give a thief. */
  keySnapshot(): KeySnapshot {
    // One clock reading, pruned first: a key past its grace is gone, not listed then missing.
    const now = this.#now();
    this.#agreement.prune(now);
    const agreementKeys = this.#agreement.held();
    const agreementPublic = new Map<number, Uint8Array>();
    for (const seq of agreementKeys.keys()) {
      agreementPublic.set(seq, this.#agreement.keyFor(seq, now)!.publicKey.slice());
    }
    const received = new Map<string, Map<string, ReceivingChain[]>>();
    for (const [scope, chains] of this.#received) {
      const copies = new Map<string, ReceivingChain[]>();
      for (const [session, list] of chains.held()) {
        copies.set(session, list.map((chain) => chain.clone()));
      }
      received.set(scope, copies);
    }
    const sending = new Map<string, ReceivingChain>();
    for (const [name, room] of this.#rooms) {
      if (room.sending) sending.set(name, room.sending.snapshot());
    }
    for (const [session, state] of this.#direct) {
      if (state.sending) sending.set(`@${session}`, state.sending.snapshot());
    }
    return { session: this.session, agreementKeys, agreementPublic, received, sending };
  }
}
