// Interlaced (Adam7) PNGs are decoded scanline by scanline like plain ones: the same pixels as the
// plain file (whose decoding the Pillow fixtures check), and no full-size buffer at the file's depth,
// so the decoding budget (decodedSize: samples at the file's depth, at least the RGB result) counts
// them as it counts plain ones.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { decodedSize, decodeImage, ImageDecodeError } from "../../src/preprocess/image.js";

/** Pixels that defeat easy filtering, so every row filter shows up. */
function noise(width: number, height: number, channels: number): Buffer {
  const data = Buffer.alloc(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 24) & 0xff;
  return data;
}

type Layout = "rgb8" | "rgba16" | "grey8" | "palette";

/** The same pixels as a plain and as an Adam7 PNG (sharp's `progressive: true`). */
async function pair(width: number, height: number, layout: Layout): Promise<{ plain: Buffer; interlaced: Buffer }> {
  const channels = layout === "rgba16" ? 4 : layout === "grey8" ? 1 : 3;
  const make = (progressive: boolean) => {
    let image = sharp(noise(width, height, channels), { raw: { width, height, channels: channels as 1 | 3 | 4 } });
    if (layout === "rgba16") image = image.toColourspace("rgb16");
    if (layout === "grey8") image = image.toColourspace("b-w");
    return image.png({ progressive, palette: layout === "palette", compressionLevel: 1 }).toBuffer();
  };
  return { plain: await make(false), interlaced: await make(true) };
}

/** IHDR's interlace method byte. */
const interlaceByte = (png: Buffer) => png[8 + 8 + 12];

test("an Adam7 PNG decodes to the same pixels as the plain file, every layout and awkward sizes", async () => {
  for (const [width, height, layout] of [[37, 23, "rgb8"], [1, 1, "rgb8"], [3, 9, "grey8"], [64, 33, "rgba16"], [13, 9, "palette"], [250, 130, "rgb8"]] as const) {
    const { plain, interlaced } = await pair(width, height, layout);
    assert.equal(interlaceByte(interlaced), 1, "sharp wrote Adam7");
    assert.equal(interlaceByte(plain), 0);
    if (layout === "grey8") assert.equal((await decodedSize(plain))?.channels, 1, "a grey file");
    const a = await decodeImage(plain);
    const b = await decodeImage(interlaced);
    assert.equal(b.width, width);
    assert.equal(b.height, height);
    assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${layout} ${width}×${height}: pixels differ`);
  }
});

test("an Adam7 PNG cut short is refused as truncated", async () => {
  const { interlaced } = await pair(120, 80, "rgb8");
  const cut = interlaced.subarray(0, Math.floor(interlaced.length * 0.6));
  await assert.rejects(decodeImage(cut), (e: unknown) => e instanceof ImageDecodeError && /truncated/.test(e.message));
});

test("decodedSize counts at least the 8-bit RGB result a grey image decodes to", async () => {
  const grey = await sharp(noise(100, 50, 1), { raw: { width: 100, height: 50, channels: 1 } }).toColourspace("b-w").png().toBuffer();
  assert.deepEqual(await decodedSize(grey), { width: 100, height: 50, channels: 1, bytesPerSample: 1, bytes: 100 * 50 * 3 });
});

test("decoding a large Adam7 PNG takes no more memory than the plain file", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "adam7-"));
  try {
    const { plain, interlaced } = await pair(3000, 2000, "rgba16");
    const files = { plain: path.join(dir, "plain.png"), interlaced: path.join(dir, "interlaced.png") };
    fs.writeFileSync(files.plain, plain);
    fs.writeFileSync(files.interlaced, interlaced);
    // Each decode in a fresh process: the growth of its peak RSS (VmHWM) is what the decode took.
    const image = new URL("../../src/preprocess/image.js", import.meta.url).href;
    const script = `
      import * as fs from "node:fs";
      const { decodeImage } = await import(${JSON.stringify(image)});
      const bytes = fs.readFileSync(process.argv[1]);
      const kb = (key) => Number(new RegExp(key + ":\\\\s+(\\\\d+)").exec(fs.readFileSync("/proc/self/status", "utf8"))[1]);
      const before = kb("VmRSS");
      await decodeImage(bytes);
      console.log((kb("VmHWM") - before) * 1024);`;
    const growth = (file: string) => Number(execFileSync(process.execPath, ["--input-type=module", "-e", script, file], { encoding: "utf8" }).trim());
    const [plainGrowth, interlacedGrowth] = [growth(files.plain), growth(files.interlaced)];
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;
    // Measured: plain +47 MB, interlaced +43 MB (was +120 MB: the whole inflated image, 48 MB at
    // 16 bits, its concatenated copy and the RGB result). Both include inflate output not yet
    // collected; the budget counts 48 MB (3000 × 2000 × 4 channels × 2 bytes).
    assert.ok(interlacedGrowth <= plainGrowth * 1.3 + 8 * 2 ** 20, `interlaced +${mb(interlacedGrowth)} vs plain +${mb(plainGrowth)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});


test("an RGBA PNG whose data stops at a row boundary keeps its alpha plane: the missing rows are transparent", async () => {
  const crcTable = Int32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc = (bytes: Buffer) => {
    let c = -1;
    for (const b of bytes) c = crcTable[(c ^ b) & 255]! ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const [width, height, given] = [10, 10, 3];
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  const rows = Array.from({ length: given }, () => Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [255, 0, 0, 255]).flat())]));
  const { deflateSync } = await import("node:zlib");
  const png = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header), chunk("IDAT", deflateSync(Buffer.concat(rows))), chunk("IEND", Buffer.alloc(0))]);
  const image = await decodeImage(new Uint8Array(png));
  assert.ok(image.alpha, "the alpha plane is kept");
  assert.deepEqual([...new Set(image.alpha!.subarray(0, width * given))], [255]);
  assert.deepEqual([...new Set(image.alpha!.subarray(width * given))], [0]);
});
