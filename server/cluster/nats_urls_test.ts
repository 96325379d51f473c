import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import {
  clusterUrls,
  MAX_NATS_URL_CHARS,
  MAX_NATS_URLS,
  NatsUrlError,
  parseNatsUrls,
} from "./nats_urls.ts";

Deno.test("parseNatsUrls() takes repeated values and comma lists, without duplicates", () => {
  assertEquals(
    parseNatsUrls(["nats://127.0.0.1:4222", " nats://a.example:4223 ,nats://127.0.0.1:4222", ""]),
    ["nats://127.0.0.1:4222", "nats://a.example:4223"],
  );
  assertEquals(parseNatsUrls(["tls://[::1]:4222"]), ["tls://[::1]:4222"]);
});

Deno.test("parseNatsUrls() refuses what is not nats://HOST:PORT", () => {
  for (
    const bad of [
      "127.0.0.1:4222",
      "http://x:1",
      "nats://x",
      "nats://x:0",
      "nats://x:65536",
      "nats://user:pw@x:4222",
      "nats://-x:1",
      `nats://${"a".repeat(MAX_NATS_URL_CHARS)}:1`,
    ]
  ) {
    assertThrows(() => parseNatsUrls([bad]), NatsUrlError, "expected nats://HOST:PORT");
  }
});

Deno.test("parseNatsUrls() takes MAX_NATS_URLS URLs and refuses one more", () => {
  const urls = Array.from({ length: MAX_NATS_URLS + 1 }, (_, i) => `nats://127.0.0.1:${4000 + i}`);
  assertEquals(parseNatsUrls([urls.slice(0, MAX_NATS_URLS).join(",")]).length, MAX_NATS_URLS);
  assertThrows(() => parseNatsUrls([urls.join(",")]), NatsUrlError, String(MAX_NATS_URLS));
});

Deno.test("clusterUrls() prefers --cluster, then the environment, else none", () => {
  assertEquals(clusterUrls(["nats://a:1"], "nats://b:2"), ["nats://a:1"]);
  assertEquals(clusterUrls([], "nats://b:2"), ["nats://b:2"]);
  assertEquals(clusterUrls([], undefined), []);
  assertThrows(() => clusterUrls([], "nope"), NatsUrlError);
});
