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
    help: "list NAME's device keys, their fingerprints and whether you accept each",
    completesUser: true,
    run(context, args) {
      const [user] = firstWord(args);
      if (!user) throw new CommandError("Usage: /whois NAME");
      context.client.whois(user);
    },
  },
  {
    name: "trust",
    usage: "NAME FINGERPRINT",
    help:
      "accept exactly the key of NAME whose fingerprint starts with FINGERPRINT (at least 16 hex digits, compared out of band with NAME)",
    completesUser: true,
    async run(context, args) {
      const [user, rest] = firstWord(args);
      const [fingerprint] = firstWord(rest);
      if (!user || !fingerprint) {
        throw new CommandError(
          "Usage: /trust NAME FINGERPRINT (the fingerprint NAME read you out of band; /whois NAME lists them)",
        );
      }
      await context.client.trust(user, fingerprint);
    },
  },
];
