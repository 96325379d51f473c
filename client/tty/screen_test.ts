import { assert, assertEquals } from "../../tests/support/assert.ts";
import { layoutInput, Screen, shownAs } from "./screen.ts";
import { displayWidth, stripAnsi } from "./width.ts";

Deno.test("layoutInput() shows a short line whole", () => {
  assertEquals(layoutInput("hello", 2, 20), { visible: "hello", cursorColumn: 2, start: 0 });
});

Deno.test("layoutInput() scrolls a long line so the cursor at its end is visible", () => {
  const text = "abcdefghijklmnopqrstuvwxyz";
  const layout = layoutInput(text, text.length, 10);
  assertEquals(layout, { visible: "rstuvwxyz", cursorColumn: 9, start: 17 });
});

Deno.test("layoutInput() keeps the cursor and the character under it in view, at every position", () => {
  const text = "the quick brown fox jumps over the lazy dog 🔒 日本語 again and again";
  for (const width of [5, 8, 13, 40]) {
    let start = 0;
    // Walk the cursor right to the end and back left to the start, like a user would.
    const positions: number[] = [];
    for (let i = 0; i <= text.length; i++) positions.push(i);
    for (let i = text.length; i >= 0; i--) positions.push(i);
    for (const cursor of positions) {
      if (cursor > 0 && cursor < text.length && /[\udc00-\udfff]/.test(text[cursor]!)) continue;
      const layout = layoutInput(text, cursor, width, start);
      start = layout.start;
      assert(displayWidth(layout.visible) <= width, `too wide at ${cursor}/${width}`);
      assert(layout.cursorColumn <= width - 1, `cursor outside at ${cursor}/${width}`);
      assert(layout.cursorColumn >= 0);
      const under = [...new Intl.Segmenter().segment(text.slice(cursor))][0]?.segment;
      if (under) {
        const shown = layout.visible;
        assert(
          shown.includes(under),
          `${JSON.stringify(under)} under the cursor is hidden at ${cursor}/${width}: ${shown}`,
        );
      }
    }
  }
});

Deno.test("layoutInput() scrolls back to show more after text at the end is deleted", () => {
  const long = "0123456789abcdefghij";
  const scrolled = layoutInput(long, long.length, 10);
  assertEquals(scrolled.start, 11);
  const shorter = long.slice(0, 12);
  assertEquals(layoutInput(shorter, shorter.length, 10, scrolled.start), {
    visible: "3456789ab",
    cursorColumn: 9,
    start: 3,
  });
});

Deno.test("layoutInput() shows line breaks and tabs as one-column markers", () => {
  assertEquals(shownAs("\n"), "⏎");
  assertEquals(shownAs("\t"), "⇥");
  assertEquals(shownAs("\x1b"), "\ufffd");
  assertEquals(layoutInput("one\ntwo", 7, 20).visible, "one⏎two");
  assertEquals(layoutInput("one\ntwo", 7, 20).cursorColumn, 7);
});

Deno.test("layoutInput() counts wide characters as two columns", () => {
  assertEquals(layoutInput("日本語", 3, 20), { visible: "日本語", cursorColumn: 6, start: 0 });
  const layout = layoutInput("日本語日本語", 6, 5);
  assertEquals(layout.visible, "本語");
  assertEquals(layout.cursorColumn, 4);
});

function fakeTerminal(columns: number) {
  const writes: string[] = [];
  const output = { columns: () => columns, write: (text: string) => void writes.push(text) };
  return {
    output,
    writes,
    set columns(value: number) {
      columns = value;
    },
  };
}

Deno.test("Screen.print() clears the input line, prints, then redraws prompt and input", () => {
  const terminal = fakeTerminal(40);
  const screen = new Screen(terminal.output);
  screen.setPrompt({ text: "[lobby]> ", width: 9 });
  screen.setInput("half typed", 4);
  screen.print("line one\nline two");
  assertEquals(terminal.writes, [
    "\r\x1b[2Kline one\r\nline two\r\n\x1b[?25l[lobby]> half typed\x1b[14G\x1b[?25h",
  ]);
});

Deno.test("Screen.render() redraws only the input line, scrolled to fit the width", () => {
  const terminal = fakeTerminal(20);
  const screen = new Screen(terminal.output);
  screen.setPrompt({ text: "> ", width: 2 });
  const text = "x".repeat(30) + "END";
  screen.setInput(text, text.length);
  screen.render();
  const written = terminal.writes.join("");
  assertEquals(written.startsWith("\r\x1b[2K"), true);
  const line = stripAnsi(written.replace("\r", ""));
  assertEquals(line, "> " + "x".repeat(13) + "END");
  assert(displayWidth(line) <= 19, "never reaches the last column");
  assert(written.includes("\x1b[19G"), "cursor after END");
});

Deno.test("Screen falls back to a short prompt when the terminal is very narrow", () => {
  const terminal = fakeTerminal(16);
  const screen = new Screen(terminal.output);
  screen.setPrompt({ text: "[a-long-room 🔒 3]> ", width: 20 });
  screen.setInput("hi", 2);
  screen.render();
  assertEquals(stripAnsi(terminal.writes.join("").replace("\r", "")), "> hi");
});

Deno.test("Screen reads the width on every draw, so a resized terminal is used at once", () => {
  const terminal = fakeTerminal(80);
  const screen = new Screen(terminal.output);
  screen.setPrompt({ text: "> ", width: 2 });
  const text = "y".repeat(50);
  screen.setInput(text, text.length);
  screen.render();
  assertEquals(stripAnsi(terminal.writes.pop()!.replace("\r", "")), "> " + text);
  terminal.columns = 30;
  screen.render();
  assertEquals(stripAnsi(terminal.writes.pop()!.replace("\r", "")), "> " + "y".repeat(26));
});
