/**
 * Commands about this user's own devices: `/device add LABEL` (an invite for a new device,
 * made by the server and shown here), `/devices`, and `/device revoke LABEL`.
 *
 * @module
 */

import { type Command, CommandError, firstWord } from "./registry.ts";

/** Device commands. */
export const deviceCommands: Command[] = [
  {
    name: "device",
    usage: "add|revoke LABEL",
    help: "add: an invite for another device of yours (run `openchat enroll` with it there); " +
      "revoke: end a device of yours for good",
    run(context, args) {
      const [action, rest] = firstWord(args);
      const [label] = firstWord(rest);
      if (!label || (action !== "add" && action !== "revoke")) {
        throw new CommandError("Usage: /device add LABEL, or /device revoke LABEL");
      }
      if (action === "add") context.client.inviteDevice(label);
      else context.client.revokeDevice(label);
    },
  },
  {
    name: "devices",
    usage: "",
    help: "list your devices: status, expiry, which device added each",
    run(context) {
      context.client.listDevices();
    },
  },
];
