/**
 * The NATS addresses a cluster member connects to: `--cluster` values (repeatable, each a comma
 * list) or `OPENCHAT_NATS_URL`, checked once at the edge so that the rest of the cluster code
 * only ever sees well-formed `nats://HOST:PORT` URLs.
 *
 * @module
 */

/** Environment variable naming the NATS server(s) when `--cluster` is not given. */
export const NATS_URL_ENV = "OPENCHAT_NATS_URL";
/** Most NATS URLs one process takes (a NATS cluster has a handful of seeds at most). */
export const MAX_NATS_URLS = 8;
/** Longest NATS URL accepted, in characters. */
export const MAX_NATS_URL_CHARS = 256;

const URL_PATTERN =
  /^(nats|tls):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/;

/** A `--cluster` value that is not a NATS URL (or too many of them). */
export class NatsUrlError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "NatsUrlError";
  }
}

/**
 * Parses NATS URLs from `values` (each may be a comma list), without duplicates, in order.
 *
 * @example
 * ```ts
 * import { parseNatsUrls } from "./nats_urls.ts";
 * parseNatsUrls(["nats://127.0.0.1:4222,nats://127.0.0.1:4223"]);
 * // ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
 * ```
 *
 * @throws {NatsUrlError} naming the value received, when one is not `nats://HOST:PORT` (or
 *   `tls://HOST:PORT`), a port is out of range, or there are more than {@linkcode MAX_NATS_URLS}.
 */
export function parseNatsUrls(values: readonly string[]): string[] {
  const urls: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      const url = part.trim();
      if (url === "") continue;
      const match = url.length <= MAX_NATS_URL_CHARS ? url.match(URL_PATTERN) : null;
      const port = Number(match?.[3]);
      if (!match || port < 1 || port > 65535) {
        throw new NatsUrlError(
          `expected nats://HOST:PORT (e.g. nats://127.0.0.1:4222), received ${
            JSON.stringify(url.length > 80 ? url.slice(0, 80) + "..." : url)
          }`,
        );
      }
      if (!urls.includes(url)) urls.push(url);
    }
  }
  if (urls.length > MAX_NATS_URLS) {
    throw new NatsUrlError(`at most ${MAX_NATS_URLS} NATS URLs, received ${urls.length}`);
  }
  return urls;
}

/**
 * The NATS URLs to use: the `--cluster` values if any, else `OPENCHAT_NATS_URL`, else none (the
 * embedded single server).
 */
export function clusterUrls(values: readonly string[], env = Deno.env.get(NATS_URL_ENV)): string[] {
  if (values.length > 0) return parseNatsUrls(values);
  return env ? parseNatsUrls([env]) : [];
}
