import { assertEquals } from "../tests/support/assert.ts";
import { addressKey, AddressSlots } from "./address_slots.ts";

Deno.test("addressKey() keeps IPv4, unwraps IPv4-mapped IPv6, and cuts IPv6 to its /64", () => {
  const cases: [string, string][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::FFFF:10.0.0.7", "10.0.0.7"],
    ["::1", "0:0:0:0::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd", "2001:db8:0:1::/64"],
    ["2001:DB8:0:1::ffff", "2001:db8:0:1::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
  ];
  for (const [ip, key] of cases) assertEquals(addressKey(ip), key, ip);
  assertEquals(addressKey("2001:db8:0:1::1"), addressKey("2001:db8:0:1:ffff::2"));
});

Deno.test("AddressSlots: an address takes up to its bound, not one more; others are unaffected", () => {
  const slots = new AddressSlots(3);
  const releases = [slots.take("192.0.2.1"), slots.take("192.0.2.1"), slots.take("192.0.2.1")];
  assertEquals(releases.every((r) => r !== undefined), true, "at the bound");
  assertEquals(slots.take("192.0.2.1"), undefined, "past the bound");
  assertEquals(slots.take("::ffff:192.0.2.1"), undefined, "the same address, mapped");
  assertEquals(slots.take("192.0.2.2") !== undefined, true, "another address");
  // One host's /64 is one address.
  slots.take("2001:db8::1");
  slots.take("2001:db8::2");
  slots.take("2001:db8::3");
  assertEquals(slots.take("2001:db8::4"), undefined);
  assertEquals(slots.take("2001:db8:1::1") !== undefined, true, "another /64");
  // Giving a slot back frees exactly one, however often the release is called.
  releases[0]!();
  releases[0]!();
  assertEquals(slots.held("192.0.2.1"), 2);
  assertEquals(slots.take("192.0.2.1") !== undefined, true);
  assertEquals(slots.take("192.0.2.1"), undefined);
  for (const release of releases) release!();
  assertEquals(slots.held("192.0.2.1"), 1);
});
