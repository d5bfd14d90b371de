// Checkpoint readers: golden safetensors files, the golden torch.save file, synthetic torch zips,
// malicious pickles (refused, nothing runs) and corrupt inputs (clear errors).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CheckpointError, openCheckpoint, readSafetensors, readTorchCheckpoint, type Checkpoint } from "../../src/engine/checkpoint/index.js";
import { makeSafetensors, makeZip, pk, stateDictPickle, type PickledTensor } from "../fixtures/pickles/builders.js";

const GOLDEN = fileURLToPath(new URL("../../../../shared/golden/blip/", import.meta.url));
const CASES = ["base_like_32px", "odd_36px_patch8", "deep_48px_patch16", "legacy_files_24px"];
const LEGACY = path.join(GOLDEN, "legacy_files_24px");
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), "captioner-ckpt-"));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

function writeTmp(name: string, bytes: Uint8Array): string {
  const p = path.join(TMP, name);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, bytes);
  return p;
}

function expectedModel(name: string): { safetensors_keys: string[]; safetensors_shapes: Record<string, number[]>; tied_not_in_file: Record<string, string> } {
  return JSON.parse(fs.readFileSync(path.join(GOLDEN, name, "expected.json"), "utf8")).model;
}

const isCheckpointError = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

// ---- golden files ----

for (const name of CASES) {
  test(`${name}: model.safetensors has exactly the reference keys and shapes`, () => {
    const ckpt = readSafetensors(path.join(GOLDEN, name, "model.safetensors"));
    const model = expectedModel(name);
    assert.deepEqual([...ckpt.names()].sort(), [...model.safetensors_keys].sort());
    for (const key of ckpt.names()) {
      const t = ckpt.get(key)!;
      assert.deepEqual(t.shape, model.safetensors_shapes[key], key);
      assert.equal(t.dtype, "float32");
      assert.equal(t.bytes.length, t.shape.reduce((a, b) => a * b, 1) * 4);
    }
    for (const tied of Object.keys(model.tied_not_in_file)) assert.equal(ckpt.get(tied), undefined);
    assert.deepEqual((ckpt as { metadata?: unknown }).metadata, { format: "pt" });
  });
}

function assertSourcesPointAtTheBytes(ckpt: Checkpoint): void {
  for (const n of ckpt.names()) {
    const t = ckpt.get(n)!;
    assert.ok(t.source, `${n} should be stored raw`);
    const fd = fs.openSync(t.source.file, "r");
    const buf = Buffer.alloc(t.source.length);
    fs.readSync(fd, buf, 0, buf.length, t.source.offset);
    fs.closeSync(fd);
    assert.ok(buf.equals(t.bytes), `${n}: source range differs from bytes`);
  }
}

test("legacy_files_24px: pytorch_model.bin holds the same tensors as model.safetensors, plus the aliased decoder bias", () => {
  const st = readSafetensors(path.join(LEGACY, "model.safetensors"));
  const pt = readTorchCheckpoint(path.join(LEGACY, "pytorch_model.bin"));
  const tied = expectedModel("legacy_files_24px").tied_not_in_file;
  assert.deepEqual([...pt.names()].sort(), [...st.names(), ...Object.keys(tied)].sort());
  for (const n of pt.names()) {
    const a = pt.get(n)!;
    const b = st.get(tied[n] ?? n)!;
    assert.equal(a.dtype, b.dtype, n);
    assert.deepEqual(a.shape, b.shape, n);
    assert.ok(Buffer.from(a.bytes).equals(b.bytes), `${n}: bytes differ`);
  }
  // Zero copy: tensors are views into one file buffer, and their source ranges are the bytes.
  const [first, second] = pt.names().map((n) => pt.get(n)!);
  assert.equal(first!.bytes.buffer, second!.bytes.buffer);
  assertSourcesPointAtTheBytes(pt);
  assertSourcesPointAtTheBytes(st);
});

