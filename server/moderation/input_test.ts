import { assertEquals } from "../../tests/support/assert.ts";
import { applyModeChanges, isRefusal, parseModeChanges } from "./input.ts";

Deno.test("parseModeChanges() reads signs and letters, each letter once", () => {
  assertEquals(parseModeChanges("+i"), { add: ["i"], remove: [] });
  assertEquals(parseModeChanges("-mt"), { add: [], remove: ["m", "t"] });
  assertEquals(parseModeChanges("+m-t+i"), { add: ["m", "i"], remove: ["t"] });
});

Deno.test("parseModeChanges() refuses anything else as bad_mode", () => {
  for (const changes of ["", "+", "i", "+x", "++i", "+i-", "+ii", "-i+i", "+I", "+ i", 1]) {
    const result = parseModeChanges(changes);
    assertEquals(isRefusal(result) ? result.code : result, "bad_mode", String(changes));
  }
});

Deno.test("applyModeChanges() applies, sorts and reports only what changed", () => {
  const apply = (current: string, changes: string) => {
    const parsed = parseModeChanges(changes);
    if (isRefusal(parsed)) throw new Error(parsed.message);
    return applyModeChanges(current, parsed);
  };
  assertEquals(apply("", "+ti"), { modes: "it", applied: "+it" });
  assertEquals(apply("it", "+i-m"), { modes: "it", applied: "" });
  assertEquals(apply("m", "-m+it"), { modes: "it", applied: "+it-m" });
  assertEquals(apply("imt", "-imt"), { modes: "", applied: "-imt" });
});
