// Per-image rows computed once before training — the frozen vision encoder's features, or the
// preprocessed pixels when the vision tower trains — and gathered by index for every batch.
// Small sets stay in memory. Large ones go to a file: a real-shaped base model's features are
// 577 × 768 floats (1.8 MB) per image, so 10,000 images would need 18 GB of RAM; from a file each
// batch reads only its rows (pread), and the OS page cache keeps what fits.
import * as fs from "node:fs";
import * as path from "node:path";

export interface ImageCache {
  /** The shape of one image's row (`[tokens, hidden]` features, `[3, S, S]` pixels). */
  readonly rowShape: readonly number[];
  /** Floats per image. */
  readonly rowLength: number;
  readonly count: number;
  readonly onDisk: boolean;
  /** The rows of `images`, concatenated in that order. */
  rows(images: readonly number[]): Float32Array;
  release(): void;
}

export interface ImageCacheOptions {
  /** Images per `compute` call. */
  chunk: number;
  /** Above this many bytes the cache is a file. */
  memoryBytes: number;
  /** The file to use when it does not fit in memory (removed by `release`). */
  file: string;
  /** Called after each chunk with the number of images done. */
  onProgress?: (done: number) => void;
}

/**
 * Fills a cache of `count` images by calling `compute(start, end)` (rows of images start..end-1)
 * chunk by chunk. `await buildImageCache(600, [17, 32], (a, b) => encode(a, b), opts)`
 */
export async function buildImageCache(
  count: number,
  rowShape: readonly number[],
  compute: (start: number, end: number) => Promise<Float32Array>,
  opts: ImageCacheOptions,
): Promise<ImageCache> {
  const rowLength = rowShape.reduce((a, b) => a * b, 1);
  const inMemory = count * rowLength * 4 <= opts.memoryBytes;
  const memory = inMemory ? new Float32Array(count * rowLength) : null;
  let fd: number | null = null;
  if (!inMemory) {
    fs.mkdirSync(path.dirname(opts.file), { recursive: true });
    fd = fs.openSync(opts.file, "w+");
  }
  try {
    for (let start = 0; start < count; start += opts.chunk) {
      const end = Math.min(count, start + opts.chunk);
      const rows = await compute(start, end);
      if (rows.length !== (end - start) * rowLength) throw new Error(`image cache: got ${rows.length} floats for ${end - start} images of ${rowLength}`);
      if (memory) memory.set(rows, start * rowLength);
      else fs.writeSync(fd!, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength), 0, rows.byteLength, start * rowLength * 4);
      opts.onProgress?.(end);
    }
  } catch (error) {
    if (fd !== null) (fs.closeSync(fd), fs.rmSync(opts.file, { force: true }));
    throw error;
  }
  if (memory) return memoryCache(memory, rowShape, count);
  return fileCache(fd!, opts.file, rowShape, count);
}

function memoryCache(data: Float32Array, rowShape: readonly number[], count: number): ImageCache {
  const rowLength = rowShape.reduce((a, b) => a * b, 1);
  return {
    rowShape,
    rowLength,
    count,
    onDisk: false,
    rows(images) {
      const out = new Float32Array(images.length * rowLength);
      images.forEach((img, k) => out.set(data.subarray(img * rowLength, (img + 1) * rowLength), k * rowLength));
      return out;
    },
    release() {},
  };
}

function fileCache(fd: number, file: string, rowShape: readonly number[], count: number): ImageCache {
  const rowLength = rowShape.reduce((a, b) => a * b, 1);
  const rowBytes = rowLength * 4;
  let open = true;
  return {
    rowShape,
    rowLength,
    count,
    onDisk: true,
    rows(images) {
      const out = new Float32Array(images.length * rowLength);
      const bytes = new Uint8Array(out.buffer);
      images.forEach((img, k) => {
        const n = fs.readSync(fd, bytes, k * rowBytes, rowBytes, img * rowBytes);
        if (n !== rowBytes) throw new Error(`image cache ${file}: short read of image ${img}`);
      });
      return out;
    },
    release() {
      if (!open) return;
      open = false;
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    },
  };
}
