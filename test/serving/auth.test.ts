// API keys: stored hashed in the server's SQLite file, verified, listed and revoked; and the
// `captioner keys` command end to end against a database file.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { hashKey, KeyStore, keyFromHeaders } from "../../src/serving/auth.js";
import { databaseFile, openDatabase } from "../../src/serving/db.js";
import { repoRoot } from "../helpers/golden.js";

const run = promisify(execFile);
const cli = path.join(repoRoot, "dist/src/cli/main.js");
const root = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-auth-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const tempDir = () => {
  const dir = path.join(root, String(++dirs));
  fs.mkdirSync(dir);
  return dir;
};

/** Every byte the database keeps on disk (main file plus WAL), as one latin1 string to search. */
const bytesOnDisk = (file: string) =>
  [file, `${file}-wal`, `${file}-shm`]
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f).toString("latin1"))
    .join("");

describe("KeyStore", () => {
  test("keys are random, shown once, and only their hash reaches the database file", () => {
    const file = path.join(tempDir(), "nested", "captioner.db");
    const db = openDatabase(file);
    const store = new KeyStore(db);
    const a = store.create("admin", "ops");
    const b = store.create("user");
    assert.match(a.key, /^cap_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.key, b.key);
    assert.deepEqual([a.info.role, a.info.name, a.info.lastUsedAt], ["admin", "ops", null]);
    assert.equal(b.info.name, null);
    db.close();
    const disk = bytesOnDisk(file);
    for (const { key } of [a, b]) {
      assert.ok(!disk.includes(key), "the raw key is not stored");
      assert.ok(!disk.includes(key.slice(4)), "nor its random part");
      assert.ok(disk.includes(hashKey(key)), "its SHA-256 is");
    }
  });

  test("verify gives the key's role, marks it used; unknown and malformed keys give null", () => {
    const store = new KeyStore(openDatabase(":memory:"));
    const { key, info } = store.create("user", "app");
    const seen = store.verify(key);
    assert.deepEqual({ ...seen, lastUsedAt: null }, info);
    assert.ok(seen?.lastUsedAt && Date.parse(seen.lastUsedAt) >= Date.parse(info.createdAt));
    assert.equal(store.list()[0]?.lastUsedAt, seen.lastUsedAt);
    assert.equal(store.verify(`${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`), null);
    assert.equal(store.verify(""), null);
    assert.equal(store.verify(key.slice(4)), null);
    assert.equal(store.verify(undefined as unknown as string), null);
  });

  test("list and count show active keys; revoke disables a key for good", () => {
    const store = new KeyStore(openDatabase(":memory:"));
    assert.deepEqual([store.count(), store.list()], [0, []]);
    const admin = store.create("admin", "first");
    const user = store.create("user", "second");
    assert.equal(store.count(), 2);
    assert.deepEqual(store.list().map((k) => [k.id, k.role, k.name]), [[admin.info.id, "admin", "first"], [user.info.id, "user", "second"]]);
    assert.equal(store.revoke(admin.info.id), true);
    assert.equal(store.revoke(admin.info.id), false, "already revoked");
    assert.equal(store.revoke("no-such-id"), false);
    assert.equal(store.verify(admin.key), null);
    assert.equal(store.verify(user.key)?.role, "user");
    assert.deepEqual(store.list().map((k) => k.id), [user.info.id]);
    assert.equal(store.count(), 1);
  });

  test("an unknown role is refused with the valid ones named", () => {
    const store = new KeyStore(openDatabase(":memory:"));
    assert.throws(() => store.create("root" as "admin"), /unknown role "root"; use one of: user, contributor, admin/);
  });

  test("keys persist across reopening the file; a newer schema is refused", () => {
    const file = path.join(tempDir(), "captioner.db");
    const { key } = new KeyStore(openDatabase(file)).create("admin");
    const db = openDatabase(file);
    assert.equal(new KeyStore(db).verify(key)?.role, "admin");
    db.pragma("user_version = 99");
    db.close();
    assert.throws(() => openDatabase(file), /schema version 99, newer than this captioner knows/);
  });

  test("keyFromHeaders reads Authorization: Bearer and X-API-Key", () => {
    assert.equal(keyFromHeaders({ authorization: "Bearer cap_abc" }), "cap_abc");
    assert.equal(keyFromHeaders({ authorization: "bearer   cap_abc " }), "cap_abc");
    assert.equal(keyFromHeaders({ "x-api-key": "cap_xyz" }), "cap_xyz");
    assert.equal(keyFromHeaders({ authorization: "Basic dXNlcg==" }), null);
    assert.equal(keyFromHeaders({}), null);
  });
});

