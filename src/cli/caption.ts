// `captioner caption --model M [generation flags] [--json] IMAGE...`: several images are one batch.
import { Command } from "commander";
import * as fs from "node:fs/promises";
import { Captioner } from "../generation/captioner.js";
import { captionOptions, type GenerationFlags, intAtLeast, modelFolder, reportErrors, withGenerationFlags } from "./common.js";

interface CaptionFlags extends GenerationFlags {
  model: string;
  revision?: string;
  json?: boolean;
  threads?: number;
}

export function captionCommand(): Command {
  return withGenerationFlags(
    new Command("caption")
      .description("caption images with a BLIP checkpoint (all images form one batch)")
      .requiredOption("--model <folder-or-hub-id>", "checkpoint folder, or a Hugging Face repo id (downloaded into the HF cache if missing)")
      .option("--revision <rev>", "hub revision of --model")
      .option("--json", "print one JSON document: {results: [{image, captions: [{text, ids}]}]}")
      .option("--threads <n>", "onnxruntime intra-op threads (default: all cores)", intAtLeast(1))
      .argument("<images...>", "image files (PNG, JPEG, WebP, GIF)"),
  ).action(
    reportErrors(async (images: string[], flags: CaptionFlags) => {
      const files = await Promise.all(images.map((f) => fs.readFile(f).catch(() => Promise.reject(new Error(`cannot read image file ${f}`)))));
      const captioner = await Captioner.load(await modelFolder(flags.model, flags.revision), { threads: flags.threads });
      try {
        const results = await captioner.caption(files.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), captionOptions(flags));
        if (flags.json) {
          const doc = { results: results.map((captions, i) => ({ image: images[i], captions: captions.map((c) => withScore(c)) })) };
          process.stdout.write(`${JSON.stringify(doc)}\n`);
        } else {
          for (const captions of results) for (const c of captions) process.stdout.write(`${c.text}\n`);
        }
      } finally {
        await captioner.release();
      }
    }),
  );
}

function withScore(c: { text: string; ids: number[]; score?: number }) {
  return c.score === undefined ? { text: c.text, ids: c.ids } : { text: c.text, ids: c.ids, score: c.score };
}
