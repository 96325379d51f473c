import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { ADMINS_FILE, AdminsError, readAdmins, recordAdmins } from "./admins.ts";

async function inDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "openchat-admins-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("recordAdmins() adds and removes names, keeps them across calls, and writes only on a change", async () => {
  await inDir(async (dir) => {
    assertEquals(await readAdmins(dir), []);
    assertEquals(await recordAdmins(dir, [], []), []);
    await assertRejects(() => Deno.stat(`${dir}/${ADMINS_FILE}`), Deno.errors.NotFound);
    assertEquals(await recordAdmins(dir, ["toor", "root", "root"], []), ["root", "toor"]);
    const written = (await Deno.stat(`${dir}/${ADMINS_FILE}`)).mtime;
    assertEquals(await recordAdmins(dir, ["root"], []), ["root", "toor"]);
    assertEquals((await Deno.stat(`${dir}/${ADMINS_FILE}`)).mtime, written);
    assertEquals(await readAdmins(dir), ["root", "toor"]);
    assertEquals(await recordAdmins(dir, ["ops"], ["toor", "nobody"]), ["ops", "root"]);
    assertEquals(await recordAdmins(dir, ["x"], ["x"]), ["ops", "root"]);
  });
});

Deno.test("recordAdmins() refuses a name that is no user name and writes nothing", async () => {
  await inDir(async (dir) => {
    await recordAdmins(dir, ["root"], []);
    for (const name of ["Root", "", "../etc", "a".repeat(33), "root\n"]) {
      await assertRejects(() => recordAdmins(dir, [name], []), TypeError);
      await assertRejects(() => recordAdmins(dir, [], [name]), TypeError);
    }
    assertEquals(await readAdmins(dir), ["root"]);
  });
});

Deno.test("readAdmins() refuses a record it cannot trust, rather than start with fewer administrators", async () => {
  await inDir(async (dir) => {
    for (
      const text of [
        "not json",
        "[]",
        "null",
        '{"admins": "root"}',
        '{"admins": ["root", "Not A Name"]}',
        '{"admins": [1]}',
      ]
    ) {
      await Deno.writeTextFile(`${dir}/${ADMINS_FILE}`, text);
      await assertRejects(() => readAdmins(dir), AdminsError);
      await assertRejects(() => recordAdmins(dir, ["root"], []), AdminsError);
    }
  });
});
