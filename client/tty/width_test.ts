import { assert, assertEquals } from "../../tests/support/assert.ts";
import { codePointWidth, displayWidth, graphemes, stripAnsi } from "./width.ts";

const WIDTHS: [string, number][] = [
  ["", 0],
  ["abc", 3],
  ["héllo", 5],
  ["e\u0301", 1],
  ["日本語", 6],
  ["🔒", 2],
  ["⚠", 1],
  ["…", 1],
  ["↑", 1],
  ["👍🏽", 2],
  ["👩‍💻", 2],
  ["한국", 4],
  ["ｆｕｌｌ", 8],
];

for (const [text, width] of WIDTHS) {
  Deno.test(`displayWidth(${JSON.stringify(text)}) is ${width}`, () => {
    assertEquals(displayWidth(text), width);
  });
}

Deno.test("graphemes() keeps combining marks and emoji sequences whole", () => {
  assertEquals(graphemes("ae\u0301👩‍💻b"), ["a", "e\u0301", "👩‍💻", "b"]);
});

Deno.test("codePointWidth() gives control characters no width", () => {
  for (const code of [0, 7, 0x1b, 0x7f, 0x9b]) assertEquals(codePointWidth(code), 0);
});

Deno.test("stripAnsi() removes colour sequences only", () => {
  assertEquals(stripAnsi("\x1b[1m\x1b[31mred\x1b[39m\x1b[22m plain"), "red plain");
});

Deno.test("the width tables are sorted, so the binary search can find everything", async () => {
  const source = await Deno.readTextFile(new URL("./width.ts", import.meta.url));
  const pairs = [...source.matchAll(/\[(0x[0-9a-f]+), (0x[0-9a-f]+)\]/g)].map((m) => [
    Number(m[1]),
    Number(m[2]),
  ]);
  assert(pairs.length > 50);
  // Two tables follow each other; each must be ascending and non-overlapping.
  let tables = 1;
  for (let i = 1; i < pairs.length; i++) {
    const [from, to] = pairs[i]!;
    assert(from! <= to!, `range ${i} is reversed`);
    if (from! <= pairs[i - 1]![1]!) tables += 1;
  }
  assertEquals(tables, 2);
});
