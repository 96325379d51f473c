import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { formatDuration, parseDuration } from "./duration.ts";

Deno.test("parseDuration() reads a number and one unit", () => {
  const cases: [string, number][] = [
    ["30s", 30_000],
    ["10m", 600_000],
    ["2h", 7_200_000],
    ["7d", 604_800_000],
    [" 1m ", 60_000],
    ["999999s", 999_999_000],
  ];
  for (const [text, ms] of cases) {
    assertEquals(parseDuration(text), ms);
    assertEquals(parseDuration(formatDuration(ms)), ms);
  }
});

Deno.test("parseDuration() throws RangeError naming what it received", () => {
  for (const text of ["", "0s", "5", "h", "1.5h", "-1h", "1w", "1000000s", "2 h", "1h30m"]) {
    assertThrows(() => parseDuration(text), RangeError, `received ${JSON.stringify(text)}`);
  }
});
