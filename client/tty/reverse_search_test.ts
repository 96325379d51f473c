import { assertEquals } from "../../tests/support/assert.ts";
import type { StoredMessage } from "../local_store.ts";
import { ReverseSearch } from "./reverse_search.ts";

const found = (id: number): StoredMessage => ({
  id,
  conversation: "#lobby",
  event: {
    type: "message",
    room: "lobby",
    from: "bob",
    device: "main",
    text: `match ${id}`,
    ts: new Date().toISOString(),
    verified: true,
    trust: "verified",
  },
});

Deno.test("Ctrl-R: the query grows, answers for older queries are dropped, Ctrl-R steps back", () => {
  const search = new ReverseSearch({ text: "draft", cursor: 2 });
  assertEquals(search.label(), "(search) ");
  const first = search.type("de");
  assertEquals(search.searching, true);
  const second = search.type("p\nloy");
  assertEquals(search.query, "dep loy", "line breaks become spaces");
  assertEquals(search.answer(first, [found(1)], true), false, "a stale answer");
  assertEquals(search.current?.id, undefined);
  assertEquals(search.answer(second, [found(9), found(4)], true), true);
  assertEquals(search.searching, false);
  assertEquals(search.current?.id, 9);
  assertEquals(search.label(), "(search 1/2) ");
  assertEquals(search.older(), true);
  assertEquals(search.current?.id, 4);
  assertEquals(search.label(), "(search 2/2) ");
  assertEquals(search.older(), false, "no older match");
  assertEquals(search.current?.id, 4);
  const third = search.backspace()!;
  assertEquals(search.query, "dep lo");
  search.answer(third, [], false);
  assertEquals(search.label(), "(search: no match in the newest) ");
  search.answer(search.type("x"), [], true);
  assertEquals(search.label(), "(search: no match) ");
  assertEquals(search.saved, { text: "draft", cursor: 2 });
  const empty = new ReverseSearch({ text: "", cursor: 0 });
  assertEquals(empty.backspace(), undefined);
});

Deno.test("Ctrl-R: a label marks a list cut at its limit", () => {
  const search = new ReverseSearch({ text: "", cursor: 0 });
  search.answer(search.type("a"), [found(3)], false);
  assertEquals(search.label(), "(search 1/1+) ");
});
