import { join } from "node:path";
import { assertEquals, assertRejects, assertThrows } from "../../tests/support/assert.ts";
import { MAX_MOTD_BYTES } from "../../protocol/moderation/limits.ts";
import { checkMotd, MotdError, readMotd } from "./motd.ts";

/** Writes `content` to a file in a temp dir and runs `fn` with its path. */
async function withFile(content: string | Uint8Array, fn: (path: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "openchat-motd-" });
  try {
    const path = join(dir, "motd.txt");
    if (typeof content === "string") await Deno.writeTextFile(path, content);
    else await Deno.writeFile(path, content);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readMotd() reads UTF-8 text, normalising line ends and trailing space", async () => {
  await withFile("\ufeffWelcome to openchat ☕\r\n\tBe kind.\r\n\r\n", async (path) => {
    assertEquals(await readMotd(path), "Welcome to openchat ☕\n\tBe kind.");
  });
  await withFile("", async (path) => assertEquals(await readMotd(path), ""));
});

Deno.test("readMotd() reads MAX_MOTD_BYTES and refuses a byte more", async () => {
  assertEquals(MAX_MOTD_BYTES, 4096);
  await withFile("x".repeat(MAX_MOTD_BYTES), async (path) => {
    assertEquals((await readMotd(path)).length, MAX_MOTD_BYTES);
  });
  await withFile("x".repeat(MAX_MOTD_BYTES + 1), async (path) => {
    await assertRejects(() => readMotd(path), MotdError, `larger than ${MAX_MOTD_BYTES} bytes`);
  });
});

Deno.test("readMotd() refuses a missing file, a directory and bytes that are not UTF-8", async () => {
  const dir = await Deno.makeTempDir({ prefix: "openchat-motd-" });
  try {
    const missing = join(dir, "nope.txt");
    await assertRejects(
      () => readMotd(missing),
      MotdError,
      `no message-of-the-day file at ${missing}`,
    );
    await assertRejects(() => readMotd(dir), MotdError, "not a regular file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await withFile(new Uint8Array([0x68, 0x69, 0xff]), async (path) => {
    await assertRejects(() => readMotd(path), MotdError, "not UTF-8");
  });
});

Deno.test("checkMotd() refuses terminal controls, naming line and column", () => {
  const cases: [string, string][] = [
    ["hi\n\u001b[2Jgone", "U+001B at line 2, column 1"],
    ["bell\u0007", "U+0007 at line 1, column 5"],
    ["old\rmac", "U+000D at line 1, column 4"],
    ["ok\n\u009b31m", "U+009B at line 2, column 1"],
    ["abc\u202edcba", "U+202E at line 1, column 4"],
    ["\u2066isolate", "U+2066 at line 1, column 1"],
  ];
  for (const [text, where] of cases) assertThrows(() => checkMotd(text), MotdError, where);
  assertEquals(checkMotd("tabs\tand\nnewlines"), "tabs\tand\nnewlines");
});
