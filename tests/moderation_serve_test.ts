/**
 * `openchat serve --admin NAME`, `--remove-admin NAME` and `--motd FILE` as child processes:
 * administrators are recorded in the data directory and stay across restarts (and act as
 * owners), can be taken off, and bad names or message-of-the-day files stop the start with a
 * clear message, creating nothing.
 */

import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { inTempDir, openchat } from "./support/cli.ts";
import { JoinProcess } from "./support/join_process.ts";
import { roles } from "./support/moderation_steps.ts";
import { WAIT_MS } from "./support/moderation_stage.ts";
import { startServeProcess } from "./support/serve_process.ts";
import { MAX_MOTD_BYTES } from "../protocol/moderation/mod.ts";

Deno.test("serve --admin: recorded in the data directory, kept by later starts (root acts as an admin), taken off with --remove-admin", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    let serve = await startServeProcess(data, ["--admin", "root", "--admin", "toor"]);
    try {
      assertStringIncludes(serve.stdout(), "administrators:            root, toor");
      await serve.stop();
      assertEquals(JSON.parse(await Deno.readTextFile(`${data}/admins.json`)), {
        admins: ["root", "toor"],
      });
      serve = await startServeProcess(data); // no --admin: the record holds
      assertStringIncludes(serve.stdout(), "administrators:            root, toor");
      const issued = await openchat(["ca", "issue", "root", "--data-dir", data], { cwd: dir });
      assertEquals(issued.code, 0, issued.stderr);
      const root = JoinProcess.start(
        `127.0.0.1:${serve.port}`,
        `${dir}/root.pem`,
        `${dir}/config-root`,
        ["--no-history"],
      );
      try {
        await root.next("ready", () => true, WAIT_MS);
        assertEquals(await roles(root), ["root(admin)"]);
      } finally {
        await root.kill();
      }
      await serve.stop();
      serve = await startServeProcess(data, ["--remove-admin", "toor"]);
      assertStringIncludes(serve.stdout(), "administrators:            root\n");
      await serve.stop();
      serve = await startServeProcess(data, ["--remove-admin", "root"]);
      assertStringIncludes(serve.stdout(), "administrators:            none");
    } finally {
      await serve.stop();
    }
  });
});

Deno.test("serve: an --admin that is no user name, or a --motd file that is missing, too large or holds a control character, stops the start and creates nothing", async () => {
  await inTempDir(async (dir) => {
    const data = `${dir}/data`;
    await Deno.writeTextFile(`${dir}/escape.txt`, "Welcome!\nnow \u001b[2J clear\n");
    await Deno.writeTextFile(`${dir}/large.txt`, "x".repeat(MAX_MOTD_BYTES + 1));
    for (
      const [args, code, says] of [
        [["--admin", "Root"], 2, "--admin"],
        [["--remove-admin", "../x"], 2, "--remove-admin"],
        [["--motd", `${dir}/missing.txt`], 1, "no message-of-the-day file"],
        [["--motd", `${dir}/large.txt`], 1, `larger than ${MAX_MOTD_BYTES} bytes`],
        [["--motd", `${dir}/escape.txt`], 1, "line 2, column 5"],
      ] as const
    ) {
      const result = await openchat(["serve", "--port", "0", "--data-dir", data, ...args]);
      assertEquals(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      assertStringIncludes(result.stderr, says);
    }
    assert(
      !(await Deno.stat(data).then(() => true, () => false)),
      "the start created the data directory",
    );
  });
});
