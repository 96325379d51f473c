/**
 * The terminal chat screen. (Being written: until then a terminal runs the line interface.)
 *
 * @module
 */

import type { ChatClient } from "../chat_client.ts";
import { runPipe } from "../pipe_ui.ts";

/** Runs the chat screen until the client stops; returns its exit code. */
export function runTerminal(client: ChatClient, options: { room: string }): Promise<number> {
  return runPipe(client, { json: false, room: options.room });
}
