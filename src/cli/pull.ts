// `captioner pull NAME|REPO_ID [--revision REV] [--config FILE]`: download a model into the Hugging
// Face cache and print its snapshot folder. NAME is a model of the server configuration (`blip` by
// default). Settings come from HF_HOME / HF_HUB_CACHE / HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE.
import { Command } from "commander";
import { existsSync } from "node:fs";
import { loadServerConfig } from "../serving/config.js";
import { DEFAULT_REVISION, downloadModel, HubError } from "../hub/index.js";
import { reportErrors } from "./common.js";

/** The `pull` sub-command. */
export function pullCommand(): Command {
  return new Command("pull")
    .description("download a model (a configured model name, or a Hugging Face repo id such as Salesforce/blip-image-captioning-base) into the HF cache")
    .argument("<model>", "a model name of the server configuration (e.g. blip), or a Hugging Face repo id org/name")
    .option("--revision <rev>", "branch, tag or commit hash (default: the configured one, else main)")
    .option("--config <file>", "server configuration file that names the models")
    .action(
      reportErrors(async (model: string, flags: { revision?: string; config?: string }) => {
        const progress = process.stderr.isTTY ? progressLine() : undefined;
        try {
          const { repoId, revision } = resolveName(model, flags);
          const snapshot = await downloadModel(repoId, { revision, onProgress: progress?.update });
          progress?.finish();
          process.stdout.write(`${snapshot}\n`);
        } finally {
          progress?.finish(); // the error message starts on a line of its own
        }
      }),
    );
}

/** A configured model name → its hub repo id and revision; a repo id passes through. */
function resolveName(model: string, flags: { revision?: string; config?: string }): { repoId: string; revision: string } {
  // Anything with a "/" is meant as a repo id (and validated as one by the download).
  if (model.includes("/")) return { repoId: model, revision: flags.revision ?? DEFAULT_REVISION };
  const models = loadServerConfig({ file: flags.config, env: process.env }).models;
  const configured = models[model];
  if (!configured) {
    throw new HubError(`"${model}" is neither a Hugging Face repo id (org/name) nor a configured model (configured: ${Object.keys(models).join(", ")})`);
  }
  if (!configured.source.includes("/") || existsSync(configured.source)) throw new HubError(`model ${model} is the local folder ${configured.source}; there is nothing to download`);
  return { repoId: configured.source, revision: flags.revision ?? configured.revision ?? DEFAULT_REVISION };
}

/** One self-overwriting stderr line: "file  12.3 MB / 45.6 MB  27%", redrawn at most every 100 ms. */
function progressLine() {
  let lastDraw = 0;
  let drawn = false;
  const bytes = (n: number) => (n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);
  return {
    update({ file, downloaded, total }: { file: string; downloaded: number; total: number | null }) {
      const now = Date.now();
      const done = total !== null && downloaded >= total;
      if (!done && now - lastDraw < 100) return;
      lastDraw = now;
      drawn = true;
      const amount = total === null ? bytes(downloaded) : `${bytes(downloaded)} / ${bytes(total)}`;
      const percent = total ? `  ${Math.floor((100 * downloaded) / total)}%` : "";
      process.stderr.write(`\r\x1b[2K${file}  ${amount}${percent}`);
    },
    finish() {
      if (drawn) process.stderr.write("\n");
      drawn = false;
    },
  };
}
