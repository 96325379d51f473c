import { assertEquals, assertNotEquals } from "../../tests/support/assert.ts";
import { colourWanted, createStyle, userColour } from "./style.ts";

Deno.test("colourWanted() follows NO_COLOR: any non-empty value turns colour off", () => {
  assertEquals(colourWanted(() => undefined), true);
  assertEquals(colourWanted(() => ""), true);
  assertEquals(colourWanted((name) => name === "NO_COLOR" ? "1" : undefined), false);
  assertEquals(colourWanted((name) => name === "NO_COLOR" ? "false" : undefined), false);
});

Deno.test("createStyle(false) never writes an escape sequence", () => {
  const style = createStyle(false);
  for (const paint of [style.bold, style.dim, style.red, style.error, style.warning, style.user]) {
    assertEquals(paint("alice"), "alice");
  }
});

Deno.test("createStyle(true) colours and resets", () => {
  const style = createStyle(true);
  assertEquals(style.red("x"), "\x1b[31mx\x1b[39m");
  assertEquals(style.dim("x"), "\x1b[2mx\x1b[22m");
  assertEquals(style.error("x"), "\x1b[1m\x1b[31mx\x1b[39m\x1b[22m");
  assertEquals(style.user("alice"), `\x1b[${userColour("alice")}malice\x1b[39m`);
  assertEquals(style.red(""), "");
});

Deno.test("userColour() is stable, never error red, and tells names apart", () => {
  assertEquals(userColour("alice"), userColour("alice"));
  const names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
  const colours = new Set(names.map(userColour));
  for (const colour of colours) assertNotEquals(colour, 31);
  assertEquals(colours.size >= 4, true, `only ${colours.size} colours for ${names.length} names`);
});
