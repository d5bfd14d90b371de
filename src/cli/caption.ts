// `captioner caption --model M [generation flags] [--json] IMAGE...`: several images are one batch.
import { Command } from "commander";
import * as fs from "node:fs/promises";
import { captionOptions, type GenerationFlags, loadCaptioner, type ModelFlags, reportErrors, withGenerationFlags, withModelFlags } from "./common.js";
import { readableText } from "../generation/captioner.js";

interface CaptionFlags extends GenerationFlags, ModelFlags {
  json?: boolean;
}

export function captionCommand(): Command {
  return withGenerationFlags(
    withModelFlags(new Command("caption").description("caption images with a BLIP or BLIP-2 checkpoint (all images form one batch)"))
      .option("--json", "print one JSON document: {results: [{image, captions: [{text, ids}]}]}")
      .argument("<images...>", "image files (PNG, JPEG, WebP, GIF)"),
  ).action(
    reportErrors(async (images: string[], flags: CaptionFlags) => {
      const files = await Promise.all(images.map((f) => fs.readFile(f).catch(() => Promise.reject(new Error(`cannot read image file ${f}`)))));
      const captioner = await loadCaptioner(flags);
      try {
        const results = await captioner.caption(files.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)), captionOptions(flags));
        if (flags.json) {
          const doc = { results: results.map((captions, i) => ({ image: images[i], captions: captions.map((c) => withScore(c)) })) };
          process.stdout.write(`${JSON.stringify(doc)}\n`);
        } else {
          for (const captions of results) for (const c of captions) process.stdout.write(`${readableText(c)}\n`);
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
