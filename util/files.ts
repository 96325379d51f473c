/**
 * File helpers for state that must never be half-written or world-readable: private keys,
 * identity files, the trust store.
 *
 * @module
 */

/** Mode of files that hold secrets: owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of directories that hold secrets. */
export const PRIVATE_DIR_MODE = 0o700;

/** Options for {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode; defaults to {@linkcode PRIVATE_FILE_MODE}. */
  mode?: number;
  /** Refuse (with `Deno.errors.AlreadyExists`) when the target already exists. */
  createNew?: boolean;
}

/**
 * Writes `data` to `path` atomically: into a fresh temporary file in the same directory, created
 * with the final mode, flushed to disk, then renamed over the target. Readers see the old file or
 * the new one, never a torn one, and the secret is never readable by others, even briefly.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? PRIVATE_FILE_MODE;
  if (options.createNew && await exists(path)) {
    throw new Deno.errors.AlreadyExists(`${path} already exists`);
  }
  const temporary = `${path}.tmp-${crypto.randomUUID()}`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(temporary, { write: true, createNew: true, mode });
  try {
    let offset = 0;
    while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
    await Deno.chmod(temporary, mode); // the umask may have changed `mode` at creation
    await file.sync();
  } catch (error) {
    file.close();
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  file.close();
  try {
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/** True when something (file, directory or link) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Creates `dir` (and parents) if missing, with {@linkcode PRIVATE_DIR_MODE}, and checks that it
 * is a directory.
 *
 * @throws {Error} with a message naming the path when it is not a usable directory.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  const info = await Deno.stat(dir);
  if (!info.isDirectory) throw new Error(`${dir} is not a directory`);
}