test("files above maxInMemoryBytes are read per tensor from disk, with the same results", () => {
  for (const file of ["model.safetensors", "pytorch_model.bin"]) {
    const whole = openCheckpoint(path.join(LEGACY, file));
    const lazy = openCheckpoint(path.join(LEGACY, file), { maxInMemoryBytes: 0 });
    assert.deepEqual(lazy.names(), whole.names());
    for (const n of whole.names()) {
      const [a, b] = [whole.get(n)!, lazy.get(n)!];
      assert.deepEqual({ ...b, bytes: null }, { ...a, bytes: null }, n);
      assert.ok(Buffer.from(b.bytes).equals(a.bytes), n);
    }
  }
  const zip64 = writeTmp("synth-lazy.bin", torchZip(SYNTH, { 0: f32(M), 1: IDS }, { zip64: true }));
  checkSynthetic(readTorchCheckpoint(zip64, { maxInMemoryBytes: 0 }), true);
});

test("openCheckpoint prefers model.safetensors and falls back to pytorch_model.bin", () => {
  assert.deepEqual(openCheckpoint(LEGACY).files, [path.join(LEGACY, "model.safetensors")]);
  const binOnly = path.join(TMP, "bin-only");
  fs.mkdirSync(binOnly);
  fs.symlinkSync(path.join(LEGACY, "pytorch_model.bin"), path.join(binOnly, "pytorch_model.bin"));
  const ckpt = openCheckpoint(binOnly);
  assert.deepEqual(ckpt.files, [path.join(binOnly, "pytorch_model.bin")]);
  assert.ok(ckpt.get("text_decoder.cls.predictions.decoder.bias"));
});

test("sharded safetensors (model.safetensors.index.json) reads like the single file", () => {
  const st = readSafetensors(path.join(LEGACY, "model.safetensors"));
  const names = st.names();
  const half = Math.floor(names.length / 2);
  const shard = (ns: string[]) => makeSafetensors(ns.map((n) => ({ name: n, dtype: "F32", shape: st.get(n)!.shape, bytes: st.get(n)!.bytes })));
  const dir = path.join(TMP, "sharded");
  writeTmp("sharded/model-00001-of-00002.safetensors", shard(names.slice(0, half)));
  writeTmp("sharded/model-00002-of-00002.safetensors", shard(names.slice(half)));
  const weightMap = Object.fromEntries(names.map((n, i) => [n, i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"]));
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const ckpt = openCheckpoint(dir);
  assert.equal(ckpt.files.length, 2);
  assert.deepEqual([...ckpt.names()].sort(), [...names].sort());
  for (const n of names) assert.ok(Buffer.from(ckpt.get(n)!.bytes).equals(st.get(n)!.bytes), n);

  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { ...weightMap, ghost: "model-00001-of-00002.safetensors" } }));
  assert.throws(() => openCheckpoint(dir), isCheckpointError(/"ghost" should be in model-00001-of-00002\.safetensors/));
  fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { a: "../../etc/passwd" } }));
  assert.throws(() => openCheckpoint(dir), isCheckpointError(/not a file name in the same folder/));
});

// ---- synthetic torch zips ----

function f32(xs: number[]): Buffer {
  return Buffer.from(new Float32Array(xs).buffer);
}

function torchZip(tensors: PickledTensor[], storages: Record<string, Uint8Array>, opts: { orderedDict?: boolean; protocol4?: boolean; zip64?: boolean; deflate?: boolean; byteorder?: string } = {}): Buffer {
  return makeZip([
    { name: "archive/data.pkl", data: stateDictPickle(tensors, opts) },
    ...(opts.byteorder ? [{ name: "archive/byteorder", data: Buffer.from(opts.byteorder) }] : []),
    ...Object.entries(storages).map(([k, data]) => ({ name: `archive/data/${k}`, data, deflate: opts.deflate })),
    { name: "archive/version", data: Buffer.from("3\n") },
  ], opts);
}

// storage 0: 0..11 as float32; a [3, 4] matrix, its transpose (non-contiguous), a row view at offset 4,
// and a [2] int64 tensor in storage 1.
const M = Array.from({ length: 12 }, (_, i) => i);
const SYNTH: PickledTensor[] = [
  { name: "m", storageType: "FloatStorage", key: "0", numel: 12, offset: 0, shape: [3, 4], stride: [4, 1], asParameter: true },
  { name: "m_t", storageType: "FloatStorage", key: "0", numel: 12, offset: 0, shape: [4, 3], stride: [1, 4] },
  { name: "row1", storageType: "FloatStorage", key: "0", numel: 12, offset: 4, shape: [4], stride: [1] },
  { name: "ids", storageType: "LongStorage", key: "1", numel: 2, offset: 0, shape: [2], stride: [1] },
  { name: "scalar", storageType: "FloatStorage", key: "0", numel: 12, offset: 11, shape: [], stride: [] },
];
const IDS = Buffer.from(new BigInt64Array([7n, -3n]).buffer);

