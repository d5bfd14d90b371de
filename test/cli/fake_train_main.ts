// `captioner train` as a process with the fake gradient step and optimiser in its training table
// (the real ones are the engine's): for the CLI tests, including being killed with SIGKILL.
import { Command } from "commander";
import { trainCommand } from "../../src/cli/train.js";
import { fakeBackend } from "../training/fakes.js";

// `node --test dist/test/` also runs this file on its own, with no arguments: nothing to do then.
if (process.argv.length > 2) await new Command("captioner").addCommand(trainCommand({ blip: fakeBackend() })).parseAsync(process.argv);
