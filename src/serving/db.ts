// The embedded server's one SQLite file (API keys, the persistent job queue, stored datasets). WAL lets the API and
// worker threads/processes read while one writes; busy_timeout makes writers wait instead of failing.
// The schema evolves through numbered migrations tracked in `PRAGMA user_version`.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import DatabaseConstructor, { type Database } from "better-sqlite3";
import { DATASET_TABLES } from "../datasets/store.js";
import { VERSION_TABLES } from "./versions.js";

export type { Database } from "better-sqlite3";

/** Migration n brings the schema from version n to n+1; append only, never edit a released one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     key_hash TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
     name TEXT,
     created_at TEXT NOT NULL,
     last_used_at TEXT,
     revoked_at TEXT
   );
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     payload TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
     progress REAL NOT NULL DEFAULT 0,
     result TEXT,
     error TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     max_attempts INTEGER NOT NULL DEFAULT 1,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE INDEX jobs_by_state ON jobs (state, kind);`,
  // The contributor role (issue 11). SQLite cannot alter a CHECK, so the table is rebuilt; nothing references it.
  `CREATE TABLE api_keys_v2 (
     id TEXT PRIMARY KEY,
     key_hash TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL CHECK (role IN ('user', 'contributor', 'admin')),
     name TEXT,
     created_at TEXT NOT NULL,
     last_used_at TEXT,
     revoked_at TEXT
   );
   INSERT INTO api_keys_v2 SELECT id, key_hash, role, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY rowid;
   DROP TABLE api_keys;
   ALTER TABLE api_keys_v2 RENAME TO api_keys;`,
  // Stored datasets (issue 11); the schema is the datasets layer's.
  DATASET_TABLES,
  // Train jobs and model versions (issue 11): what a job reports with its progress, and the versions table.
  `ALTER TABLE jobs ADD COLUMN details TEXT;
   ${VERSION_TABLES}`,
  // A job's input apart from its payload, cleared when the job ends (issue 15). Caption jobs stored
  // their images in the payload: queued ones move them over, finished ones lose them.
  `ALTER TABLE jobs ADD COLUMN input TEXT;
   UPDATE jobs SET input = json_object('images', json(json_extract(payload, '$.images'))), payload = json_remove(payload, '$.images')
     WHERE kind = 'caption' AND json_type(payload, '$.images') = 'array';
   UPDATE jobs SET input = NULL WHERE state IN ('done', 'failed', 'cancelled');`,
];

/** The data folder: `$CAPTIONER_HOME`, else `~/.captioner`. */
export function defaultDataDir(): string {
  return process.env.CAPTIONER_HOME || path.join(os.homedir(), ".captioner");
}

/** The database file in a data folder: `<dataDir>/captioner.db` (serve and `keys` must agree on it). */
export function databaseFile(dataDir: string = defaultDataDir()): string {
  return path.join(dataDir, "captioner.db");
}

/** Opens (creating folder and file if needed) and migrates the database; ":memory:" gives a private one. */
export function openDatabase(file: string): Database {
  if (file !== ":memory:") fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: Database;
  try {
    db = new DatabaseConstructor(file);
  } catch (error) {
    throw new Error(`cannot open the database ${file}: ${(error as Error).message}; check the path and its permissions (--db FILE or CAPTIONER_HOME)`);
  }
  // Takes effect only while the file has no tables (a new database); older files are converted below.
  db.pragma("auto_vacuum = INCREMENTAL");
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  // Deleted rows (job images, removed dataset items) are overwritten, not left readable in free pages.
  db.pragma("secure_delete = ON");
  try {
    migrate(db, file);
  } catch (error) {
    db.close();
    throw error;
  }
  convertToIncrementalVacuum(db);
  return db;
}

/**
 * Freed pages go back to the file system through `PRAGMA incremental_vacuum` (the job queue's sweep),
 * which needs auto_vacuum = INCREMENTAL. A file made before it had none: one full VACUUM (outside any
 * transaction, as SQLite requires) rewrites it with the setting. Incremental rather than a VACUUM per
 * sweep: it moves only the free pages' worth of data, needs no second copy of the file, and can be
 * done a bounded number of pages at a time. If another process holds the file, the next open retries.
 */
function convertToIncrementalVacuum(db: Database): void {
  const INCREMENTAL = 2;
  if (db.pragma("auto_vacuum", { simple: true }) === INCREMENTAL) return;
  db.pragma("auto_vacuum = INCREMENTAL");
  try {
    db.exec("VACUUM");
  } catch (error) {
    if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
  }
}

/** Runs the missing migrations in one write transaction, so two processes opening at once cannot both migrate. */
function migrate(db: Database, file: string): void {
  db.transaction(() => {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`the database ${file} has schema version ${version}, newer than this captioner knows (${MIGRATIONS.length}); upgrade captioner`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    if (version !== MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
