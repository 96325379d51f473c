import { assert, assertEquals } from "../../tests/support/assert.ts";
import type { Conversation, StoredMessage } from "../local_store.ts";
import { PAGE_OVERLAP, SCROLLBACK_PAGE, ScrollbackView, wrapRows } from "./scrollback.ts";
import { displayWidth, stripAnsi } from "./width.ts";

Deno.test("wrapRows() breaks at line breaks and at the width, escapes taking no room", () => {
  assertEquals(wrapRows("abcdef\ngh", 4), ["abcd", "ef", "gh"]);
  assertEquals(wrapRows("abcd", 4), ["abcd"], "exactly the width: one row");
  assertEquals(wrapRows("", 4), [""]);
  assertEquals(wrapRows("a\n\nb", 4), ["a", "", "b"]);
  const styled = "\x1b[2m[12:00]\x1b[22m hello";
  const rows = wrapRows(styled, 8);
  assertEquals(rows.map(stripAnsi), ["[12:00] ", "hello"]);
  assertEquals(rows[0], "\x1b[2m[12:00]\x1b[22m ");
  // A wide character never straddles two rows.
  const wide = wrapRows("ab🔒cd", 3);
  assertEquals(wide, ["ab", "🔒c", "d"]);
  for (const row of wrapRows("x".repeat(50) + "漢字".repeat(10), 7)) {
    assert(displayWidth(stripAnsi(row)) <= 7, row);
  }
});

/** A store of `count` messages with ids 1..count in one conversation. */
function source(count: number) {
  const conversation: Conversation = "#lobby";
  const all: StoredMessage[] = Array.from({ length: count }, (_, i) => ({
    id: i + 1,
    conversation,
    event: {
      type: "message",
      room: "lobby",
      from: "bob",
      device: "main",
      text: `m${i + 1}`,
      ts: new Date().toISOString(),
      verified: true,
      trust: "verified",
    },
  }));
  const calls: string[] = [];
  return {
    calls,
    page(
      _conversation: Conversation,
      options: { before?: number; after?: number; limit: number },
    ): Promise<StoredMessage[]> {
      calls.push(JSON.stringify(options));
      if (options.after !== undefined) {
        return Promise.resolve(all.filter((m) => m.id > options.after!).slice(0, options.limit));
      }
      const older = all.filter((m) => m.id < (options.before ?? Infinity));
      return Promise.resolve(older.slice(Math.max(0, older.length - options.limit)));
    },
  };
}

const render = (message: StoredMessage, highlighted: boolean) =>
  `${highlighted ? "» " : ""}${message.event.text}`;
const SIZE = { width: 40, height: 10 };
const STEP = SIZE.height - PAGE_OVERLAP;

Deno.test("a view opens one screenful back, pages up to the oldest and down to live", async () => {
  const count = SCROLLBACK_PAGE * 2 + 50;
  const store = source(count);
  const view = (await ScrollbackView.open(store, "#lobby", render, SIZE))!;
  let rows = view.rows(SIZE);
  assertEquals(rows.lines.length, SIZE.height);
  assertEquals(rows.lines.at(-1), `m${count - STEP}`);
  assertEquals(rows.last?.id, count - STEP);
  assertEquals(rows.atTop, false);
  assertEquals(rows.atBottom, false);
  assertEquals(store.calls.length, 1, "one page was enough");
  let pages = 1;
  while (!view.rows(SIZE).atTop) {
    await view.up(SIZE);
    pages += 1;
    assert(pages < 100, "reaches the top");
  }
  rows = view.rows(SIZE);
  assertEquals(rows.lines[0], "m1");
  assertEquals(rows.lines.at(-1), `m${SIZE.height}`);
  assertEquals(store.calls.length, 3, "older pages loaded as needed");
  await view.up(SIZE);
  assertEquals(view.rows(SIZE).lines[0], "m1", "stays at the top");
  let downs = 0;
  while (await view.down(SIZE)) {
    downs += 1;
    assert(downs < 100);
  }
  const last = view.rows(SIZE);
  assert(last.lines.at(-1) !== `m${count}`, "the last screenful before live is not the newest");
  assert(Number(last.lines.at(-1)!.slice(1)) >= count - STEP, last.lines.at(-1));
});

Deno.test("a short conversation fits: blank rows on top, and PgDn is live at once", async () => {
  const view = (await ScrollbackView.open(source(3), "#lobby", render, SIZE))!;
  const rows = view.rows(SIZE);
  assertEquals(rows.lines, [...Array(7).fill(""), "m1", "m2", "m3"]);
  assertEquals(rows.atTop, true);
  assertEquals(rows.atBottom, true);
  assertEquals(await view.down(SIZE), false);
  assertEquals(await ScrollbackView.open(source(0), "#lobby", render, SIZE), undefined);
});

Deno.test("a view anchored at a match shows it highlighted in the middle, and pages on", async () => {
  const count = SCROLLBACK_PAGE * 3;
  const store = source(count);
  const view = (await ScrollbackView.open(store, "#lobby", render, SIZE, 120))!;
  const rows = view.rows(SIZE);
  const at = rows.lines.indexOf("» m120");
  assertEquals(at, SIZE.height / 2, rows.lines.join(","));
  assertEquals(rows.lines[at - 1], "m119");
  assertEquals(rows.lines[at + 1], "m121");
  let downs = 0;
  while (await view.down(SIZE)) downs += 1;
  assert(downs >= (count - 125) / STEP - 1, `${downs} pages down to live`);
  assert(store.calls.some((call) => call.includes('"after":220')), "newer pages loaded");
  assertEquals(
    await ScrollbackView.open(source(5), "#lobby", render, SIZE, 99),
    undefined,
    "a match that is gone",
  );
});

Deno.test("a view rewraps when the terminal gets narrower", async () => {
  const view =
    (await ScrollbackView.open(source(3), "#lobby", (m) => `${m.event.text}-abcdef`, SIZE))!;
  const narrow = view.rows({ width: 5, height: 4 }).lines;
  assertEquals(narrow, ["m2-ab", "cdef", "m3-ab", "cdef"]);
});
