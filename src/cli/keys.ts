// `captioner keys create|list|revoke`: API keys in the server's SQLite file. A key is printed once, at
// creation; only its hash is stored. The file is the one `serve` uses: --db, else <dataDir>/captioner.db
// where dataDir is $CAPTIONER_HOME, else dataDir in the --config file, else ~/.captioner (as for `serve`).
import { Command, InvalidArgumentError } from "commander";
import { type ApiKeyInfo, KeyStore, parseRole, type Role } from "../serving/auth.js";
import { loadServerConfig } from "../serving/config.js";
import { databaseFile, openDatabase } from "../serving/db.js";
import { reportErrors } from "./common.js";

interface DbFlags {
  db?: string;
  config?: string;
}

/** The `keys` sub-command with `create`, `list` and `revoke`. */
export function keysCommand(): Command {
  const keys = new Command("keys").description("manage API keys (roles user, contributor and admin); with no keys, captioning is open and admin and dataset routes are refused");
  const withDb = (cmd: Command) =>
    cmd
      .option("--db <file>", "the server's SQLite database (default: <data dir>/captioner.db; data dir: $CAPTIONER_HOME, else dataDir in --config, else ~/.captioner)")
      .option("--config <file>", "server configuration file, to find its data dir");

  keys.addCommand(
    withDb(new Command("create"))
      .description("create a key and print it once (stdout: just the key)")
      .requiredOption("--role <role>", "user (captioning), contributor (also adds dataset items, edits and reviews captions) or admin (everything)", (value: string) => {
        try {
          return parseRole(value);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      })
      .option("--name <text>", "a label to recognise the key by (who or what uses it)")
      .option("--json", 'print {"key","id","role","name"} instead')
      .action(
        reportErrors(async (flags: DbFlags & { role: Role; name?: string; json?: boolean }) => {
          const { key, info } = withStore(flags, (store) => store.create(flags.role, flags.name));
          process.stdout.write(flags.json ? `${JSON.stringify({ key, id: info.id, role: info.role, name: info.name })}\n` : `${key}\n`);
          if (process.stderr.isTTY) process.stderr.write(`key ${info.id} (${info.role}) created; store it now, it is not shown again\n`);
        }),
      ),
  );

  keys.addCommand(
    withDb(new Command("list"))
      .description("list active keys (never the keys themselves)")
      .option("--json", "print a JSON array")
      .action(
        reportErrors(async (flags: DbFlags & { json?: boolean }) => {
          const list = withStore(flags, (store) => store.list());
          process.stdout.write(flags.json ? `${JSON.stringify(list)}\n` : table(list));
        }),
      ),
  );

  keys.addCommand(
    withDb(new Command("revoke"))
      .description("revoke a key by its id (see keys list)")
      .argument("<id>", "the key's id")
      .action(
        reportErrors(async (id: string, flags: DbFlags) => {
          if (!withStore(flags, (store) => store.revoke(id))) throw new Error(`no active key with id "${id}"; see captioner keys list`);
          process.stdout.write(`revoked ${id}\n`);
        }),
      ),
  );
  return keys;
}

/** Runs `body` with a KeyStore over the selected database, closing it afterwards. */
function withStore<T>(flags: DbFlags, body: (store: KeyStore) => T): T {
  const file = flags.db ?? databaseFile(loadServerConfig({ file: flags.config, env: process.env }).dataDir);
  const db = openDatabase(file);
  try {
    return body(new KeyStore(db));
  } finally {
    db.close();
  }
}

function table(list: ApiKeyInfo[]): string {
  if (list.length === 0) return "no API keys: captioning is open to everyone; admin and dataset routes are refused\n";
  const rows = [["ID", "ROLE", "NAME", "CREATED", "LAST USED"], ...list.map((k) => [k.id, k.role, k.name ?? "-", k.createdAt, k.lastUsedAt ?? "never"])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd()).join("\n") + "\n";
}
