/**
 * Raw terminal input to key events. A terminal in raw mode sends bytes: UTF-8 text, control
 * bytes (Ctrl-A is 0x01), and escape sequences for the other keys (`ESC [ A` is Up). Any of these
 * may be split across reads, so the parser keeps what it cannot finish yet. Bracketed paste
 * (`ESC [ 200 ~` ... `ESC [ 201 ~`) becomes one `paste` event whose line breaks are `\n`, so a
 * pasted block never sends itself line by line.
 *
 * @module
 */

/** Named keys; letters and other characters are named by themselves (`"a"`, `"["`). */
export type KeyName =
  | "enter"
  | "tab"
  | "backspace"
  | "delete"
  | "insert"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "page-up"
  | "page-down"
  | "escape"
  | "space"
  | "unknown"
  | (string & Record<never, never>);

/** One input event. */
export type Key =
  /** Printable text typed (one or more characters). */
  | { kind: "text"; text: string }
  /** A bracketed paste: its text with line breaks as `\n` and no other control characters. */
  | { kind: "paste"; text: string }
  /** A key with a name, or a character with Ctrl or Alt held. */
  | { kind: "key"; name: KeyName; ctrl: boolean; alt: boolean; shift: boolean };

/** Longest escape sequence kept while waiting for its end; longer ones are dropped. */
export const MAX_SEQUENCE = 64;
/** Most characters one paste keeps; the rest is dropped (a message is far smaller). */
export const MAX_PASTE = 1 << 20;

const ESC = "\x1b";
const PASTE_START = "\x1b[200~";
const PASTE_END = "\x1b[201~";

/** Builds a key event. */
export function key(
  name: KeyName,
  modifiers: { ctrl?: boolean; alt?: boolean; shift?: boolean } = {},
): Key {
  return {
    kind: "key",
    name,
    ctrl: modifiers.ctrl ?? false,
    alt: modifiers.alt ?? false,
    shift: modifiers.shift ?? false,
  };
}

const CSI_LETTERS: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
  Z: "tab",
};

const CSI_TILDE: Record<string, KeyName> = {
  "1": "home",
  "2": "insert",
  "3": "delete",
  "4": "end",
  "5": "page-up",
  "6": "page-down",
  "7": "home",
  "8": "end",
};

/** The key a single control byte (0x00-0x1f, 0x7f) stands for. */
function controlKey(code: number): Key | undefined {
  switch (code) {
    case 0x0d:
    case 0x0a:
      return key("enter");
    case 0x09:
      return key("tab");
    case 0x7f:
      return key("backspace");
    case 0x08:
      return key("backspace", { ctrl: true });
    case 0x00:
      return key("space", { ctrl: true });
  }
  if (code >= 0x01 && code <= 0x1a) return key(String.fromCharCode(code + 0x60), { ctrl: true });
  if (code >= 0x1c && code <= 0x1f) return key(String.fromCharCode(code + 0x40), { ctrl: true });
  return undefined;
}

function isControl(code: number): boolean {
  return code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0);
}

/** Decodes xterm's modifier parameter (`1;5D` is Ctrl-Left: 5 - 1 = 4 = Ctrl). */
function modifiers(parameter: string | undefined): { ctrl: boolean; alt: boolean; shift: boolean } {
  const bits = Math.max(0, Number(parameter ?? "1") - 1) || 0;
  return { shift: (bits & 1) !== 0, alt: (bits & 2) !== 0, ctrl: (bits & 4) !== 0 };
}

type Parsed =
  /** Need more input to decide. */
  | { done: false }
  /** Consumed `length` characters, producing `key` (or nothing) or the start of a paste. */
  | { done: true; length: number; key?: Key; pasteStart?: true };

/** Parses an escape sequence at the start of `text` (which starts with ESC). */
function parseEscape(text: string): Parsed {
  if (text.length < 2) return { done: false };
  const second = text[1]!;
  if (second === "[") return parseCsi(text);
  if (second === "O") {
    if (text.length < 3) return { done: false };
    const final = text[2]!;
    const name = final === "M" ? "enter" : CSI_LETTERS[final];
    return { done: true, length: 3, key: name ? key(name) : key("unknown") };
  }
  if (second === ESC) return { done: true, length: 1, key: key("escape") };
  const code = second.codePointAt(0)!;
  const length = 1 + (code > 0xffff ? 2 : 1);
  if (isControl(code)) {
    const control = controlKey(code);
    if (!control || control.kind !== "key") return { done: true, length, key: key("unknown") };
    return { done: true, length, key: { ...control, alt: true } };
  }
  return { done: true, length, key: key(String.fromCodePoint(code), { alt: true }) };
}

