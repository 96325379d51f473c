/**
 * Back-pressure from readers to senders. The server reads one frame at a time from each session
 * and used to relay it at once, so a member who wrote a burst of full-size messages put all of it
 * into every other member's queue before any of them could read a byte. Now, before a frame is
 * routed, the server looks at every session it may queue frames for (the sender included): while
 * any of them is *behind* (more than `behindBytes` queued, see `protocol/transport.ts`), the frame
 * waits, and nothing more is read from the sender. The check and the routing run in one step, so
 * however many senders wait on one reader, its queue never holds more than the mark plus one
 * frame; the rest of a burst waits in the sender's own socket, and TCP slows the sender down.
 * How long a reader may hold senders back is bounded by the slow-reader deadline
 * (`SLOW_READER_TIMEOUT_MS`): a session that stays behind that long is closed.
 *
 * @module
 */

import type { Session } from "./session.ts";

/**
 * Resolves once every session in `targets` that is behind has caught up or been closed.
 *
 * @returns undefined when none is behind (the common case: no promise, no delay).
 */
export function whenCaughtUp(targets: Iterable<Session>): Promise<void> | undefined {
  let waits: Promise<void>[] | undefined;
  for (const target of targets) {
    if (target.closed || target.conn.closed || target.conn.behindSince === undefined) continue;
    (waits ??= []).push(target.conn.caughtUp());
  }
  return waits && Promise.all(waits).then(() => {});
}

/**
 * Runs `deliver` once none of `recipients()` is behind, checking again after every wait (the
 * recipients may have changed, or another sender may have filled a queue first). The last check
 * and `deliver` run in the same task, with nothing in between. What `deliver` returns (a promise,
 * for work that is not done at once, such as a device request) is returned, so the caller waits
 * for it and sees its errors.
 */
export function deliverWhenCaughtUp(
  recipients: () => Iterable<Session>,
  deliver: () => void | Promise<void>,
  stillWanted: () => boolean,
): Promise<void> | void {
  if (!stillWanted()) return undefined;
  const wait = whenCaughtUp(recipients());
  if (!wait) return deliver();
  return wait.then(() => deliverWhenCaughtUp(recipients, deliver, stillWanted));
}
