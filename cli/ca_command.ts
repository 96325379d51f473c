/**
 * `openchat ca`: the certificate authority's tools on a server data directory.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { resolve } from "node:path";
import { confirm } from "@inquirer/prompts";
import { DEFAULT_USER_CERT_DAYS, MAX_CERT_DAYS } from "../crypto/x509.ts";
import { formatIdentityFile } from "../protocol/identity_file.ts";
import { AuthorityError, CertificateAuthority, checkUserName } from "../server/authority.ts";
import { type CertificateRecord, statusOf } from "../server/ca_store.ts";
import { exists, writeFileAtomic } from "../util/files.ts";
import { CliError, dataDirOption, EXIT_USAGE, integerIn, say } from "./common.ts";

/** Runs `fn` with the CA of `dataDir`, turning authority refusals into CLI errors. */
async function withAuthority<T>(
  dataDir: string,
  fn: (ca: CertificateAuthority) => Promise<T> | T,
): Promise<T> {
  const ca = await CertificateAuthority.load(dataDir).catch(asCliError);
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
    const usage = error.code === "bad_name" || error.code === "bad_days";
    throw new CliError(error.message, usage ? EXIT_USAGE : undefined);
  }
  throw error;
}

function initCommand() {
  return new Command("init")
    .description("create the certificate authority (once; never overwrites)")
    .option("--name <text>", "the CA's name, shown in certificates", "openchat CA")
    .addOption(dataDirOption())
    .action(async (options) => {
      const ca = await CertificateAuthority.create(options.dataDir, { name: options.name })
        .catch(asCliError);
      say(`Created CA "${options.name}" in ${ca.dataDir}`);
      say(`CA fingerprint (SHA-256): ${ca.fingerprint}`);
      say(`Next: openchat ca issue NAME --data-dir ${ca.dataDir}`);
      ca.close();
    });
}

function issueCommand() {
  return new Command("issue")
    .description("issue a user certificate and write NAME.pem (certificate, key, CA)")
    .argument("<name>", "user name: lower-case a-z, 0-9, '_' or '-', up to 32 characters")
    .option(
      "--days <n>",
      `lifetime in days (1 to ${MAX_CERT_DAYS})`,
      integerIn(1, MAX_CERT_DAYS),
      DEFAULT_USER_CERT_DAYS,
    )
    .option("--out <file>", "where to write the identity file (default: NAME.pem here)")
    .option("--force", "overwrite the identity file if it exists", false)
    .addOption(dataDirOption())
    .action(async (name, options) => {
      try {
        checkUserName(name);
      } catch (error) {
        asCliError(error);
      }
      const out = resolve(options.out ?? `${name}.pem`);
      if (!options.force && await exists(out)) {
        throw new CliError(`${out} already exists; pass --force to overwrite it`);
      }
      await withAuthority(options.dataDir, async (ca) => {
        const { record } = await ca.issueUser(name, options.days, async (issued) => {
          const text = formatIdentityFile(issued.certPem, issued.privateKeyPem, ca.certPem);
          try {
            await writeFileAtomic(out, text, { createNew: !options.force });
          } catch (error) {
            throw new CliError(`Cannot write ${out}: ${(error as Error).message}`);
          }
        });
        say(
          `Issued a certificate to ${name} (serial ${record.serial}), valid until ${record.notAfter}`,
        );
        say(`Wrote ${out} (mode 0600): give it to ${name} privately; it holds their private key.`);
        say(`Certificate fingerprint (SHA-256): ${record.fingerprint}`);
      });
    });
}

function listCommand() {
  return new Command("list")
    .description("list every issued certificate")
    .option("--json", "print one JSON array", false)
    .addOption(dataDirOption())
    .action(async (options) => {
      await withAuthority(options.dataDir, (ca) => {
        const records = ca.store.list();
        if (options.json) {
          say(JSON.stringify(records.map(toJson), null, 2));
          return;
        }
        if (records.length === 0) {
          say("No certificates issued yet. Issue one with: openchat ca issue NAME");
          return;
        }
        printTable(records);
      });
    });
}

function revokeCommand() {
  return new Command("revoke")
    .description("revoke a user's certificates (by name) or one certificate (by serial)")
    .argument("<name-or-serial>", "a user name, or a serial number from `ca list`")
    .option("--reason <text>", "why, kept in the record")
    .option("-y, --yes", "do not ask for confirmation on a terminal", false)
    .addOption(dataDirOption())
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
        const revoked = ca.revoke(target, options.reason ?? null);
        for (const record of revoked) {
          say(
            `Revoked ${record.name} (serial ${record.serial})${
              options.reason ? `: ${options.reason}` : ""
            }`,
          );
        }
        say("A running server closes the revoked sessions within seconds.");
      });
    });
}

/** `openchat ca` and its subcommands. */
export function caCommand() {
  return new Command("ca")
    .description("certificate authority: init, issue, list, revoke")
    .addCommand(initCommand())
    .addCommand(issueCommand())
    .addCommand(listCommand())
    .addCommand(revokeCommand());
}

function toJson(record: CertificateRecord) {
  return {
    name: record.name,
    serial: record.serial,
    fingerprint: record.fingerprint,
    key_fingerprint: record.keyFingerprint,
    not_before: record.notBefore,
    not_after: record.notAfter,
    issued_at: record.issuedAt,
    status: statusOf(record),
    revoked_at: record.revokedAt,
    revoke_reason: record.revokeReason,
  };
}

function printTable(records: CertificateRecord[]): void {
  const rows = records.map((record) => [
    record.name,
    record.serial,
    statusOf(record),
    record.notAfter.slice(0, 10),
    record.fingerprint,
  ]);
  const header = ["NAME", "SERIAL", "STATUS", "EXPIRES", "FINGERPRINT (SHA-256)"];
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => row[i]!.length))
  );
  for (const row of [header, ...rows]) {
    say(row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i]!)).join("  "));
  }
}
