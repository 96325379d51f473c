import { assert, assertEquals, assertThrows } from "../tests/support/assert.ts";
import {
  DURATION_UNITS,
  formatDuration,
  MAX_DURATION_MS,
  MIN_DURATION_MS,
  parseDuration,
} from "./duration.ts";

const VALID: readonly [string, number][] = [
  ["1s", 1_000],
  ["30s", 30_000],
  ["10m", 600_000],
  ["2h", 7_200_000],
  ["7d", 604_800_000],
  ["90m", 5_400_000],
  ["365d", MAX_DURATION_MS],
  ["8760h", MAX_DURATION_MS],
  ["525600m", MAX_DURATION_MS],
  ["31536000s", MAX_DURATION_MS],
];

const INVALID: readonly string[] = [
  "",
  "10",
  "5y",
  "0s",
  "00s",
  "010m",
  "-1m",
  "+1m",
  "1.5h",
  "1e3s",
  "0x10s",
  " 2h",
  "2h ",
  "2 h",
  "2H",
  "h",
  "1h30m",
  "2hh",
  "１s", // a full-width digit
  "366d",
  "8761h",
  "525601m",
  "31536001s",
  "99999999d",
  "999999999s",
  "9".repeat(400) + "s",
];

Deno.test("parseDuration() reads one positive number and one unit", () => {
  for (const [text, ms] of VALID) assertEquals(parseDuration(text), ms, text);
});

Deno.test("parseDuration() accepts MIN_DURATION_MS and MAX_DURATION_MS and nothing past them", () => {
  assertEquals(MIN_DURATION_MS, 1_000);
  assertEquals(MAX_DURATION_MS, 365 * 86_400_000);
  assertEquals(parseDuration("1s"), MIN_DURATION_MS);
  assertEquals(parseDuration("365d"), MAX_DURATION_MS);
  assertThrows(() => parseDuration("0s"), RangeError);
  assertThrows(() => parseDuration("366d"), RangeError, "at most 365d");
  assertThrows(() => parseDuration("31536001s"), RangeError, "at most 365d");
});

Deno.test("parseDuration() throws on invalid input, naming what it received", () => {
  for (const text of INVALID) {
    const error = assertThrows(() => parseDuration(text), RangeError, undefined, text);
    const named = text.length > 20 ? `a string of ${text.length} characters` : JSON.stringify(text);
    assert(error.message.includes(named), `${text}: ${error.message}`);
  }
});

Deno.test("parseDuration() throws on a value that is not a string", () => {
  for (const value of [undefined, null, 10, {}, ["1s"]]) {
    assertThrows(() => parseDuration(value as unknown as string), RangeError);
  }
});

Deno.test("formatDuration() uses the largest unit that counts exactly", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [1, "1s"],
    [999, "1s"],
    [1_000, "1s"],
    [1_001, "2s"],
    [59_000, "59s"],
    [60_000, "1m"],
    [61_000, "61s"],
    [5_400_000, "90m"],
    [86_400_000, "1d"],
    [90_000_000, "25h"],
    [MAX_DURATION_MS, "365d"],
    [MAX_DURATION_MS + 1_000, "31536001s"],
  ];
  for (const [ms, text] of cases) assertEquals(formatDuration(ms), text, String(ms));
});

Deno.test("formatDuration() throws on a negative, fractional or non-finite value", () => {
  for (const ms of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
    assertThrows(() => formatDuration(ms), RangeError, "received");
  }
});

Deno.test("formatDuration(parseDuration()) gives the canonical spelling", () => {
  assertEquals(formatDuration(parseDuration("120s")), "2m");
  assertEquals(formatDuration(parseDuration("48h")), "2d");
  assertEquals(formatDuration(parseDuration("7d")), "7d");
  for (const [text, ms] of VALID) assertEquals(parseDuration(formatDuration(ms)), ms, text);
});

/** A small deterministic generator, so a failing fuzz case can be replayed. */
function* randomStrings(seed: number, count: number): Generator<string> {
  const alphabet = "0123456789smhdySMHD.+- e\u0000１";
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state;
  };
  for (let i = 0; i < count; i++) {
    let text = "";
    if (i % 2 === 0) {
      // Near misses: digits and a unit, now and then with one character changed.
      const digits = 1 + next() % 9;
      for (let j = 0; j < digits; j++) text += String(next() % 10);
      text += "smhdy"[next() % 5];
      if (next() % 4 === 0) {
        const at = next() % text.length;
        text = text.slice(0, at) + alphabet[next() % alphabet.length] + text.slice(at + 1);
      }
    } else {
      const length = next() % 12;
      for (let j = 0; j < length; j++) text += alphabet[next() % alphabet.length];
    }
    yield text;
  }
}

Deno.test("parseDuration() fuzzed: a bounded whole number of ms or a RangeError, never NaN", () => {
  let accepted = 0;
  for (const text of randomStrings(13, 20_000)) {
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (error) {
      assert(error instanceof RangeError, `${JSON.stringify(text)}: ${error}`);
      continue;
    }
    accepted += 1;
    assert(Number.isSafeInteger(ms), JSON.stringify(text));
    assert(ms >= MIN_DURATION_MS && ms <= MAX_DURATION_MS, JSON.stringify(text));
    assertEquals(ms % DURATION_UNITS.s, 0);
    assertEquals(parseDuration(formatDuration(ms)), ms, text);
  }
  assert(accepted > 100, `the fuzzer reached few valid inputs (${accepted})`);
});

Deno.test("formatDuration() fuzzed: never throws on whole ms, never prints NaN", () => {
  let state = 7;
  for (let i = 0; i < 20_000; i++) {
    state = (state * 48_271) % 2_147_483_647;
    const ms = state * (i % 3 === 0 ? 1 : 1_000) % (2 * MAX_DURATION_MS);
    const text = formatDuration(ms);
    assert(/^[0-9]+[smhd]$/.test(text), `${ms}: ${text}`);
    if (ms > 0 && ms <= MAX_DURATION_MS) assert(parseDuration(text) >= ms, `${ms}: ${text}`);
  }
});
