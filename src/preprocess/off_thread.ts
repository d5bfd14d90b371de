// Pillow-exact resizing is plain JavaScript: a 7000×7000 image takes ≈ 3 s of CPU, which on the
// main thread would stall every other request of a server (/healthz included). Large images are
// therefore resized in a worker thread; small ones stay on the calling thread, where the hand-off
// would cost more than the work.
import { Worker } from "node:worker_threads";
import type { RgbImage } from "./decoders/types.js";
import { type ImageProcessorConfig, toPixelValues } from "./image_processor.js";

/**
 * From this many pixels on, an image is resized off the main thread: ≈ 10 ms of work (1 Mpx is ≈ 50 ms).
 * Was 1 Mpx: at 200 clients sending 640×480 photos, their resizes on the main thread were the
 * longest tasks of the event loop (40–150 ms each under load) and /healthz queued behind them.
 */
export const OFF_THREAD_MIN_PIXELS = 200_000;

interface Pending {
  resolve: (pixels: Float32Array) => void;
  reject: (error: Error) => void;
}

/** One lazily started worker thread, referenced only while it has work (an idle one never keeps a process alive). */
class PixelWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  run(img: RgbImage, cfg: ImageProcessorConfig): Promise<Float32Array> {
    const worker = this.start();
    const id = this.nextId++;
    const owned = img.data.byteOffset === 0 && img.data.byteLength === img.data.buffer.byteLength;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      // The decoded image is handed over (not copied) when it owns its buffer: the caller is done with it.
      worker.postMessage({ id, width: img.width, height: img.height, data: img.data, cfg }, owned ? [img.data.buffer as ArrayBuffer] : []);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./pixel_worker.js", import.meta.url));
    worker.unref();
    worker.on("message", (message: { id: number; pixels?: Float32Array; error?: string }) => {
      const job = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (this.pending.size === 0) worker.unref();
      if (message.pixels) job?.resolve(message.pixels);
      else job?.reject(new Error(`resizing the image failed: ${message.error}`));
    });
    const fail = (error: Error) => {
      for (const job of this.pending.values()) job.reject(error);
      this.pending.clear();
      this.worker = null;
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the resize worker thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const shared = new PixelWorker();

/** `toPixelValues`, off the calling thread for images of OFF_THREAD_MIN_PIXELS or more (same result). */
export function toPixelValuesOffThread(img: RgbImage, cfg: ImageProcessorConfig): Promise<Float32Array> {
  if (img.width * img.height < OFF_THREAD_MIN_PIXELS) return Promise.resolve(toPixelValues(img, cfg));
  return shared.run(img, cfg);
}
