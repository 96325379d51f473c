/**
 * The CA as the running server uses it: enrolment and renewal during set-up, and the device
 * frames of an authenticated session (invite another device of the same user, list the user's
 * devices, revoke one). Refusals become `ProtocolError`s with wire codes: fatal during set-up
 * (the connection ends anyway), non-fatal for a session's requests.
 *
 * @module
 */

import { type X509Certificate } from "../crypto/x509.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { encodeInviteToken } from "../protocol/invite_token.ts";
import type { DeviceInfo, LinkRequestInfo } from "../protocol/messages.ts";
import { toBase64Url } from "../crypto/bytes.ts";
import { decodeSinglePem } from "../crypto/pem.ts";
import type { Enrolment } from "./setup.ts";

function parseCertificateDer(pem: string): Uint8Array {
  return decodeSinglePem(pem, "CERTIFICATE");
}
import { AuthorityError, type CertificateAuthority } from "./authority.ts";
import type { SetupRegistrar } from "./setup.ts";

/** Lifetime of an invite a device asks for (`/device add`). */
export const DEVICE_INVITE_TTL_MS = 24 * 3_600_000;

/** What a session's device frames need from the CA. */
export interface DeviceAdmin {
  /** An invite token for `user`'s new `device`, asked for by `user`'s device `invitedBy`. */
  inviteDevice(user: string, device: string, invitedBy: string, now: Date): Promise<string>;
  /** Every device of `user`. */
  devices(user: string, now: Date): DeviceInfo[];
  /** Revokes every certificate of `user`'s `device`; returns their serials. */
  revokeDevice(user: string, device: string, revokedBy: string, now: Date): Promise<string[]>;
  /** Devices `user`'s `invitedBy` invited that wait for it to vouch for them. */
  pendingLinks(user: string, invitedBy: string): LinkRequestInfo[];
  /** Keeps the link `invitedBy` signed for `user`'s `device`; false when none waited for it. */
  storeLink(
    user: string,
    device: string,
    invitedBy: string,
    link: string,
    now: Date,
  ): Promise<boolean>;
  /** The link that vouches for `user`'s `device`, if any. */
  linkOf(user: string, device: string): string | undefined;
  /** True while `user`'s `device` waits for the device that invited it to vouch for it. */
  awaitsLink(user: string, device: string): boolean;
}

/** The server's registrar over a loaded {@linkcode CertificateAuthority}. */
export class CaRegistrar implements SetupRegistrar, DeviceAdmin {
  constructor(
    private readonly ca: CertificateAuthority,
    /** The addresses invites tell new devices to dial, `host:port`. */
    private readonly addresses: () => string[],
  ) {}

  async enroll(
    secret: Uint8Array,
    csr: Uint8Array,
    now: Date,
    linkRequest?: string,
  ): Promise<Enrolment> {
    try {
      const issued = await this.ca.redeemInvite(secret, csr, now, linkRequest);
      return {
        der: new Uint8Array(issued.cert.rawData),
        user: issued.record.name,
        device: issued.record.device,
        invitedBy: issued.record.invitedBy,
      };
    } catch (error) {
      if (error instanceof AuthorityError) {
        if (error.code === "bad_request") throw new ProtocolError("bad_request", error.message);
        if (error.code === "invalid_invite") {
          throw new ProtocolError("invalid_invite", error.message);
        }
      }
      throw error;
    }
  }

  async renew(
    cert: X509Certificate,
    user: string,
    device: string,
    now: Date,
  ): Promise<Uint8Array> {
    try {
      const issued = await this.ca.renew(cert, user, device, now);
      return new Uint8Array(issued.cert.rawData);
    } catch (error) {
      if (error instanceof AuthorityError && error.code === "renewal_refused") {
        switch (error.message) {
          case "revoked":
            throw new ProtocolError("revoked");
          case "expired":
            throw new ProtocolError(
              "expired",
              "The certificate expired more than 60 days ago; enrol this device again",
            );
          default:
            throw new ProtocolError("unknown_certificate");
        }
      }
      throw error;
    }
  }

  async inviteDevice(
    user: string,
    device: string,
    invitedBy: string,
    now: Date,
  ): Promise<string> {
    try {
      const { secret, record } = await this.ca.createInvite({
        name: user,
        device,
        ttlMs: DEVICE_INVITE_TTL_MS,
        invitedBy,
        now,
      });
      return encodeInviteToken({
        addresses: this.addresses(),
        caFingerprint: this.ca.fingerprintBytes,
        user,
        device,
        secret,
        expiresAt: Date.parse(record.expiresAt),
      });
    } catch (error) {
      if (error instanceof AuthorityError) {
        const code = error.code === "too_many_devices" ? "too_many_devices" : "too_many_invites";
        throw new ProtocolError(code, error.message, false);
      }
      throw error;
    }
  }

  devices(user: string, now: Date): DeviceInfo[] {
    return this.ca.devicesOf(user, now).map((summary) => ({
      device: summary.device,
      serial: summary.serial,
      status: summary.status,
      notAfter: summary.notAfter,
      ...(summary.invitedBy ? { invitedBy: summary.invitedBy } : {}),
    }));
  }

  pendingLinks(user: string, invitedBy: string): LinkRequestInfo[] {
    return this.ca.pendingLinks(user, invitedBy).map((pending) => ({
      device: pending.device,
      cert: toBase64Url(parseCertificateDer(pending.certPem), false),
      request: pending.request,
    }));
  }

  storeLink(
    user: string,
    device: string,
    invitedBy: string,
    link: string,
    now: Date,
  ): Promise<boolean> {
    const store = this.ca.store;
    return store.commit(() => store.storeLink(user, device, invitedBy, link, now));
  }

  linkOf(user: string, device: string): string | undefined {
    return this.ca.store.linkOf(user, device);
  }

  awaitsLink(user: string, device: string): boolean {
    return this.ca.store.awaitsLink(user, device);
  }

  async revokeDevice(
    user: string,
    device: string,
    revokedBy: string,
    now: Date,
  ): Promise<string[]> {
    try {
      return (await this.ca.revoke(`${user}/${device}`, `revoked from ${user}/${revokedBy}`, now))
        .map((record) => record.serial);
    } catch (error) {
      if (error instanceof AuthorityError) {
        throw new ProtocolError(
          "no_such_device",
          error.code === "already_revoked"
            ? `${user}/${device} is already revoked`
            : `${user} has no device ${device}`,
          false,
        );
      }
      throw error;
    }
  }
}
