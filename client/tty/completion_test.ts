import { assertEquals } from "../../tests/support/assert.ts";
import { commands } from "../commands/mod.ts";
import { completeWord, type CompletionSources } from "./completion.ts";

const sources: CompletionSources = {
  commands: (prefix) => commands.complete(prefix),
  users: () => ["carol", "bob", "alice", "albert", "bob"],
  rooms: () => ["lobby", "dev", "design"],
};

function candidates(marked: string): readonly string[] {
  const cursor = marked.indexOf("|");
  const line = marked.replace("|", "");
  let start = cursor;
  while (start > 0 && !/\s/.test(line[start - 1]!)) start -= 1;
  return completeWord({ line, start, word: line.slice(start, cursor) }, sources).candidates;
}

const CASES: [string, string[]][] = [
  ["/|", commands.all().map((c) => `/${c.name}`)],
  ["/wh|", ["/who", "/whois"]],
  ["/WH|", ["/who", "/whois"]],
  ["/nothing|", []],
  ["//not a command|", []],
  ["/msg al|", ["albert", "alice"]],
  ["/msg |", ["albert", "alice", "bob", "carol"]],
  ["/whois b|", ["bob"]],
  ["/trust c|", ["carol"]],
  ["/join d|", ["design", "dev"]],
  ["/join #l|", ["#lobby"]],
  ["/leave |", ["design", "dev", "lobby"]],
  ["/who lo|", ["lobby"]],
  ["/help wh|", ["who", "whois"]],
  ["/help /j|", ["join"]],
  ["hello al|", ["albert", "alice"]],
  ["hello @al|", ["@albert", "@alice"]],
  ["Al|", ["albert", "alice"]],
  ["hello |", []],
  ["zz|", []],
  ["/msg bob hi ca|", ["carol"]],
];

for (const [line, expected] of CASES) {
  Deno.test(`completeWord() offers ${JSON.stringify(expected)} for ${JSON.stringify(line)}`, () => {
    assertEquals(candidates(line), expected);
  });
}
