/**
 * Checks shared by the tests where alice adds a second device (her phone, from her laptop) and
 * bob shares a room with both: what each `openchat join --json` process shows.
 *
 * @module
 */

import { assert, assertEquals } from "./assert.ts";
import type { JoinProcess } from "./join_process.ts";

/**
 * The laptop vouched for the phone (its link request proved the key came with the token): bob
 * accepts the phone without a prompt, the phone accepts the laptop that invited it, and nobody
 * sees a changed key.
 */
export async function expectPhoneVouched(
  laptop: JoinProcess,
  phone: JoinProcess,
  bob: JoinProcess,
  waitMs: number,
): Promise<void> {
  const vouched = await bob.next(
    "device_accepted",
    (e) => e.user === "alice" && e.device === "phone",
    waitMs,
  );
  assertEquals([vouched.trust, vouched.by], ["vouched", "laptop"]);
  const inviter = await phone.next(
    "device_accepted",
    (e) => e.user === "alice" && e.device === "laptop",
    waitMs,
  );
  assertEquals(inviter.trust, "vouched");
  for (const member of [laptop, phone, bob]) {
    assert(!member.events.some((e) => e.type === "key_changed"), "a key was not accepted");
  }
}

/** `who` shows the room message `text` from `from`, verified. */
export async function heardVerified(
  who: JoinProcess,
  from: string,
  text: string,
  waitMs: number,
): Promise<void> {
  const event = await who.next("message", (e) => e.text === text, waitMs);
  assertEquals([event.from, event.verified], [from, true]);
}
