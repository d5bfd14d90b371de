#!/usr/bin/env node
// The `captioner` command: one file per sub-command under src/cli/, each exporting a factory that
// returns a commander Command. This file only assembles them; no logic lives here.
import { Command } from "commander";
import { createRequire } from "node:module";

const { version } = createRequire(import.meta.url)("../../../package.json") as { version: string };

const program = new Command("captioner")
  .version(version)
  .description("Image captioning with Hugging Face BLIP checkpoints on onnxruntime")
  .showHelpAfterError();
// Only the sub-command being run is imported (the server's modules cost `caption` ≈ 1 s of start-up);
// help and unknown names import them all, so every command is listed.
const COMMANDS: Record<string, () => Promise<Command>> = {
  caption: async () => (await import("./caption.js")).captionCommand(),
  describe: async () => (await import("./describe.js")).describeCommand(),
  bench: async () => (await import("./bench.js")).benchCommand(),
  eval: async () => (await import("./eval.js")).evalCommand(),
  metrics: async () => (await import("./metrics.js")).metricsCommand(),
  preprocess: async () => (await import("./preprocess.js")).preprocessCommand(),
  pull: async () => (await import("./pull.js")).pullCommand(),
  serve: async () => (await import("./serve.js")).serveCommand(),
  train: async () => (await import("./train.js")).trainCommand(),
  keys: async () => (await import("./keys.js")).keysCommand(),
  worker: async () => (await import("./worker.js")).workerCommand(),
};
const requested = process.argv[2];
const names = requested !== undefined && Object.hasOwn(COMMANDS, requested) ? [requested] : Object.keys(COMMANDS);
for (const name of names) program.addCommand(await COMMANDS[name]!());

await program.parseAsync(process.argv);