function checkSynthetic(ckpt: Checkpoint, rawSources: boolean): void {
  assert.deepEqual(ckpt.names(), ["m", "m_t", "row1", "ids", "scalar"]);
  assert.ok(Buffer.from(ckpt.get("m")!.bytes).equals(f32(M)));
  const transposed = [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11];
  const mt = ckpt.get("m_t")!;
  assert.deepEqual(mt.shape, [4, 3]);
  assert.ok(Buffer.from(mt.bytes).equals(f32(transposed)), "transpose materialised row-major");
  assert.equal(mt.source, null, "a gathered copy has no file range");
  assert.ok(Buffer.from(ckpt.get("row1")!.bytes).equals(f32([4, 5, 6, 7])));
  const ids = ckpt.get("ids")!;
  assert.equal(ids.dtype, "int64");
  assert.ok(Buffer.from(ids.bytes).equals(IDS));
  assert.ok(Buffer.from(ckpt.get("scalar")!.bytes).equals(f32([11])));
  assert.equal(ckpt.get("row1")!.source !== null, rawSources);
  if (rawSources) assertSourcesPointAtTheBytes({ files: ckpt.files, names: () => ["m", "row1", "ids", "scalar"], get: (n) => ckpt.get(n) });
}

test("torch zip: parameters, strided views, offsets, int64, scalars (protocol 2, plain dict)", () => {
  checkSynthetic(readTorchCheckpoint(writeTmp("synth-p2.bin", torchZip(SYNTH, { 0: f32(M), 1: IDS }))), true);
});

test("torch zip: OrderedDict with _metadata, protocol 4 (FRAME, STACK_GLOBAL, MEMOIZE), ZIP64 directory", () => {
  const bytes = torchZip(SYNTH, { 0: f32(M), 1: IDS }, { orderedDict: true, protocol4: true, zip64: true });
  checkSynthetic(readTorchCheckpoint(writeTmp("synth-p4.bin", bytes)), true);
});

test("torch zip: deflated storages are inflated; big-endian files are byte-swapped", () => {
  checkSynthetic(readTorchCheckpoint(writeTmp("synth-deflate.bin", torchZip(SYNTH, { 0: f32(M), 1: IDS }, { deflate: true }))), false);
  const swap = (b: Buffer, size: number) => { const c = Buffer.from(b); for (let i = 0; i < c.length; i += size) c.subarray(i, i + size).reverse(); return c; };
  const big = torchZip(SYNTH, { 0: swap(f32(M), 4), 1: swap(IDS, 8) }, { byteorder: "big" });
  checkSynthetic(readTorchCheckpoint(writeTmp("synth-big.bin", big)), false);
});

// ---- malicious pickles ----

const MARKER = path.join(TMP, "pwned");
const CMD = `touch ${MARKER}`;
const maliciousPickles: Record<string, { pickle: Buffer; global: string }> = {
  "posix.system via GLOBAL + REDUCE": { pickle: Buffer.concat([pk.proto(2), pk.global("posix", "system"), pk.str(CMD), pk.tuple1, pk.reduce, pk.stop]), global: "posix.system" },
  "os.system": { pickle: Buffer.concat([pk.proto(2), pk.global("os", "system"), pk.str(CMD), pk.tuple1, pk.reduce, pk.stop]), global: "os.system" },
  "builtins.eval": { pickle: Buffer.concat([pk.proto(2), pk.global("builtins", "eval"), pk.str(`__import__('os').system('${CMD}')`), pk.tuple1, pk.reduce, pk.stop]), global: "builtins.eval" },
  "subprocess.Popen": { pickle: Buffer.concat([pk.proto(2), pk.global("subprocess", "Popen"), pk.mark, pk.emptyList, pk.mark, pk.str("touch"), pk.str(MARKER), pk.appends, pk.tuple, pk.reduce, pk.stop]), global: "subprocess.Popen" },
  "os.system via STACK_GLOBAL (protocol 4)": { pickle: Buffer.concat([pk.proto(4), pk.shortStr("os"), pk.shortStr("system"), pk.stackGlobal, pk.str(CMD), pk.tuple1, pk.reduce, pk.stop]), global: "os.system" },
  "os.system via INST": { pickle: Buffer.concat([pk.proto(2), pk.mark, pk.str(CMD), pk.inst("os", "system"), pk.stop]), global: "os.system" },
  "torch.storage._load_from_bytes": { pickle: Buffer.concat([pk.proto(2), pk.global("torch.storage", "_load_from_bytes"), Buffer.from([0x43, 1, 0]), pk.tuple1, pk.reduce, pk.stop]), global: "torch.storage._load_from_bytes" },
  "a valid tensor first, then os.system": {
    pickle: Buffer.concat([
      stateDictPickle([SYNTH[0]!]).subarray(0, -2), // drop SETITEMS + STOP, keep the mark open
      pk.str("evil"), pk.global("os", "system"), pk.str(CMD), pk.tuple1, pk.reduce, pk.setitems, pk.stop,
    ]),
    global: "os.system",
  },
};