describe("captioner keys", () => {
  const captioner = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });

  test("create prints just the key; the server's KeyStore accepts it with its role; list and revoke", async () => {
    const file = path.join(tempDir(), "server.db");
    const { stdout } = await captioner(["keys", "create", "--role", "admin", "--name", "ci bot", "--db", file]);
    assert.match(stdout, /^cap_[A-Za-z0-9_-]{43}\n$/);
    const key = stdout.trim();

    const json = JSON.parse((await captioner(["keys", "create", "--role", "user", "--json", "--db", file])).stdout);
    assert.deepEqual(Object.keys(json), ["key", "id", "role", "name"]);
    assert.deepEqual([json.role, json.name], ["user", null]);

    let db = openDatabase(file);
    const admin = new KeyStore(db).verify(key);
    assert.deepEqual([admin?.role, admin?.name], ["admin", "ci bot"]);
    assert.equal(new KeyStore(db).verify(json.key)?.role, "user");
    db.close();
    assert.ok(!bytesOnDisk(file).includes(key));

    const listed = JSON.parse((await captioner(["keys", "list", "--json", "--db", file])).stdout);
    assert.deepEqual(listed.map((k: { id: string }) => k.id), [admin!.id, json.id]);
    assert.ok(!JSON.stringify(listed).includes("cap_"), "list never shows keys");
    const table = (await captioner(["keys", "list", "--db", file])).stdout;
    assert.match(table, /^ID\s+ROLE\s+NAME/);
    assert.match(table, new RegExp(`${admin!.id}\\s+admin\\s+ci bot`));

    assert.equal((await captioner(["keys", "revoke", json.id, "--db", file])).stdout, `revoked ${json.id}\n`);
    db = openDatabase(file);
    assert.equal(new KeyStore(db).verify(json.key), null);
    db.close();
    await assert.rejects(captioner(["keys", "revoke", json.id, "--db", file]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /no active key with id/);
      return true;
    });
  });

  test("without --db the key goes to $CAPTIONER_HOME/captioner.db, where serve looks", async () => {
    const home = path.join(tempDir(), "home");
    const { stdout } = await captioner(["keys", "create", "--role", "user"], { CAPTIONER_HOME: home, CAPTIONER_DATA_DIR: "", CAPTIONER_CONFIG: "" });
    const saved = process.env.CAPTIONER_HOME;
    process.env.CAPTIONER_HOME = home;
    const file = databaseFile();
    if (saved === undefined) delete process.env.CAPTIONER_HOME;
    else process.env.CAPTIONER_HOME = saved;
    assert.equal(file, path.join(home, "captioner.db"));
    const db = openDatabase(file);
    assert.equal(new KeyStore(db).verify(stdout.trim())?.role, "user");
    db.close();
  });

  test("a bad role is a usage error that names the valid roles", async () => {
    await assert.rejects(captioner(["keys", "create", "--role", "root", "--db", path.join(tempDir(), "x.db")]), (e: { code: number; stderr: string }) => {
      assert.notEqual(e.code, 0);
      assert.match(e.stderr, /unknown role "root"; use one of: user, contributor, admin/);
      return true;
    });
  });
});

test("the contributor role: created by `keys create --role contributor`; a database made before it keeps its keys", async () => {
  const dir = tempDir();
  const file = path.join(dir, "captioner.db");
  // A schema-1 database (before the contributor role) with one admin key.
  const Database = (await import("better-sqlite3")).default;
  const old = new Database(file);
  old.exec(`CREATE TABLE api_keys (id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    name TEXT, created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT);
    CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0,
    result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);`);
  old.prepare("INSERT INTO api_keys (id, key_hash, role, name, created_at) VALUES ('k1', ?, 'admin', 'old', '2026-01-01T00:00:00.000Z')").run(hashKey("cap_old"));
  old.pragma("user_version = 1");
  old.close();

  const { stdout } = await run(process.execPath, [cli, "keys", "create", "--role", "contributor", "--name", "curator", "--json", "--db", file]);
  const created = JSON.parse(stdout);
  assert.equal(created.role, "contributor");
  const db = openDatabase(file);
  try {
    const store = new KeyStore(db);
    assert.equal(store.verify("cap_old")?.role, "admin");
    assert.equal(store.verify(created.key)?.role, "contributor");
    assert.deepEqual(store.list().map((k) => k.name), ["old", "curator"]);
  } finally {
    db.close();
  }
  await assert.rejects(run(process.execPath, [cli, "keys", "create", "--role", "curator", "--db", file]), /use one of: user, contributor, admin/);
});
