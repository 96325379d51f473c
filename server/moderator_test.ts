import { assert, assertEquals } from "../tests/support/assert.ts";
import { encodeFrame, MAX_FRAME_BYTES } from "../protocol/framing.ts";
import { decodeServerMessage } from "../protocol/messages.ts";
import { MAX_LISTED_BANS, MAX_REASON_LENGTH } from "../protocol/moderation/limits.ts";
import { MAX_LIST_ENTRIES } from "./store/mod.ts";
import { bannedFrames } from "./moderator.ts";
import type { BanInfo } from "./moderation/mod.ts";

function bans(count: number, reason: string): BanInfo[] {
  return Array.from({ length: count }, (_, i) => ({
    user: `user${String(i).padStart(4, "0")}`,
    by: "alice",
    reason,
    at: 1_735_689_600_000,
    until: i % 2 ? null : 1_735_696_800_000,
  }));
}

Deno.test("bannedFrames() answers an empty list in one frame", () => {
  assertEquals(bannedFrames("k1", "lobby", []), [
    { type: "moderated", id: "k1", kind: "banned", room: "lobby", bans: [] },
  ]);
});

Deno.test("bannedFrames() splits the fullest list (every ban with the longest reason, in three-byte characters) into frames that fit and decode, all but the last saying more", () => {
  for (const reason of ["", "r".repeat(MAX_REASON_LENGTH), "€".repeat(MAX_REASON_LENGTH)]) {
    const all = bans(MAX_LIST_ENTRIES, reason);
    const frames = bannedFrames("k1", "lobby", all);
    const listed: BanInfo[] = [];
    for (const [i, frame] of frames.entries()) {
      const bytes = encodeFrame(frame);
      assert(bytes.length <= MAX_FRAME_BYTES, `frame ${i} has ${bytes.length} bytes`);
      const decoded = decodeServerMessage(bytes.subarray(4));
      assert(decoded.type === "moderated" && decoded.kind === "banned");
      assert(decoded.bans.length <= MAX_LISTED_BANS);
      assertEquals(decoded.more, i < frames.length - 1 ? true : undefined);
      listed.push(...decoded.bans);
    }
    assertEquals(listed, all);
    if (reason === "") assertEquals(frames.length, Math.ceil(MAX_LIST_ENTRIES / MAX_LISTED_BANS));
    else assert(frames.length > 2);
  }
});
