/**
 * The `joined` answer as frames: the room's other live members and its offline member devices,
 * packed by size so that each frame fits {@linkcode MAX_FRAME_BYTES} and neither list passes its
 * count limit; all but the last frame say `more: true`.
 *
 * @module
 */

import { encodeFrame, FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from "../protocol/framing.ts";
import {
  MAX_LISTED_MEMBERS,
  MAX_LISTED_OFFLINE,
  type MemberInfo,
  type OfflineDevice,
} from "../protocol/messages.ts";

/** Room for the frame's own fields (type, room name, version, seq, `more`) beside the lists. */
const JOINED_OVERHEAD_BYTES = 256;

/**
 * The `joined` answer as frames: every member, then every offline member device, in as many
 * frames as it takes to keep each within {@linkcode MAX_FRAME_BYTES},
 * {@linkcode MAX_LISTED_MEMBERS} and {@linkcode MAX_LISTED_OFFLINE}. A room of a hundred members
 * with real announcements needs two or more. Every frame carries the same `version` and `seq`.
 */
export function joinedFrames(
  room: string,
  version: number,
  members: MemberInfo[],
  offline: OfflineDevice[] = [],
  seq = 0,
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const budget = MAX_FRAME_BYTES - FRAME_HEADER_BYTES - JOINED_OVERHEAD_BYTES;
  let frameMembers: MemberInfo[] = [];
  let frameOffline: OfflineDevice[] = [];
  let bytes = 0;
  const flush = (more: boolean) => {
    frames.push(encodeFrame({
      type: "joined",
      room,
      members: frameMembers,
      offline: frameOffline,
      version,
      seq,
      ...(more ? { more: true } : {}),
    }));
    frameMembers = [];
    frameOffline = [];
    bytes = 0;
  };
  const add = <T>(item: T, list: () => T[], max: number) => {
    // Every field is ASCII, so the JSON text's length is its byte length.
    const size = JSON.stringify(item).length + 1;
    const empty = frameMembers.length === 0 && frameOffline.length === 0;
    if (!empty && (bytes + size > budget || list().length >= max)) flush(true);
    list().push(item);
    bytes += size;
  };
  for (const member of members) add(member, () => frameMembers, MAX_LISTED_MEMBERS);
  for (const device of offline) add(device, () => frameOffline, MAX_LISTED_OFFLINE);
  flush(false);
  return frames;
}
