/**
 * Colours for the chat screen, as ANSI SGR sequences, or none at all when `NO_COLOR` is set to
 * any non-empty value (https://no-color.org). User names get a colour from a stable hash of the
 * name, so a person keeps their colour across lines and sessions.
 *
 * @module
 */

/** Wraps text in one visual style. */
export type Paint = (text: string) => string;

/** The styles the chat screen uses. */
export interface Style {
  readonly enabled: boolean;
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
  readonly cyan: Paint;
  /** Errors and undelivered messages. */
  readonly error: Paint;
  /** Loud warnings: a key that changed, an unverified sender. */
  readonly warning: Paint;
  /** A user name in that user's colour. */
  readonly user: Paint;
}

/** Foreground colours for names: readable on dark and light backgrounds, never error red. */
const NAME_COLOURS = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96] as const;

/** FNV-1a over the UTF-16 code units of `text`: small, stable, spreads short names well. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    value ^= text.charCodeAt(i);
    value = Math.imul(value, 0x01000193) >>> 0;
  }
  return value;
}

/** The SGR colour code for `user` (the same name always gets the same colour). */
export function userColour(user: string): number {
  return NAME_COLOURS[hash(user) % NAME_COLOURS.length]!;
}

function sgr(open: string, close: string): Paint {
  return (text) => text === "" ? text : `\x1b[${open}m${text}\x1b[${close}m`;
}

const plain: Paint = (text) => text;

/**
 * The styles, with colour or without.
 *
 * @example
 * ```ts
 * import { createStyle } from "./style.ts";
 * createStyle(true).red("no");  // "\x1b[31mno\x1b[39m"
 * createStyle(false).red("no"); // "no"
 * ```
 */
export function createStyle(enabled: boolean): Style {
  if (!enabled) {
    return {
      enabled,
      bold: plain,
      dim: plain,
      red: plain,
      green: plain,
      yellow: plain,
      cyan: plain,
      error: plain,
      warning: plain,
      user: plain,
    };
  }
  const bold = sgr("1", "22");
  const red = sgr("31", "39");
  const yellow = sgr("33", "39");
  return {
    enabled,
    bold,
    dim: sgr("2", "22"),
    red,
    green: sgr("32", "39"),
    yellow,
    cyan: sgr("36", "39"),
    error: (text) => bold(red(text)),
    warning: (text) => bold(yellow(text)),
    user: (text) => sgr(String(userColour(text)), "39")(text),
  };
}

/**
 * Whether to colour: not when `NO_COLOR` is set to a non-empty value. (Reading the environment
 * may be denied; then colour stays on, as it would for any program that cannot see `NO_COLOR`.)
 */
export function colourWanted(env: (name: string) => string | undefined = readEnv): boolean {
  return !env("NO_COLOR");
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
