/**
 * Outside judges the tests call on: openssl, Python's `cryptography`, tmux. They are required,
 * not optional: a missing tool fails the test with a message saying what to install, because a
 * skipped check is a check that cannot fail.
 *
 * @module
 */

/** The result of running a command to completion. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cmd` with `args`, feeding `stdin` if given, and collects its output. */
export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

async function works(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await run(cmd, args)).code === 0;
  } catch {
    return false;
  }
}

let pythonPath: Promise<string> | undefined;

/**
 * A Python interpreter that can `import cryptography`: `$OPENCHAT_PYTHON`, then `python3`, then
 * Debian's `/usr/bin/python3` (where `apt install python3-cryptography` puts it).
 */
export function pythonWithCryptography(): Promise<string> {
  pythonPath ??= (async () => {
    const candidates = [Deno.env.get("OPENCHAT_PYTHON"), "python3", "/usr/bin/python3"];
    for (const candidate of candidates) {
      if (candidate && await works(candidate, ["-c", "import cryptography.fernet"])) {
        return candidate;
      }
    }
    throw new Error(
      "No Python with the `cryptography` package: install it (apt install python3-cryptography)",
    );
  })();
  return pythonPath;
}

/** Throws a clear error unless `tool --version`-style `probe` succeeds. */
export async function requireTool(tool: string, probe: string[] = ["-V"]): Promise<string> {
  if (!await works(tool, probe)) {
    throw new Error(`${tool} is required by this test: install it (apt install ${tool})`);
  }
  return tool;
}
