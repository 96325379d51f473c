/**
 * `openchat ca`: the certificate authority's tools on a server data directory: `init`,
 * `invite` and `cancel-invite` (how people's devices join), `issue` (bots), `list`, `revoke`.
 * Commands that sign (`init`, `issue`) need the passphrase of an encrypted CA key; the others
 * only read and write the records.
 *
 * @module
 */

import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { confirm } from "@inquirer/prompts";
import { DEFAULT_USER_CERT_DAYS, MAX_CERT_DAYS } from "../crypto/x509.ts";
import { DEFAULT_DEVICE } from "../protocol/devices.ts";
import { formatDuration, parseDuration } from "../protocol/duration.ts";
import { formatIdentityFile } from "../protocol/identity_file.ts";
import { encodeInviteToken, isValidAddress } from "../protocol/invite_token.ts";
import {
  AuthorityError,
  CertificateAuthority,
  checkDeviceLabel,
  checkUserName,
  DEFAULT_INVITE_TTL_MS,
  INVITE_ID_CHARS,
  MAX_INVITE_TTL_MS,
} from "../server/authority.ts";
import { type CertificateRecord, type InviteRecord, statusOf } from "../server/ca_store.ts";
import { LISTEN_RECORD_FILE, readListenRecord } from "../server/listen_record.ts";
import { exists, writeFileAtomic } from "../util/files.ts";
import { CliError, collect, dataDirOption, EXIT_USAGE, integerIn, say } from "./common.ts";
import { askPassphrase } from "./passphrase.ts";
import { clusterUrls, NATS_URL_ENV, NatsUrlError } from "../server/cluster/nats_urls.ts";
import { withClusterAuthority } from "./cluster_setup.ts";

/** `--cluster URL`: the CA's records live in a cluster's NATS instead of `openchat.db`. */
const CLUSTER_HELP =
  `use the CA records of the cluster at this NATS (nats://HOST:PORT, repeatable; default $${NATS_URL_ENV} when set); the CA files still come from --data-dir`;

/** The NATS URLs a `ca` command was given, if any (a usage error when malformed). */
function natsUrlsOf(values: string[] | undefined): string[] {
  try {
    return clusterUrls(values ?? []);
  } catch (error) {
    if (error instanceof NatsUrlError) {
      throw new CliError(`--cluster: ${error.message}`, EXIT_USAGE);
    }
    throw error;
  }
}

/**
 * Runs `fn` with the CA of `dataDir`, turning authority refusals into CLI errors. With
 * `unlock`, an encrypted CA key is unlocked with its passphrase.
 */
async function withAuthority<T>(
  dataDir: string,
  fn: (ca: CertificateAuthority) => Promise<T> | T,
  options: { unlock?: boolean; cluster?: string[] } = {},
): Promise<T> {
  const urls = natsUrlsOf(options.cluster);
  if (urls.length > 0) return withClusterAuthority(urls, dataDir, fn, options.unlock ?? false);
  const ca = await CertificateAuthority.load(dataDir, {
    passphrase: options.unlock ? () => askPassphrase(dataDir) : undefined,
  }).catch(asCliError);
  try {
    return await fn(ca);
  } catch (error) {
    return asCliError(error);
  } finally {
    ca.close();
  }
}

/** Re-throws an {@linkcode AuthorityError} as a {@linkcode CliError} with the right exit code. */
export function asCliError(error: unknown): never {
  if (error instanceof AuthorityError) {
    const usage = error.code === "bad_name" || error.code === "bad_days" ||
      error.code === "bad_ttl";
    throw new CliError(error.message, usage ? EXIT_USAGE : undefined);
  }
  throw error;
}

/** Writes a line to standard error (instructions around a value printed on standard output). */
function tell(line = ""): void {
  console.error(line);
}

