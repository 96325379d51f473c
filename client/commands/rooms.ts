/**
 * Commands about rooms: /join, /leave, /rooms, /who.
 *
 * @module
 */

import { type Command, CommandError, firstWord } from "./registry.ts";

/** Room commands. */
export const roomCommands: Command[] = [
  {
    name: "join",
    usage: "ROOM",
    help: "join a room (or switch to it) and send plain lines there",
    run(context, args) {
      const [room] = firstWord(args);
      if (!room) throw new CommandError("Usage: /join ROOM");
      context.client.join(room.replace(/^#/, ""));
      context.setCurrentRoom(room.replace(/^#/, ""));
    },
  },
  {
    name: "leave",
    usage: "[ROOM]",
    help: "leave a room (the current one by default)",
    run(context, args) {
      const room = firstWord(args)[0].replace(/^#/, "") || context.currentRoom();
      if (!room) throw new CommandError("Usage: /leave ROOM");
      context.client.leave(room);
      if (context.currentRoom() === room) {
        context.setCurrentRoom(context.client.rooms.find((other) => other !== room));
      }
    },
  },
  {
    name: "rooms",
    usage: "",
    help: "list the server's rooms (on the chat screen, with how many messages you have not read)",
    run(context) {
      context.client.listRooms();
    },
  },
  {
    name: "who",
    usage: "[ROOM]",
    help: "list a room's members, each one's role (owner, operator...) and whether it is verified",
    run(context, args) {
      const room = firstWord(args)[0].replace(/^#/, "") || context.currentRoom();
      if (!room) throw new CommandError("Usage: /who ROOM");
      context.client.who(room);
    },
  },
];
