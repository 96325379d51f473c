import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { bytesField, decimalField, MAX_U32, splitFields } from "./codec.ts";
import { E2EError } from "./errors.ts";

Deno.test("decimalField accepts exactly one spelling of each number, up to its maximum", () => {
  assertEquals(decimalField("0", MAX_U32, "x", "a"), 0);
  assertEquals(decimalField("4294967295", MAX_U32, "x", "a"), MAX_U32);
  for (
    const text of [
      "",
      "00",
      "01",
      "+1",
      "-1",
      "1.0",
      "1e3",
      " 1",
      "4294967296",
      "99999999999999999",
    ]
  ) {
    const error = assertThrows(() => decimalField(text, MAX_U32, "x", "a"), E2EError);
    assertEquals(error.code, "bad_payload", text);
  }
});

Deno.test("bytesField and splitFields refuse other spellings and other counts", () => {
  assertEquals(bytesField("AAE", "x", "a", 2), Uint8Array.of(0, 1));
  for (const [text, length] of [["AAF", 2], ["AAE=", 2], ["AAE", 3], ["A", undefined]] as const) {
    assertEquals(
      assertThrows(() => bytesField(text, "x", "a", length), E2EError).code,
      "bad_payload",
    );
  }
  assertEquals(splitFields("a.b", 2, "x", "a"), ["a", "b"]);
  assertEquals(assertThrows(() => splitFields("a.b.c", 2, "x", "a"), E2EError).code, "bad_payload");
});
