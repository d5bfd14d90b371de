// `captioner describe`: captions plus tags, colours and descriptions, for image files (printed) or a
// whole folder (sidecars or metadata.jsonl, for training data). The work is src/enrich/describe.ts.
import { Command, Option } from "commander";
import { type Feature, FEATURE_NAMES, FeatureError, parseFeatures, parseLlmConfig, Restyler } from "../enrich/index.js";
import { checkStyle } from "../enrich/features.js";
import { describeFiles, describeFolder, type DescribeRunOptions, type ImageDescription, WRITE_MODES, type WriteMode } from "../enrich/describe.js";
import { captionOptions, type GenerationFlags, loadCaptioner, type ModelFlags, progressBar, reportErrors, withGenerationFlags, withModelFlags } from "./common.js";

interface DescribeFlags extends GenerationFlags, ModelFlags {
  features?: string;
  style?: string;
  exifTranspose?: boolean;
  json?: boolean;
  dir?: string;
  recursive?: boolean;
  write: WriteMode;
  prefix?: string;
  suffix?: string;
  overwrite?: boolean;
}

/** Without --features: everything local (no LLM call unless a style asks for a description). */
const DEFAULT_FEATURES: Feature[] = ["caption", "tags", "colors"];

export function describeCommand(): Command {
  return withGenerationFlags(
    withModelFlags(new Command("describe").description("caption images and add tags, colours and descriptions; or caption a whole folder (sidecars or metadata.jsonl)"))
      .option("--features <list>", `comma-separated: ${FEATURE_NAMES.join(",")} (default caption,tags,colors; --style adds description)`)
      .option("--style <name>", "description style: a built-in (alt-text, product, short, tags-json) or one of CAPTIONER_LLM_* / the llm config; the LLM is set by CAPTIONER_LLM_BASE_URL and CAPTIONER_LLM_MODEL")
      .option("--exif-transpose", "turn photos upright per their EXIF orientation (default: pixels as stored, as transformers sees them)")
      .option("--json", "print one JSON document: {results: [{image, caption, tags, colors, description}]}")
      .option("--dir <folder>", "describe every image of a folder and write the results next to them")
      .option("--recursive", "with --dir: include subfolders")
      .addOption(new Option("--write <mode>", `with --dir: ${Object.entries(WRITE_MODES).map(([k, v]) => `${k} = ${v}`).join("; ")}`).choices(Object.keys(WRITE_MODES)).default("txt"))
      .option("--prefix <text>", "with --dir: put before every text, as given (e.g. a trigger word: --prefix 'sks, ')")
      .option("--suffix <text>", "with --dir: put after every text, as given")
      .option("--overwrite", "with --dir: describe images that already have a sidecar / a metadata.jsonl line again")
      .argument("[images...]", "image files (PNG, JPEG, WebP, GIF); or use --dir"),
  ).action(
    reportErrors(async (images: string[], flags: DescribeFlags) => {
      if (flags.dir !== undefined && images.length > 0) throw new Error("give image files or --dir FOLDER, not both");
      if (flags.dir === undefined && images.length === 0) throw new Error("give image files to describe, or --dir FOLDER");
      if (flags.dir === undefined && (flags.recursive || flags.prefix !== undefined || flags.suffix !== undefined || flags.overwrite)) {
        throw new Error("--recursive, --prefix, --suffix and --overwrite apply to --dir FOLDER");
      }
      const features = flags.features !== undefined ? parseFeatures(flags.features) : flags.style !== undefined ? [...DEFAULT_FEATURES, "description" as const] : DEFAULT_FEATURES;
      // The LLM's settings come from the environment (the server's are its config's llm section).
      const restyler = features.includes("description") ? new Restyler(parseLlmConfig({}, process.env)) : undefined;
      if (restyler) checkStyle(features, restyler, flags.style);
      else if (flags.style !== undefined) throw new FeatureError(`--style applies to descriptions; add description to --features`);

      const captioner = await loadCaptioner(flags);
      try {
        const run: DescribeRunOptions = { features, restyler, style: flags.style, exifTranspose: flags.exifTranspose, caption: captionOptions(flags) };
        if (flags.dir !== undefined) await folder(captioner, flags.dir, run, flags);
        else await files(captioner, images, run, flags.json ?? false);
      } finally {
        await captioner.release();
      }
    }),
  );
}

async function files(captioner: Parameters<typeof describeFiles>[0], images: string[], run: DescribeRunOptions, json: boolean): Promise<void> {
  const outcomes = await describeFiles(captioner, images, run);
  const failed = outcomes.filter((o) => "error" in o);
  for (const o of failed) process.stderr.write(`captioner: skipped ${o.file}: ${"error" in o ? o.error : ""}\n`);
  const results = outcomes.flatMap((o) => ("result" in o ? [o.result] : []));
  if (json) process.stdout.write(`${JSON.stringify({ results })}\n`);
  else for (const r of results) process.stdout.write(plainText(r));
  if (results.length === 0) process.exitCode = 1;
}

/** The human-readable form: the caption, then one indented line per other feature. */
function plainText(r: ImageDescription): string {
  const lines = [r.caption ?? r.image];
  if (r.tags) lines.push(`  tags: ${r.tags.map((t) => t.tag).join(", ")}`);
  if (r.colors) lines.push(`  colors: ${r.colors.palette.map((c) => `${c.hex} ${c.name} ${Math.round(c.share * 100)}%`).join(", ")}${r.colors.grayscale ? " (grayscale)" : ""}`);
  if (r.description) lines.push(`  description (${r.description.style}${r.description.llm.used ? "" : `, fallback: ${r.description.llm.reason}`}): ${r.description.text}`);
  return `${lines.join("\n")}\n`;
}

async function folder(captioner: Parameters<typeof describeFolder>[0], dir: string, run: DescribeRunOptions, flags: DescribeFlags): Promise<void> {
  const bar = process.stderr.isTTY ? progressBar() : undefined;
  const summary = await describeFolder(captioner, dir, { ...run, recursive: flags.recursive, write: flags.write, prefix: flags.prefix, suffix: flags.suffix, overwrite: flags.overwrite, onProgress: bar?.update });
  bar?.finish();
  for (const f of summary.failed) process.stderr.write(`captioner: could not describe ${f.file}: ${f.error}\n`);
  const parts = [`${summary.described} described`, `${summary.skipped} skipped (already done; --overwrite redoes them)`, `${summary.failed.length} unreadable`];
  process.stderr.write(`captioner: ${summary.found} images in ${dir}: ${parts.join(", ")}\n`);
  // Unreadable files are reported, not fatal, unless no image of the folder has a result at all.
  if (summary.failed.length > 0 && summary.described + summary.skipped === 0) process.exitCode = 1;
}
