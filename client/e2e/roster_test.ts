import { assertEquals, assertNotEquals } from "../../tests/support/assert.ts";
import { describeRoster, type RosterEntry, rosterHash } from "./roster.ts";

const members: RosterEntry[] = [
  {
    user: "bob",
    device: "main",
    session: "B".repeat(22),
    keyFingerprint: new Uint8Array(32).fill(2),
  },
  {
    user: "alice",
    device: "phone",
    session: "P".repeat(22),
    keyFingerprint: new Uint8Array(32).fill(3),
  },
  {
    user: "alice",
    device: "laptop",
    session: "L".repeat(22),
    keyFingerprint: new Uint8Array(32).fill(1),
  },
];

Deno.test("a roster hash does not depend on the order members were learned in", async () => {
  assertEquals(
    await rosterHash("lobby", 4, members),
    await rosterHash("lobby", 4, [...members].reverse()),
  );
  assertEquals(describeRoster(members), ["alice/laptop", "alice/phone", "bob/main"]);
});

Deno.test("a roster hash changes with the room, the version, any member or any key", async () => {
  const base = await rosterHash("lobby", 4, members);
  const variants = [
    await rosterHash("other", 4, members),
    await rosterHash("lobby", 5, members),
    await rosterHash("lobby", 4, members.slice(1)),
    await rosterHash("lobby", 4, [...members, {
      user: "eve",
      device: "main",
      session: "E".repeat(22),
    }]),
    await rosterHash("lobby", 4, [
      { ...members[0]!, keyFingerprint: new Uint8Array(32) },
      ...members.slice(1),
    ]),
    await rosterHash("lobby", 4, [
      { ...members[0]!, session: "X".repeat(22) },
      ...members.slice(1),
    ]),
    await rosterHash("lobby", 4, [{ ...members[0]!, device: "evil" }, ...members.slice(1)]),
  ];
  for (const variant of variants) assertNotEquals(variant, base);
});
