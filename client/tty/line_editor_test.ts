import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { History } from "./history.ts";
import { type Key, key } from "./keys.ts";
import { type Completer, type EditResult, handleKey, LineEditor } from "./line_editor.ts";

/** The editor's line with `|` at the cursor. */
function show(editor: LineEditor): string {
  return editor.text.slice(0, editor.cursor) + "|" + editor.text.slice(editor.cursor);
}

/** An editor holding `marked`, where `|` marks the cursor. */
function editorAt(marked: string): LineEditor {
  const editor = new LineEditor();
  const cursor = marked.indexOf("|");
  editor.set(marked.replace("|", ""), cursor);
  return editor;
}

function press(editor: LineEditor, ...keys: (Key | string)[]): EditResult[] {
  return keys.map((k) =>
    handleKey(editor, typeof k === "string" ? { kind: "text", text: k } : k, completer)
  );
}

const ctrl = (name: string) => key(name, { ctrl: true });
const alt = (name: string) => key(name, { alt: true });

const completer: Completer = ({ word, start, line }) => {
  if (start === 0 && word.startsWith("/")) {
    return {
      candidates: ["/help", "/join", "/who", "/whois"].filter((c) => c.startsWith(word)),
      suffix: " ",
    };
  }
  void line;
  return {
    candidates: ["alice", "albert", "bob"].filter((c) => c.startsWith(word) && word !== ""),
    suffix: " ",
  };
};

const EDITS: [string, string, (Key | string)[], string][] = [
  ["types at the cursor", "ab|cd", ["X"], "abX|cd"],
  ["Backspace deletes before the cursor", "abc|d", [key("backspace")], "ab|d"],
  ["Backspace at the start does nothing", "|abc", [key("backspace")], "|abc"],
  ["Ctrl-H is Backspace", "abc|", [key("backspace", { ctrl: true })], "ab|"],
  ["Delete deletes under the cursor", "ab|cd", [key("delete")], "ab|d"],
  ["Delete at the end does nothing", "abc|", [key("delete")], "abc|"],
  ["Left and Right move by one", "ab|cd", [key("left"), key("left"), key("right")], "a|bcd"],
  ["Left stops at the start", "|ab", [key("left")], "|ab"],
  ["Right stops at the end", "ab|", [key("right")], "ab|"],
  ["Home", "ab|cd", [key("home")], "|abcd"],
  ["End", "ab|cd", [key("end")], "abcd|"],
  ["Ctrl-A", "ab|cd", [ctrl("a")], "|abcd"],
  ["Ctrl-E", "ab|cd", [ctrl("e")], "abcd|"],
  ["Ctrl-B and Ctrl-F", "ab|cd", [ctrl("b"), ctrl("b"), ctrl("f")], "a|bcd"],
  ["Ctrl-U cuts to the start", "hello wor|ld", [ctrl("u")], "|ld"],
  ["Ctrl-K cuts to the end", "hello wor|ld", [ctrl("k")], "hello wor|"],
  ["Ctrl-W cuts the word before", "hello big world|", [ctrl("w")], "hello big |"],
  ["Ctrl-W takes the spaces too", "hello big   |x", [ctrl("w")], "hello |x"],
  ["Ctrl-W twice", "one two three|", [ctrl("w"), ctrl("w")], "one |"],
  ["Ctrl-W at the start does nothing", "|abc", [ctrl("w")], "|abc"],
  ["Alt-Backspace is Ctrl-W", "hello world|", [key("backspace", { alt: true })], "hello |"],
  ["Alt-D cuts the word after", "hello| big world", [alt("d")], "hello| world"],
  [
    "Ctrl-Y pastes what was cut",
    "hello world|",
    [ctrl("w"), key("home"), ctrl("y")],
    "world|hello ",
  ],
  [
    "Ctrl-Left moves a word left",
    "one two thr|ee",
    [key("left", { ctrl: true })],
    "one two |three",
  ],
  ["Alt-B moves a word left", "one two |three", [alt("b")], "one |two three"],
  [
    "Ctrl-Right moves past a word",
    "one| two three",
    [key("right", { ctrl: true })],
    "one two| three",
  ],
  ["Alt-F moves past a word", "|one two", [alt("f")], "one| two"],
  ["Ctrl-D deletes when the line is not empty", "a|bc", [ctrl("d")], "a|c"],
  ["Alt-Enter inserts a line break", "one|", [key("enter", { alt: true }), "two"], "one\ntwo|"],
  ["paste inserts at the cursor", "<|>", [{ kind: "paste", text: "a\nb" }], "<a\nb|>"],
  ["unknown keys change nothing", "ab|", [key("unknown"), key("page-up"), key("escape")], "ab|"],
];

for (const [name, start, keys, expected] of EDITS) {
  Deno.test(`LineEditor: ${name}`, () => {
    const editor = editorAt(start);
    press(editor, ...keys);
    assertEquals(show(editor), expected);
  });
}

Deno.test("LineEditor moves and deletes whole characters, not UTF-16 units", () => {
  const editor = new LineEditor();
  press(editor, "a🔒e\u0301日");
  assertEquals(editor.text.length, 6);
  press(editor, key("left"));
  assertEquals(show(editor), "a🔒e\u0301|日");
  press(editor, key("left"));
  assertEquals(show(editor), "a🔒|e\u0301日");
  press(editor, key("backspace"));
  assertEquals(show(editor), "a|e\u0301日");
  press(editor, key("delete"));
  assertEquals(show(editor), "a|日");
  press(editor, key("right"));
  assertEquals(show(editor), "a日|");
});

