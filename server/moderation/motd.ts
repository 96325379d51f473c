/**
 * The message of the day (`serve --motd FILE`): read once at start (and again on request), bounded
 * in size, UTF-8, and free of anything that could drive a terminal (control characters other
 * than newline and tab, and the bidirectional overrides that reorder what a screen shows). A
 * bad file is refused with a message naming the problem; nothing is stripped silently except a
 * byte-order mark, Windows line ends and trailing blank space.
 *
 * @module
 */

import { MAX_MOTD_BYTES } from "../../protocol/moderation/limits.ts";

/** A message-of-the-day file that cannot be used. */
export class MotdError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MotdError";
  }
}

// Any C0 or C1 control but tab and newline, and the bidirectional embeddings, overrides and
// isolates (U+202A-U+202E, U+2066-U+2069).
const FORBIDDEN = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
const ALLOWED_CONTROLS = new Set(["\t", "\n"]);

/**
 * Checks and normalises a message of the day: drops a leading byte-order mark, turns `\r\n`
 * into `\n`, trims trailing space, and refuses a forbidden character, naming its line and column.
 *
 * @throws {MotdError} on a forbidden character.
 *
 * @example
 * ```ts
 * import { checkMotd } from "./motd.ts";
 * checkMotd("Welcome!\r\nBe kind.\r\n"); // "Welcome!\nBe kind."
 * ```
 */
export function checkMotd(text: string, source = "the message of the day"): string {
  const normal = text.replace(/^\ufeff/, "").replaceAll("\r\n", "\n").trimEnd();
  const lines = normal.split("\n");
  for (const [index, line] of lines.entries()) {
    for (const [column, char] of [...line].entries()) {
      if (FORBIDDEN.test(char) && !ALLOWED_CONTROLS.has(char)) {
        const code = char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
        throw new MotdError(
          `${source} has a control character U+${code} at line ${index + 1}, column ${column + 1}`,
        );
      }
    }
  }
  return normal;
}

/**
 * Reads a message-of-the-day file: at most {@linkcode MAX_MOTD_BYTES} bytes of UTF-8, checked by
 * {@linkcode checkMotd}. An empty file gives `""` (no message).
 *
 * @throws {MotdError} when the file is missing, not a regular file, too large, not UTF-8, or
 *   holds a forbidden character.
 */
export async function readMotd(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new MotdError(`no message-of-the-day file at ${path}`, { cause: error });
    }
    throw new MotdError(`cannot open the message-of-the-day file ${path}: ${error}`, {
      cause: error,
    });
  }
  try {
    if (!(await file.stat()).isFile) {
      throw new MotdError(`the message-of-the-day file ${path} is not a regular file`);
    }
    // Reads one byte past the bound rather than trusting the size from stat: the file may grow.
    const buffer = new Uint8Array(MAX_MOTD_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = await file.read(buffer.subarray(length));
      if (read === null) break;
      length += read;
    }
    if (length > MAX_MOTD_BYTES) {
      throw new MotdError(
        `the message-of-the-day file ${path} is larger than ${MAX_MOTD_BYTES} bytes`,
      );
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
    } catch (error) {
      throw new MotdError(`the message-of-the-day file ${path} is not UTF-8 text`, {
        cause: error,
      });
    }
    return checkMotd(text, `the message-of-the-day file ${path}`);
  } finally {
    file.close();
  }
}
