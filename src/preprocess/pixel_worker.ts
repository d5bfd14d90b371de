// The worker thread of off_thread.ts: resizes and normalises one decoded image (toPixelValues, the
// same code as on the main thread, so the pixels are the same bit for bit) and sends them back.
import { parentPort } from "node:worker_threads";
import { type ImageProcessorConfig, toPixelValues } from "./image_processor.js";

export interface PixelRequest {
  id: number;
  width: number;
  height: number;
  data: Uint8Array;
  cfg: ImageProcessorConfig;
}

parentPort?.on("message", (request: PixelRequest) => {
  try {
    const pixels = toPixelValues({ width: request.width, height: request.height, data: request.data }, request.cfg);
    parentPort!.postMessage({ id: request.id, pixels }, [pixels.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({ id: request.id, error: (error as Error).message ?? String(error) });
  }
});
