// `captioner serve` as a child process on a free port, for tests that kill and restart the server.
import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { blipCaseDir, repoRoot } from "./golden.js";

const cli = path.join(repoRoot, "dist/src/cli/main.js");

/** Starts the server with the golden model as `blip` and data in `home`; resolves with its URL once it listens. */
export function serveProcess(home: string, model = blipCaseDir("base_like_32px")): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [cli, "serve", "--host", "127.0.0.1", "--port", "0", "--model", `blip=${model}`], { env: { ...process.env, CAPTIONER_HOME: home, HF_HUB_OFFLINE: "1" } });
  let log = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGKILL"), reject(new Error(`serve did not start:\n${log}`))), 30_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (m) (clearTimeout(timer), resolve({ url: m[1]!, child }));
    });
  });
}