Deno.test("Enter submits the line, empties the editor and records history", () => {
  const editor = new LineEditor();
  const results = press(editor, "hi there", key("enter"));
  assertEquals(results.at(-1), { type: "submit", line: "hi there" });
  assertEquals(show(editor), "|");
  assertEquals(editor.history.entries, ["hi there"]);
});

Deno.test("a pasted block is submitted whole by Enter", () => {
  const editor = new LineEditor();
  const results = press(editor, { kind: "paste", text: "one\ntwo\nthree" }, key("enter"));
  assertEquals(results.at(-1), { type: "submit", line: "one\ntwo\nthree" });
});

Deno.test("Ctrl-D on an empty line and Ctrl-C quit; Ctrl-L asks for a redraw", () => {
  assertEquals(press(new LineEditor(), ctrl("d")), [{ type: "quit" }]);
  assertEquals(press(editorAt("text|"), ctrl("c")), [{ type: "quit" }]);
  assertEquals(press(editorAt("text|"), ctrl("l")), [{ type: "redraw" }]);
});

Deno.test("Edits report whether anything changed", () => {
  const editor = editorAt("|ab");
  assertEquals(press(editor, key("left"), key("right")), [
    { type: "edit", changed: false },
    { type: "edit", changed: true },
  ]);
});

Deno.test("Up and Down browse history and bring back the draft", () => {
  const editor = new LineEditor();
  press(editor, "first", key("enter"), "second", key("enter"), "draft");
  press(editor, key("up"));
  assertEquals(show(editor), "second|");
  press(editor, key("up"));
  assertEquals(show(editor), "first|");
  assertEquals(press(editor, key("up")), [{ type: "edit", changed: false }]);
  assertEquals(show(editor), "first|");
  press(editor, key("down"));
  assertEquals(show(editor), "second|");
  press(editor, key("down"));
  assertEquals(show(editor), "draft|");
  assertEquals(press(editor, key("down")), [{ type: "edit", changed: false }]);
  press(editor, ctrl("p"));
  assertEquals(show(editor), "second|");
  press(editor, ctrl("n"));
  assertEquals(show(editor), "draft|");
});

Deno.test("A recalled, edited line is sent and browsing starts again from the newest", () => {
  const editor = new LineEditor();
  press(editor, "one", key("enter"), "two", key("enter"));
  press(editor, key("up"), key("up"), "!", key("enter"));
  assertEquals(editor.history.entries, ["one", "two", "one!"]);
  press(editor, key("up"));
  assertEquals(show(editor), "one!|");
});

Deno.test("History skips empty lines and immediate repeats, and is bounded", () => {
  const history = new History(3);
  for (const line of ["a", "a", "", "  ", "b", "c", "d", "c"]) history.add(line);
  assertEquals(history.entries, ["c", "d", "c"]);
  const editor = new LineEditor();
  for (let i = 0; i < 600; i++) press(editor, `line ${i}`, key("enter"));
  assertEquals(editor.history.entries.length, 500);
  assertEquals(editor.history.entries[0], "line 100");
  assertEquals(editor.history.entries.at(-1), "line 599");
});

Deno.test("History refuses a size that is not a positive integer", () => {
  for (const size of [0, -1, 1.5, NaN]) {
    assertThrows(() => new History(size), RangeError, `got ${size}`);
  }
});

Deno.test("Tab completes a command name and cycles on repeated Tab", () => {
  const editor = new LineEditor();
  press(editor, "/wh", key("tab"));
  assertEquals(show(editor), "/who |");
  press(editor, key("tab"));
  assertEquals(show(editor), "/whois |");
  press(editor, key("tab"));
  assertEquals(show(editor), "/who |", "wraps around");
  press(editor, "bo", key("tab"));
  assertEquals(show(editor), "/who bob |");
});

Deno.test("Tab completes the user name at the cursor, mid-line, and cycles", () => {
  const editor = editorAt("hi al| how are you");
  press(editor, key("tab"));
  assertEquals(show(editor), "hi alice| how are you", "no second space before a space");
  press(editor, key("tab"));
  assertEquals(show(editor), "hi albert| how are you");
  press(editor, key("tab"));
  assertEquals(show(editor), "hi alice| how are you");
});

Deno.test("Any other key ends the cycle; the next Tab completes the new word", () => {
  const editor = new LineEditor();
  press(editor, "al", key("tab"));
  assertEquals(show(editor), "alice |");
  press(editor, "b", key("tab"));
  assertEquals(show(editor), "alice bob |");
  press(editor, key("tab"));
  assertEquals(show(editor), "alice bob |", "one candidate: Tab again changes nothing");
});

Deno.test("Tab with no candidates changes nothing", () => {
  const editor = editorAt("zz|");
  assertEquals(press(editor, key("tab")), [{ type: "edit", changed: false }]);
  assertEquals(show(editor), "zz|");
  assertEquals(handleKey(editor, key("tab")), { type: "edit", changed: false }, "no completer");
  assertEquals(press(editorAt("al|"), key("tab", { shift: true })), [{
    type: "edit",
    changed: false,
  }]);
});
