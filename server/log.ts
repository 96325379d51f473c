/**
 * Structured log lines on standard error, one event per line in logfmt:
 *
 *     2026-11-26T12:00:00.000Z level=info event=auth_ok user=alice session=3q2-7w addr=127.0.0.1:50312
 *
 * Callers pass event names and small scalar fields only. Payloads and key material are never
 * handed to the logger, so they cannot end up in a log.
 *
 * @module
 */

/** Severity, in increasing order. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Field values a log line may carry. */
export type LogValue = string | number | boolean | undefined;

/** Where log lines go. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, LogValue>): void;
}

/** Quotes a value when it would otherwise break the line apart. */
function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=\p{Cc}]+$/u.test(text) ? text : JSON.stringify(text);
}

/** Formats one log line (without the newline). */
export function formatLogLine(
  level: LogLevel,
  event: string,
  fields: Record<string, LogValue> = {},
  now = new Date(),
): string {
  let line = `${now.toISOString()} level=${level} event=${formatValue(event)}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** A logger that writes lines at or above `minimum` to standard error. */
export function stderrLogger(minimum: LogLevel = "info"): Logger {
  const encoder = new TextEncoder();
  return {
    log(level, event, fields) {
      if (ORDER[level] < ORDER[minimum]) return;
      try {
        Deno.stderr.writeSync(encoder.encode(formatLogLine(level, event, fields) + "\n"));
      } catch {
        // A closed stderr must not take the server down with it.
      }
    },
  };
}

/** A logger that drops everything (for embedding the server in tests and benchmarks). */
export const silentLogger: Logger = { log() {} };
