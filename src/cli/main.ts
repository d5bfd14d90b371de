#!/usr/bin/env node
// The `captioner` command: one file per sub-command under src/cli/, each exporting a factory that
// returns a commander Command. This file only assembles them; no logic lives here.
import { Command } from "commander";
import { createRequire } from "node:module";
import { benchCommand } from "./bench.js";
import { captionCommand } from "./caption.js";
import { describeCommand } from "./describe.js";
import { evalCommand } from "./eval.js";
import { metricsCommand } from "./metrics.js";
import { preprocessCommand } from "./preprocess.js";
import { pullCommand } from "./pull.js";
import { serveCommand } from "./serve.js";
import { trainCommand } from "./train.js";
import { keysCommand } from "./keys.js";
import { workerCommand } from "./worker.js";

const { version } = createRequire(import.meta.url)("../../../package.json") as { version: string };

const program = new Command("captioner")
  .version(version)
  .description("Image captioning with Hugging Face BLIP checkpoints on onnxruntime")
  .showHelpAfterError();
program.addCommand(captionCommand());
program.addCommand(describeCommand());
program.addCommand(benchCommand());
program.addCommand(evalCommand());
program.addCommand(metricsCommand());
program.addCommand(preprocessCommand());
program.addCommand(pullCommand());
program.addCommand(serveCommand());
program.addCommand(trainCommand());
program.addCommand(keysCommand());
program.addCommand(workerCommand());

await program.parseAsync(process.argv);