for (const [label, { pickle, global }] of Object.entries(maliciousPickles)) {
  test(`malicious pickle is refused and nothing runs: ${label}`, () => {
    const file = writeTmp(`evil-${label.replace(/\W+/g, "_")}.bin`, makeZip([
      { name: "archive/data.pkl", data: pickle },
      { name: "archive/data/0", data: f32(M) },
    ]));
    const escaped = global.replace(/\./g, "\\.");
    assert.throws(() => readTorchCheckpoint(file), isCheckpointError(
      new RegExp(`refusing to load .*: the pickle references \`${escaped}\`, which is not a tensor; only state dicts of tensors are loaded`),
    ));
    assert.throws(() => openCheckpoint(file), CheckpointError);
    assert.equal(fs.existsSync(MARKER), false, "the command must not have run");
  });
}

test("allowed globals used in a non-tensor way are refused too", () => {
  const callStorage = Buffer.concat([pk.proto(2), pk.global("torch", "FloatStorage"), pk.emptyTuple, pk.reduce, pk.stop]);
  const file = writeTmp("evil-call-storage.bin", makeZip([{ name: "archive/data.pkl", data: callStorage }]));
  assert.throws(() => readTorchCheckpoint(file), isCheckpointError(/calls torch\.FloatStorage, which a state dict never does/));
  const notTensors = Buffer.concat([pk.proto(2), pk.emptyDict, pk.str("epoch"), pk.int(3), pk.setitem, pk.stop]);
  const file2 = writeTmp("not-tensors.bin", makeZip([{ name: "archive/data.pkl", data: notTensors }]));
  assert.throws(() => readTorchCheckpoint(file2), isCheckpointError(/entry "epoch" is not a tensor/));
});

// ---- corrupt inputs ----

