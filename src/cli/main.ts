#!/usr/bin/env node
// The `captioner` command: one file per sub-command under src/cli/, each exporting a factory that
// returns a commander Command. This file only assembles them; no logic lives here.
import { Command } from "commander";
import { captionCommand } from "./caption.js";
import { metricsCommand } from "./metrics.js";
import { preprocessCommand } from "./preprocess.js";
import { pullCommand } from "./pull.js";

const program = new Command("captioner")
  .description("Image captioning with Hugging Face BLIP checkpoints on onnxruntime")
  .showHelpAfterError();
program.addCommand(captionCommand());
program.addCommand(metricsCommand());
program.addCommand(preprocessCommand());
program.addCommand(pullCommand());

await program.parseAsync(process.argv);