/** Parses `ESC [ parameters intermediates final`. */
function parseCsi(text: string): Parsed {
  let index = 2;
  while (index < text.length) {
    const code = text.charCodeAt(index);
    if (code >= 0x40 && code <= 0x7e) break; // final byte
    if (code < 0x20 || code > 0x3f) {
      // Not a well-formed sequence: drop what came so far and read on from this character.
      return { done: true, length: index, key: key("unknown") };
    }
    index += 1;
    if (index > MAX_SEQUENCE) return { done: true, length: index, key: key("unknown") };
  }
  if (index >= text.length) return { done: false };
  const final = text[index]!;
  const parameters = text.slice(2, index).split(";");
  const length = index + 1;
  if (final === "~") {
    const first = parameters[0] ?? "";
    if (first === "200") return { done: true, length, pasteStart: true };
    if (first === "201") return { done: true, length }; // a stray end of paste
    const name = CSI_TILDE[first];
    return { done: true, length, key: name ? key(name, modifiers(parameters[1])) : key("unknown") };
  }
  const name = CSI_LETTERS[final];
  if (!name) return { done: true, length, key: key("unknown") };
  const mods = modifiers(parameters[1]);
  return { done: true, length, key: key(name, final === "Z" ? { ...mods, shift: true } : mods) };
}

/** Line breaks as `\n`; other control characters (escapes among them) dropped; tabs kept. */
export function cleanPaste(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\r\n?/g, "\n").replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "");
}

/**
 * Turns raw input into {@linkcode Key} events, across reads.
 *
 * @example
 * ```ts
 * import { KeyParser } from "./keys.ts";
 * const parser = new KeyParser();
 * parser.feed("hi\x1b["); // [{ kind: "text", text: "hi" }]
 * parser.feed("D");       // [{ kind: "key", name: "left", ctrl: false, alt: false, shift: false }]
 * ```
 */
export class KeyParser {
  readonly #decoder = new TextDecoder("utf-8");
  #buffer = "";
  #paste: string | undefined;
  #pasteLength = 0;

  /**
   * Whether a lone ESC (or the start of a sequence) waits for more input. The caller should call
   * {@linkcode KeyParser.flush} after a short pause, so the Escape key itself is seen.
   */
  get pending(): boolean {
    return this.#paste === undefined && this.#buffer.length > 0;
  }

  /** Whether a bracketed paste has started and not ended yet. */
  get inPaste(): boolean {
    return this.#paste !== undefined;
  }

  /** Parses the next bytes (or already decoded text) and returns the complete events in them. */
  feed(input: Uint8Array | string): Key[] {
    this.#buffer += typeof input === "string"
      ? input
      : this.#decoder.decode(input, { stream: true });
    return this.#parse(false);
  }

  /** Ends a pending sequence: a lone ESC becomes the Escape key, a partial sequence is dropped. */
  flush(): Key[] {
    return this.#parse(true);
  }

  #parse(force: boolean): Key[] {
    const keys: Key[] = [];
    let text = "";
    const endText = () => {
      if (text) keys.push({ kind: "text", text });
      text = "";
    };
    let buffer = this.#buffer;
    while (buffer.length > 0) {
      if (this.#paste !== undefined) {
        buffer = this.#continuePaste(buffer, keys);
        if (this.#paste !== undefined) break; // the rest of the paste has not arrived yet
        continue;
      }
      const code = buffer.codePointAt(0)!;
      if (code === 0x1b) {
        const parsed = parseEscape(buffer);
        if (!parsed.done) {
          if (!force && buffer.length <= MAX_SEQUENCE) break;
          endText();
          keys.push(buffer.length === 1 ? key("escape") : key("unknown"));
          buffer = "";
          break;
        }
        endText();
        buffer = buffer.slice(parsed.length);
        if (parsed.key) keys.push(parsed.key);
        if (parsed.pasteStart) {
          this.#paste = "";
          this.#pasteLength = 0;
        }
        continue;
      }
      const width = code > 0xffff ? 2 : 1;
      if (isControl(code)) {
        endText();
        const control = controlKey(code);
        if (control) keys.push(control);
      } else {
        text += buffer.slice(0, width);
      }
      buffer = buffer.slice(width);
    }
    endText();
    this.#buffer = buffer;
    return keys;
  }

  /** Takes paste text from `buffer` up to the end marker; returns what follows the paste. */
  #continuePaste(buffer: string, keys: Key[]): string {
    const end = buffer.indexOf(PASTE_END);
    if (end >= 0) {
      this.#appendPaste(buffer.slice(0, end));
      keys.push({ kind: "paste", text: cleanPaste(this.#paste!) });
      this.#paste = undefined;
      return buffer.slice(end + PASTE_END.length);
    }
    // Keep a tail that could be the start of the end marker; the rest is paste text.
    let keep = Math.min(buffer.length, PASTE_END.length - 1);
    while (keep > 0 && !PASTE_END.startsWith(buffer.slice(buffer.length - keep))) keep -= 1;
    this.#appendPaste(buffer.slice(0, buffer.length - keep));
    return buffer.slice(buffer.length - keep);
  }

  #appendPaste(text: string): void {
    const room = MAX_PASTE - this.#pasteLength;
    if (room <= 0) return;
    const kept = text.length > room ? text.slice(0, room) : text;
    this.#paste += kept;
    this.#pasteLength += kept.length;
  }
}

/** The marker a terminal sends before pasted text when bracketed paste is on. */
export const BRACKETED_PASTE_START = PASTE_START;
/** The marker a terminal sends after pasted text. */
export const BRACKETED_PASTE_END = PASTE_END;
