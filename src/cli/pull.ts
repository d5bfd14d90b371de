// `captioner pull REPO_ID [--revision REV]`: download a model into the Hugging Face cache and print
// its snapshot folder. Settings come from HF_HOME / HF_HUB_CACHE / HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE.
import { Command } from "commander";
import { DEFAULT_REVISION, downloadModel, HubError } from "../serving/hub/index.js";

/** The `pull` sub-command. */
export function pullCommand(): Command {
  return new Command("pull")
    .description("download a model (Hugging Face repo id, e.g. Salesforce/blip-image-captioning-base) into the HF cache")
    .argument("<model>", "Hugging Face repo id org/name (model names from the server config are not supported yet)")
    .option("--revision <rev>", "branch, tag or commit hash", DEFAULT_REVISION)
    .action(async (model: string, flags: { revision: string }, command: Command) => {
      const progress = process.stderr.isTTY ? progressLine() : undefined;
      try {
        const snapshot = await downloadModel(model, { revision: flags.revision, onProgress: progress?.update });
        progress?.finish();
        process.stdout.write(`${snapshot}\n`);
      } catch (error) {
        progress?.finish();
        if (error instanceof HubError) command.error(`error: ${error.message}`, { exitCode: 1 });
        throw error;
      }
    });
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
