/**
 * Commands about identities: /whois (show a key fingerprint to compare out of band) and /trust
 * (accept a user's new key after comparing it).
 *
 * @module
 */

import { type Command, CommandError, firstWord } from "./registry.ts";

/** Trust commands. */
export const trustCommands: Command[] = [
  {
    name: "whois",
    usage: "NAME",
    help: "show NAME's key fingerprint and whether it matches the one you trust",
    completesUser: true,
    run(context, args) {
      const [user] = firstWord(args);
      if (!user) throw new CommandError("Usage: /whois NAME");
      context.client.whois(user);
    },
  },
  {
    name: "trust",
    usage: "NAME[/DEVICE]",
    help:
      "trust the current key of NAME's devices, or of one (compare /whois fingerprints out of band first)",
    completesUser: true,
    async run(context, args) {
      const [user] = firstWord(args);
      if (!user) throw new CommandError("Usage: /trust NAME[/DEVICE]");
      await context.client.trust(user);
    },
  },
];
