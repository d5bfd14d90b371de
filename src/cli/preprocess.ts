// `captioner preprocess --model M --out FILE.bin IMAGE`: the model's pixel_values as raw float32.
import { Command } from "commander";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { parseImageProcessorConfig, preprocessImage } from "../preprocess/image_processor.js";
import { modelFolder, reportErrors } from "./common.js";

export function preprocessCommand(): Command {
  return new Command("preprocess")
    .description("write an image's pixel_values ([1, 3, H, W] float32 little-endian, no header) as the model's processor computes them")
    .requiredOption("--model <folder-or-hub-id>", "checkpoint folder or Hugging Face repo id (only preprocessor_config.json is read)")
    .requiredOption("--out <file>", "output .bin file")
    .option("--revision <rev>", "hub revision of --model")
    .argument("<image>", "image file")
    .action(
      reportErrors(async (image: string, flags: { model: string; out: string; revision?: string }) => {
        const folder = await modelFolder(flags.model, flags.revision);
        const config = parseImageProcessorConfig(JSON.parse(await fs.readFile(path.join(folder, "preprocessor_config.json"), "utf8")));
        const bytes = await fs.readFile(image).catch(() => Promise.reject(new Error(`cannot read image file ${image}`)));
        const pixels = await preprocessImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), config);
        await fs.writeFile(flags.out, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
        process.stdout.write(`${JSON.stringify({ shape: [1, 3, config.size.height, config.size.width] })}\n`);
      }),
    );
}