test("corrupt or foreign torch files give clear errors", () => {
  const bin = fs.readFileSync(path.join(LEGACY, "pytorch_model.bin"));
  assert.throws(() => readTorchCheckpoint(writeTmp("half.bin", bin.subarray(0, bin.length >> 1))), isCheckpointError(/not a readable zip archive: no end-of-central-directory record/));
  assert.throws(() => readTorchCheckpoint(writeTmp("empty.bin", Buffer.alloc(0))), isCheckpointError(/not a zip archive/));
  assert.throws(() => readTorchCheckpoint(writeTmp("legacy.bin", Buffer.from([0x80, 0x02, 0x8a, 0x0a]))), isCheckpointError(/legacy \(pre-1\.6, non-zip\) torch\.save format/));
  assert.throws(() => readTorchCheckpoint(writeTmp("nopkl.bin", makeZip([{ name: "x/y.txt", data: Buffer.from("hi") }]))), isCheckpointError(/without <archive>\/data\.pkl/));
  const missingStorage = makeZip([{ name: "archive/data.pkl", data: stateDictPickle([SYNTH[0]!]) }]);
  assert.throws(() => readTorchCheckpoint(writeTmp("nostorage.bin", missingStorage)), isCheckpointError(/storage archive\/data\/0 is missing/));
  const shortStorage = makeZip([{ name: "archive/data.pkl", data: stateDictPickle([SYNTH[0]!]) }, { name: "archive/data/0", data: f32([1, 2]) }]);
  assert.throws(() => readTorchCheckpoint(writeTmp("shortstorage.bin", shortStorage)), isCheckpointError(/should hold 12 float32 values \(48 bytes\) but has 8 bytes/));
  const pkl = stateDictPickle([SYNTH[0]!]);
  const truncatedPickle = makeZip([{ name: "archive/data.pkl", data: pkl.subarray(0, 40) }, { name: "archive/data/0", data: f32(M) }]);
  assert.throws(() => readTorchCheckpoint(writeTmp("truncpkl.bin", truncatedPickle)), isCheckpointError(/pickle ends in the middle of an opcode/));
  // A flipped byte inside data.pkl is caught by its CRC before unpickling.
  const flipped = Buffer.from(makeZip([{ name: "archive/data.pkl", data: pkl }, { name: "archive/data/0", data: f32(M) }]));
  flipped[flipped.indexOf(Buffer.from("storage")) + 1] ^= 0xff;
  assert.throws(() => readTorchCheckpoint(writeTmp("flipped.bin", flipped)), isCheckpointError(/fails its CRC-32 check/));
  const pastEnd: PickledTensor = { ...SYNTH[0]!, shape: [4, 4], stride: [4, 1] };
  const overflow = makeZip([{ name: "archive/data.pkl", data: stateDictPickle([pastEnd]) }, { name: "archive/data/0", data: f32(M) }]);
  assert.throws(() => readTorchCheckpoint(writeTmp("overflow.bin", overflow)), isCheckpointError(/reaches past the end of its storage 0/));
});

test("corrupt safetensors files give clear errors", () => {
  const good = makeSafetensors([{ name: "w", dtype: "F32", shape: [2, 2], bytes: f32([1, 2, 3, 4]) }]);
  assert.deepEqual(readSafetensors(writeTmp("good.safetensors", good)).get("w")!.shape, [2, 2]);
  const withHeader = (h: string, data = Buffer.alloc(0)) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([len, Buffer.from(h), data]);
  };
  const cases: [string, Buffer, RegExp][] = [
    ["tiny", Buffer.from([1, 2, 3]), /less than the 8-byte header length/],
    ["huge-header", (() => { const b = Buffer.from(good); b.writeBigUInt64LE(1n << 40n); return b; })(), /header claims \d+ bytes but the file has \d+ bytes/],
    ["bad-json", withHeader("{nope"), /header is not valid JSON/],
    ["array", withHeader("[1]"), /must be a JSON object of tensors/],
    ["dtype", withHeader(JSON.stringify({ w: { dtype: "F8_E4M3", shape: [1], data_offsets: [0, 1] } }), Buffer.alloc(1)), /dtype "F8_E4M3"; supported: F32/],
    ["size", withHeader(JSON.stringify({ w: { dtype: "F32", shape: [2], data_offsets: [0, 4] } }), Buffer.alloc(8)), /needs 8 bytes but data_offsets span 4/],
    ["truncated", good.subarray(0, good.length - 4), /outside the 12-byte data section/],
    ["overlap", withHeader(JSON.stringify({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }), Buffer.alloc(8)), /"a" and "b" overlap/],
    ["shape", withHeader(JSON.stringify({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), Buffer.alloc(4)), /bad dimension -1/],
  ];
  for (const [label, bytes, re] of cases) {
    assert.throws(() => readSafetensors(writeTmp(`bad-${label}.safetensors`, bytes)), isCheckpointError(re), label);
  }
});

test("missing files and folders give clear errors", () => {
  assert.throws(() => openCheckpoint(path.join(TMP, "no-such-model")), isCheckpointError(/model folder .*no-such-model does not exist/));
  const empty = path.join(TMP, "empty-model");
  fs.mkdirSync(empty);
  assert.throws(() => openCheckpoint(empty), isCheckpointError(/no weights in .*empty-model: expected model\.safetensors, model\.safetensors\.index\.json, pytorch_model\.bin/));
  assert.throws(() => readSafetensors(path.join(TMP, "nope.safetensors")), isCheckpointError(/does not exist/));
  assert.throws(() => readTorchCheckpoint(TMP), isCheckpointError(/is not a regular file/));
});
