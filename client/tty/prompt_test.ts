import { assertEquals } from "../../tests/support/assert.ts";
import { buildPrompt, lockState, type MemberSnapshot, type PromptSnapshot } from "./prompt.ts";
import { createStyle } from "./style.ts";
import { displayWidth, stripAnsi } from "./width.ts";

const ready = (user: string, verified: boolean | null = true): MemberSnapshot => ({
  user,
  status: "ready",
  verified,
});

function snapshot(overrides: Partial<PromptSnapshot> = {}): PromptSnapshot {
  return {
    room: "lobby",
    connected: true,
    ready: true,
    members: [ready("bob"), ready("carol")],
    sending: 0,
    ...overrides,
  };
}

const CASES: [string, Partial<PromptSnapshot>, string, string][] = [
  ["every member verified", {}, "verified", "[lobby 🔒 3]> "],
  ["alone in the room", { members: [] }, "verified", "[lobby 🔒 1]> "],
  [
    "a member's key changed",
    {
      members: [ready("bob"), ready("carol", false)],
    },
    "warning",
    "[lobby ⚠ 3]> ",
  ],
  [
    "a member's key changed, keys still pending",
    {
      ready: false,
      members: [ready("bob", false), { user: "carol", status: "pending", verified: null }],
    },
    "warning",
    "[lobby ⚠ 3]> ",
  ],
  [
    "a member failed to verify",
    {
      members: [ready("bob"), { user: "mallory", status: "failed", verified: null }],
    },
    "warning",
    "[lobby ⚠ 3]> ",
  ],
  [
    "keys not in place yet",
    {
      ready: false,
      members: [ready("bob"), { user: "carol", status: "pending", verified: null }],
    },
    "pending",
    "[lobby … 3]> ",
  ],
  ["disconnected", { connected: false }, "pending", "[lobby … 3]> "],
  [
    "disconnected with a changed key",
    {
      connected: false,
      members: [ready("bob", false)],
    },
    "pending",
    "[lobby … 2]> ",
  ],
  [
    "a member with no trust record yet",
    { members: [ready("bob", null)] },
    "pending",
    "[lobby … 2]> ",
  ],
  ["in no room", { room: undefined, members: [] }, "none", "[no room]> "],
  ["messages on their way", { sending: 2 }, "verified", "[lobby 🔒 3 ↑2]> "],
];

for (const [name, overrides, state, text] of CASES) {
  Deno.test(`prompt when ${name}: ${text}`, () => {
    assertEquals(lockState(snapshot(overrides)), state);
    const prompt = buildPrompt(snapshot(overrides), createStyle(false));
    assertEquals(prompt.text, text);
    assertEquals(prompt.width, displayWidth(text));
  });
}

Deno.test("the coloured prompt has the same text and width", () => {
  const coloured = buildPrompt(snapshot({ members: [ready("bob", false)] }), createStyle(true));
  assertEquals(stripAnsi(coloured.text), "[lobby ⚠ 2]> ");
  assertEquals(coloured.width, 13);
  assertEquals(coloured.text.includes("\x1b["), true);
});

Deno.test("the prompt names other conversations with unread messages, a few at most", () => {
  const style = createStyle(false);
  assertEquals(
    buildPrompt(snapshot({ unread: [{ name: "dev", count: 2 }] }), style).text,
    "[lobby 🔒 3 · dev 2]> ",
  );
  assertEquals(
    buildPrompt(
      snapshot({
        sending: 1,
        unread: [
          { name: "dev", count: 2 },
          { name: "ops", count: 0 },
          { name: "@bob", count: 1 },
        ],
      }),
      style,
    ).text,
    "[lobby 🔒 3 ↑1 · dev 2 · @bob 1]> ",
  );
  const many = ["a", "b", "c", "d", "e"].map((name) => ({ name, count: 1 }));
  const prompt = buildPrompt(snapshot({ unread: many }), style);
  assertEquals(prompt.text, "[lobby 🔒 3 · a 1 · b 1 · c 1 · +2]> ");
  assertEquals(prompt.width, displayWidth(prompt.text));
  const coloured = buildPrompt(snapshot({ unread: many }), createStyle(true));
  assertEquals(stripAnsi(coloured.text), prompt.text);
  assertEquals(coloured.width, prompt.width);
});
