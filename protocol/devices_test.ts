import { assertEquals, assertThrows } from "../tests/support/assert.ts";
import { createCA, issueUserCertificate } from "../crypto/x509.ts";
import { CertificateError } from "../crypto/x509.ts";
import { deviceOf, deviceUri, parseDeviceRef } from "./devices.ts";

const ca = await createCA({ name: "Test CA" });

Deno.test("deviceOf() reads exactly one openchat:USER/DEVICE URI whose user is the CN", async () => {
  const ok = await issueUserCertificate(ca, {
    name: "alice",
    uris: [deviceUri("alice", "laptop")],
  });
  assertEquals(deviceOf(ok.cert), "laptop");
  const other = await issueUserCertificate(ca, {
    name: "alice",
    uris: ["https://example.org/", deviceUri("alice", "phone")],
  });
  assertEquals(deviceOf(other.cert), "phone");
});

Deno.test("deviceOf() refuses a certificate with no device, two, another user's, or a bad label", async () => {
  const cases: [string[], string][] = [
    [[], "found 0"],
    [[deviceUri("alice", "a"), deviceUri("alice", "b")], "found 2"],
    [[deviceUri("bob", "laptop")], "must be openchat:alice/DEVICE"],
    [["openchat:alice/Laptop"], "must be openchat:alice/DEVICE"],
    [["openchat:alice/a/b"], "must be openchat:alice/DEVICE"],
    [["openchat:alice"], "must be openchat:alice/DEVICE"],
  ];
  for (const [uris, message] of cases) {
    const issued = await issueUserCertificate(ca, { name: "alice", uris });
    assertThrows(() => deviceOf(issued.cert), CertificateError, message);
  }
});

Deno.test("parseDeviceRef() splits NAME and NAME/DEVICE, refusing anything else", () => {
  assertEquals(parseDeviceRef("alice"), { user: "alice" });
  assertEquals(parseDeviceRef("alice/phone"), { user: "alice", device: "phone" });
  for (const bad of ["", "Alice", "alice/", "alice/Phone", "a/b/c", "/phone", "ab:cd"]) {
    assertEquals(parseDeviceRef(bad), undefined, bad);
  }
});
