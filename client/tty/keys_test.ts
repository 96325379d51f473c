import { assertEquals } from "../../tests/support/assert.ts";
import { cleanPaste, type Key, key, KeyParser, MAX_PASTE, MAX_SEQUENCE } from "./keys.ts";

const text = (value: string): Key => ({ kind: "text", text: value });
const paste = (value: string): Key => ({ kind: "paste", text: value });
const bytes = (value: string) => new TextEncoder().encode(value);

/** Feeds every chunk and returns all events, flushing at the end like the idle timer does. */
function parseChunks(chunks: (string | Uint8Array)[], flush = false): Key[] {
  const parser = new KeyParser();
  const keys = chunks.flatMap((chunk) => parser.feed(chunk));
  return flush ? [...keys, ...parser.flush()] : keys;
}

const SINGLE: [string, string, Key[]][] = [
  ["plain text", "hello", [text("hello")]],
  ["Enter (CR)", "\r", [key("enter")]],
  ["Ctrl-J (LF)", "\n", [key("enter")]],
  ["Tab", "\t", [key("tab")]],
  ["Shift-Tab", "\x1b[Z", [key("tab", { shift: true })]],
  ["Backspace (DEL)", "\x7f", [key("backspace")]],
  ["Ctrl-H", "\x08", [key("backspace", { ctrl: true })]],
  ["Ctrl-A", "\x01", [key("a", { ctrl: true })]],
  ["Ctrl-E", "\x05", [key("e", { ctrl: true })]],
  ["Ctrl-U", "\x15", [key("u", { ctrl: true })]],
  ["Ctrl-K", "\x0b", [key("k", { ctrl: true })]],
  ["Ctrl-W", "\x17", [key("w", { ctrl: true })]],
  ["Ctrl-C", "\x03", [key("c", { ctrl: true })]],
  ["Ctrl-D", "\x04", [key("d", { ctrl: true })]],
  ["Ctrl-\\", "\x1c", [key("\\", { ctrl: true })]],
  ["Up", "\x1b[A", [key("up")]],
  ["Down", "\x1b[B", [key("down")]],
  ["Right", "\x1b[C", [key("right")]],
  ["Left", "\x1b[D", [key("left")]],
  ["Home (CSI H)", "\x1b[H", [key("home")]],
  ["End (CSI F)", "\x1b[F", [key("end")]],
  ["Home (SS3 H)", "\x1bOH", [key("home")]],
  ["End (SS3 F)", "\x1bOF", [key("end")]],
  ["Up (SS3, application mode)", "\x1bOA", [key("up")]],
  ["Home (CSI 1~)", "\x1b[1~", [key("home")]],
  ["Home (CSI 7~, rxvt)", "\x1b[7~", [key("home")]],
  ["End (CSI 4~)", "\x1b[4~", [key("end")]],
  ["End (CSI 8~, rxvt)", "\x1b[8~", [key("end")]],
  ["Delete", "\x1b[3~", [key("delete")]],
  ["Ctrl-Delete", "\x1b[3;5~", [key("delete", { ctrl: true })]],
  ["Page Up", "\x1b[5~", [key("page-up")]],
  ["Ctrl-Left", "\x1b[1;5D", [key("left", { ctrl: true })]],
  ["Alt-Right", "\x1b[1;3C", [key("right", { alt: true })]],
  ["Shift-Up", "\x1b[1;2A", [key("up", { shift: true })]],
  ["Alt-b", "\x1bb", [key("b", { alt: true })]],
  ["Alt-Backspace", "\x1b\x7f", [key("backspace", { alt: true })]],
  ["Alt-Enter", "\x1b\r", [key("enter", { alt: true })]],
  ["unknown CSI", "\x1b[99X", [key("unknown")]],
  ["stray end of paste", "\x1b[201~", []],
  ["multi-byte UTF-8", "héllo wörld 🔒 日本", [text("héllo wörld 🔒 日本")]],
  ["C1 control characters are dropped", "a\u009bb", [text("a"), text("b")]],
  [
    "text around keys keeps its order",
    "ab\x1b[Dc\r",
    [text("ab"), key("left"), text("c"), key("enter")],
  ],
];

for (const [name, input, expected] of SINGLE) {
  Deno.test(`KeyParser parses ${name}`, () => {
    assertEquals(parseChunks([input]), expected);
    assertEquals(parseChunks([bytes(input)]), expected, "as bytes");
  });
}

Deno.test("KeyParser parses every escape sequence split at every byte", () => {
  for (const [name, input, expected] of SINGLE) {
    const raw = bytes(input);
    for (let cut = 1; cut < raw.length; cut++) {
      const keys = parseChunks([raw.subarray(0, cut), raw.subarray(cut)]);
      // Text split in two arrives as two text events; join them to compare.
      const merged: Key[] = [];
      for (const k of keys) {
        const last = merged.at(-1);
        if (k.kind === "text" && last?.kind === "text") {
          merged[merged.length - 1] = text(last.text + k.text);
        } else merged.push(k);
      }
      const expectedMerged: Key[] = [];
      for (const k of expected) {
        const last = expectedMerged.at(-1);
        if (k.kind === "text" && last?.kind === "text") {
          expectedMerged[expectedMerged.length - 1] = text(last.text + k.text);
        } else expectedMerged.push(k);
      }
      assertEquals(merged, expectedMerged, `${name} cut at byte ${cut}`);
    }
  }
});