function durationArgument(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function initCommand() {
  return new Command("init")
    .description("create the certificate authority (once; never overwrites)")
    .option("--name <text>", "the CA's name, shown in certificates", "openchat CA")
    .option(
      "--encrypt",
      "store the CA key encrypted with a passphrase (asked, or $OPENCHAT_CA_PASSPHRASE)",
      false,
    )
    .addOption(dataDirOption())
    .action(async (options) => {
      const dataDir = resolve(options.dataDir);
      if (await CertificateAuthority.existsIn(dataDir).catch(() => false)) {
        throw new CliError(`A CA already exists in ${dataDir}; refusing to overwrite it`);
      }
      const passphrase = options.encrypt ? await askPassphrase(dataDir, true) : undefined;
      const ca = await CertificateAuthority.create(dataDir, { name: options.name, passphrase })
        .catch(asCliError);
      say(`Created CA "${options.name}" in ${ca.dataDir}`);
      if (ca.encrypted) {
        say("The CA key is encrypted: `serve` and `ca issue` will ask for its passphrase.");
      }
      say(`CA fingerprint (SHA-256): ${ca.fingerprint}`);
      say(`Next: openchat serve --data-dir ${ca.dataDir}, then openchat ca invite NAME`);
      ca.close();
    });
}

function inviteCommand() {
  return new Command("invite")
    .description(
      "make a single-use invite for NAME's device; prints the token on stdout, what to do on stderr",
    )
    .argument("<name>", "user name: lower-case a-z, 0-9, '_' or '-', up to 32 characters")
    .option("--device <label>", "the device's label (same rule as names)", DEFAULT_DEVICE)
    .option(
      "--ttl <duration>",
      `how long the invite works: 30m, 2h, 7d... (at most ${formatDuration(MAX_INVITE_TTL_MS)})`,
      durationArgument,
      DEFAULT_INVITE_TTL_MS,
    )
    .option(
      "--server <host:port>",
      `address the device dials (repeatable; default: where \`openchat serve\` last listened, from ${LISTEN_RECORD_FILE})`,
      collect,
      [] as string[],
    )
    .addOption(dataDirOption())
    .option("--cluster <nats-url>", CLUSTER_HELP, collect, [] as string[])
    .action(async (name, options) => {
      try {
        checkUserName(name);
        checkDeviceLabel(options.device);
      } catch (error) {
        asCliError(error);
      }
      for (const address of options.server) {
        if (!isValidAddress(address)) {
          throw new CliError(
            `--server ${JSON.stringify(address)} is not HOST:PORT (e.g. chat.example.org:7443)`,
            EXIT_USAGE,
          );
        }
      }
      await withAuthority(options.dataDir, async (ca) => {
        let addresses = options.server;
        if (addresses.length === 0) {
          const recorded = await readListenRecord(ca.dataDir);
          if (!recorded) {
            throw new CliError(
              `No server address is recorded in ${ca.dataDir}/${LISTEN_RECORD_FILE} (\`openchat serve\` ` +
                `records it when it starts): pass --server HOST:PORT, the address the device will dial`,
            );
          }
          addresses = [recorded.address];
          tell(
            `Using the address the server last listened on (${recorded.address}, since ${recorded.since}); ` +
              `pass --server HOST:PORT for another.`,
          );
        }
        const { secret, record } = await ca.createInvite({
          name,
          device: options.device,
          ttlMs: options.ttl,
        });
        const token = encodeInviteToken({
          addresses,
          caFingerprint: ca.fingerprintBytes,
          user: name,
          device: options.device,
          secret,
          expiresAt: Date.parse(record.expiresAt),
        });
        say(token);
        tell(
          `Invite ${record.hash.slice(0, INVITE_ID_CHARS)} for ${name}/${options.device}: ` +
            `it works once, until ${record.expiresAt}.`,
        );
        tell(
          `Give the line above to ${name} privately; on the device "${options.device}" they run:`,
        );
        tell(`  openchat enroll ${token}`);
        tell(`Their key is made on that device and never leaves it. Cancel with:`);
        tell(
          `  openchat ca cancel-invite ${
            record.hash.slice(0, INVITE_ID_CHARS)
          } --data-dir ${ca.dataDir}`,
        );
      }, { cluster: options.cluster });
    });
}

function cancelInviteCommand() {
  return new Command("cancel-invite")
    .description("cancel a pending invite (its id from `ca list --invites`)")
    .argument("<id>", "the invite's id (at least 6 hex characters)")
    .addOption(dataDirOption())
    .option("--cluster <nats-url>", CLUSTER_HELP, collect, [] as string[])
    .action(async (id, options) => {
      await withAuthority(options.dataDir, async (ca) => {
        const invite = await ca.cancelInvite(id);
        say(
          `Cancelled the invite ${
            invite.hash.slice(0, INVITE_ID_CHARS)
          } for ${invite.name}/${invite.device}; it can no longer be used.`,
        );
      }, { cluster: options.cluster });
    });
}

function issueCommand() {
  return new Command("issue")
    .description(
      "issue a certificate for a bot: from its request (--csr), or with a key made here",
    )
    .argument("<name>", "user name: lower-case a-z, 0-9, '_' or '-', up to 32 characters")
    .option("--device <label>", "the device's label (same rule as names)", DEFAULT_DEVICE)
    .option(
      "--csr <file>",
      "sign this PKCS#10 request (PEM or DER, P-256) instead of making a key here",
    )
    .option(
      "--days <n>",
      `lifetime in days (1 to ${MAX_CERT_DAYS})`,
      integerIn(1, MAX_CERT_DAYS),
      DEFAULT_USER_CERT_DAYS,
    )
    .option(
      "--out <file>",
      "where to write (default: NAME.pem, or NAME.crt with --csr)",
    )
    .option("--force", "overwrite the output file if it exists", false)
    .addOption(dataDirOption())
    .option("--cluster <nats-url>", CLUSTER_HELP, collect, [] as string[])
    .action(async (name, options) => {
      try {
        checkUserName(name);
        checkDeviceLabel(options.device);
      } catch (error) {
        asCliError(error);
      }
      const out = resolve(options.out ?? (options.csr ? `${name}.crt` : `${name}.pem`));
      if (!options.force && await exists(out)) {
        throw new CliError(`${out} already exists; pass --force to overwrite it`);
      }
      let request: Uint8Array | string | undefined;
      if (options.csr) {
        try {
          const bytes = await Deno.readFile(options.csr);
          const text = new TextDecoder().decode(bytes);
          request = text.includes("-----BEGIN") ? text : bytes;
        } catch (error) {
          throw new CliError(`Cannot read ${options.csr}: ${(error as Error).message}`);
        }
      }
      await withAuthority(options.dataDir, async (ca) => {
        const write = async (text: string) => {
          try {
            await writeFileAtomic(out, text, { createNew: !options.force });
          } catch (error) {
            throw new CliError(`Cannot write ${out}: ${(error as Error).message}`);
          }
        };
        if (request !== undefined) {
          const issued = await ca.issueForRequest(name, request, {
            device: options.device,
            days: options.days,
          });
          try {
            await write(issued.certPem.trim() + "\n" + ca.certPem.trim() + "\n");
          } catch (error) {
            await ca.store.commit(() => ca.store.forget(issued.record.serial));
            throw error;
          }
          report(issued.record);
          say(`Wrote ${out}: the certificate, then the CA certificate (no private key).`);
          say(
            `The key never left the requester. Its identity file is: cat ${out} KEY.pem > ${name}.pem`,
          );
          return;
        }
        const { record } = await ca.issueUser(name, options.days, async (issued) => {
          await write(formatIdentityFile(issued.certPem, issued.privateKeyPem, ca.certPem));
        }, { device: options.device });
        report(record);
        say(`Wrote ${out} (mode 0600): certificate, private key and CA certificate.`);
        tell(
          `Note: this key was made here, so the CA operator has held it. For people, use ` +
            `\`openchat ca invite\`; for bots, prefer --csr with a key made on the bot.`,
        );
      }, { unlock: true, cluster: options.cluster });
    });
}

function report(record: CertificateRecord): void {
  say(
    `Issued a certificate to ${record.name}/${record.device} (serial ${record.serial}), valid until ${record.notAfter}`,
  );
  say(`Certificate fingerprint (SHA-256): ${record.fingerprint}`);
  say(`Key fingerprint (SHA-256 of the public key, what peers compare): ${record.keyFingerprint}`);
}

function listCommand() {
  return new Command("list")
    .description("list every issued certificate (or, with --invites, the pending invites)")
    .option("--json", "print one JSON array", false)
    .option("--invites", "list pending invites instead", false)
    .addOption(dataDirOption())
    .option("--cluster <nats-url>", CLUSTER_HELP, collect, [] as string[])
    .action(async (options) => {
      await withAuthority(options.dataDir, (ca) => {
        if (options.invites) {
          const invites = ca.store.pendingInvites(new Date());
          if (options.json) return say(JSON.stringify(invites.map(inviteJson), null, 2));
          if (invites.length === 0) {
            return say("No pending invites. Make one with: openchat ca invite NAME");
          }
          return printTable(
            ["ID", "USER/DEVICE", "EXPIRES", "ASKED BY"],
            invites.map((invite) => [
              invite.hash.slice(0, INVITE_ID_CHARS),
              `${invite.name}/${invite.device}`,
              invite.expiresAt,
              invite.invitedBy ? `${invite.name}/${invite.invitedBy}` : "operator",
            ]),
          );
        }
        const records = ca.store.list();
        if (options.json) {
          say(JSON.stringify(records.map(toJson), null, 2));
          return;
        }
        if (records.length === 0) {
          say("No certificates issued yet. Invite someone with: openchat ca invite NAME");
          return;
        }
        printTable(
          ["NAME", "DEVICE", "SERIAL", "STATUS", "EXPIRES", "FINGERPRINT (SHA-256)"],
          records.map((record) => [
            record.name,
            record.device,
            record.serial,
            statusOf(record),
            record.notAfter.slice(0, 10),
            record.fingerprint,
          ]),
        );
      }, { cluster: options.cluster });
    });
}

function revokeCommand() {
  return new Command("revoke")
    .description(
      "revoke a user's certificates (NAME), one device's (NAME/DEVICE), or one certificate (serial)",
    )
    .argument("<target>", "a user name, NAME/DEVICE, or a serial number from `ca list`")
    .option("--reason <text>", "why, kept in the record")
    .option("-y, --yes", "do not ask for confirmation on a terminal", false)
    .addOption(dataDirOption())
    .option("--cluster <nats-url>", CLUSTER_HELP, collect, [] as string[])
    .action(async (target, options) => {
      if (
        options.reason !== undefined &&
        (options.reason.length > 200 || /\p{Cc}/u.test(options.reason))
      ) {
        throw new CliError("--reason must be at most 200 printable characters", EXIT_USAGE);
      }
      await withAuthority(options.dataDir, async (ca) => {
        if (!options.yes && Deno.stdin.isTerminal() && Deno.stdout.isTerminal()) {
          const sure = await confirm({
            message: `Revoke ${target}? Live sessions end at once.`,
            default: false,
          });
          if (!sure) throw new CliError("Nothing revoked.");
        }
        const revoked = await ca.revoke(target, options.reason ?? null);
        for (const record of revoked) {
          say(
            `Revoked ${record.name}/${record.device} (serial ${record.serial})${
              options.reason ? `: ${options.reason}` : ""
            }`,
          );
        }
        say("A running server closes the revoked sessions within seconds.");
      }, { cluster: options.cluster });
    });
}

/** `openchat ca` and its subcommands. */
export function caCommand() {
  return new Command("ca")
    .description("certificate authority: init, invite, cancel-invite, issue, list, revoke")
    .addCommand(initCommand())
    .addCommand(inviteCommand())
    .addCommand(cancelInviteCommand())
    .addCommand(issueCommand())
    .addCommand(listCommand())
    .addCommand(revokeCommand());
}

function toJson(record: CertificateRecord) {
  return {
    name: record.name,
    device: record.device,
    serial: record.serial,
    fingerprint: record.fingerprint,
    key_fingerprint: record.keyFingerprint,
    not_before: record.notBefore,
    not_after: record.notAfter,
    issued_at: record.issuedAt,
    status: statusOf(record),
    revoked_at: record.revokedAt,
    revoke_reason: record.revokeReason,
    invited_by: record.invitedBy,
    renewed_from: record.renewedFrom,
  };
}

function inviteJson(invite: InviteRecord) {
  return {
    id: invite.hash.slice(0, INVITE_ID_CHARS),
    name: invite.name,
    device: invite.device,
    created_at: invite.createdAt,
    expires_at: invite.expiresAt,
    invited_by: invite.invitedBy,
  };
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i]!.length))
  );
  for (const row of [header, ...rows]) {
    say(row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  "));
  }
}
