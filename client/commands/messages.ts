/**
 * Commands that send: /msg (a direct message) and /me (an action in the current room).
 *
 * @module
 */

import { type Command, CommandError, firstWord } from "./registry.ts";

/** Message commands. */
export const messageCommands: Command[] = [
  {
    name: "msg",
    usage: "NAME TEXT",
    help: "send NAME a direct message, end-to-end encrypted for their session only",
    completesUser: true,
    run(context, args) {
      const [user, text] = firstWord(args);
      if (!user || !text) throw new CommandError("Usage: /msg NAME TEXT");
      context.client.sendDirect(user, text);
    },
  },
  {
    name: "me",
    usage: "TEXT",
    help: "describe an action in the current room (* alice waves)",
    run(context, args) {
      const room = context.currentRoom();
      if (!room) throw new CommandError("You are in no room: /join ROOM first");
      if (!args) throw new CommandError("Usage: /me TEXT");
      context.client.send(room, args, true);
    },
  },
];