Deno.test("KeyParser decodes a UTF-8 character split across reads", () => {
  const raw = bytes("🔒");
  const parser = new KeyParser();
  assertEquals(parser.feed(raw.subarray(0, 1)), []);
  assertEquals(parser.feed(raw.subarray(1, 3)), []);
  assertEquals(parser.feed(raw.subarray(3)), [text("🔒")]);
});

Deno.test("KeyParser waits on a lone ESC, and flush() makes it the Escape key", () => {
  const parser = new KeyParser();
  assertEquals(parser.feed("\x1b"), []);
  assertEquals(parser.pending, true);
  assertEquals(parser.flush(), [key("escape")]);
  assertEquals(parser.pending, false);
  assertEquals(parser.feed("x"), [text("x")]);
});

Deno.test("KeyParser: flush() drops an unfinished sequence and reads on", () => {
  const parser = new KeyParser();
  assertEquals(parser.feed("a\x1b[1;"), [text("a")]);
  assertEquals(parser.pending, true);
  assertEquals(parser.flush(), [key("unknown")]);
  assertEquals(parser.feed("b"), [text("b")]);
});

Deno.test("KeyParser: ESC ESC is Escape followed by what comes next", () => {
  assertEquals(parseChunks(["\x1b\x1b[A"]), [key("escape"), key("up")]);
});

Deno.test("KeyParser drops an over-long sequence instead of buffering it", () => {
  const parser = new KeyParser();
  const keys = parser.feed("\x1b[" + "1".repeat(MAX_SEQUENCE + 10));
  assertEquals(keys.length >= 1 && keys[0]!.kind === "key" && keys[0]!.name === "unknown", true);
  assertEquals(parser.feed("\x1b[Bz"), [key("down"), text("z")]);
});

Deno.test("KeyParser: a malformed CSI is dropped and the next key still parses", () => {
  assertEquals(parseChunks(["\x1b[1\x1b[A"]), [key("unknown"), key("up")]);
});

Deno.test("KeyParser turns a bracketed paste into one paste event with \\n line breaks", () => {
  assertEquals(
    parseChunks(["x\x1b[200~line one\r\nline two\rline three\x1b[201~y"]),
    [text("x"), paste("line one\nline two\nline three"), text("y")],
  );
});

Deno.test("KeyParser: keys inside a paste are text, not keys", () => {
  assertEquals(
    parseChunks(["\x1b[200~a\tb\x03c\x1b[Ad\x7f\x1b[201~"]),
    [paste("a\tbc[Ad")],
  );
});

Deno.test("KeyParser: a paste split at every byte, markers included, is still one event", () => {
  const input = bytes("\x1b[200~first line\nsecond 🔒 line\x1b[201~\r");
  for (let cut = 1; cut < input.length; cut++) {
    for (const cut2 of [cut + 1, cut + 3, input.length]) {
      if (cut2 > input.length) continue;
      const keys = parseChunks([
        input.subarray(0, cut),
        input.subarray(cut, cut2),
        input.subarray(cut2),
      ]);
      assertEquals(
        keys,
        [paste("first line\nsecond 🔒 line"), key("enter")],
        `cut at ${cut} and ${cut2}`,
      );
    }
  }
});

Deno.test("KeyParser: an unfinished paste waits, and flush() does not end it", () => {
  const parser = new KeyParser();
  assertEquals(parser.feed("\x1b[200~abc\x1b[20"), []);
  assertEquals(parser.inPaste, true);
  assertEquals(parser.pending, false);
  assertEquals(parser.flush(), []);
  assertEquals(parser.feed("1~"), [paste("abc")]);
  assertEquals(parser.inPaste, false);
});

Deno.test("KeyParser: text that looks like the start of the end marker stays in the paste", () => {
  assertEquals(parseChunks(["\x1b[200~a\x1b[20", "0b\x1b[201~"]), [paste("a[200b")]);
});

Deno.test("KeyParser bounds a paste at MAX_PASTE characters", () => {
  const parser = new KeyParser();
  parser.feed("\x1b[200~");
  const chunk = "x".repeat(64 * 1024);
  for (let i = 0; i < MAX_PASTE / chunk.length + 4; i++) parser.feed(chunk);
  const [event] = parser.feed("\x1b[201~");
  assertEquals(event?.kind, "paste");
  assertEquals(event?.kind === "paste" && event.text.length, MAX_PASTE);
});

Deno.test("cleanPaste() keeps tabs and line breaks and drops other controls", () => {
  assertEquals(cleanPaste("a\r\nb\rc\nd\te\x1b[31mf\x00"), "a\nb\nc\nd\te[31mf");
});
