// `captioner serve [--config FILE] [--host H] [--port N] [--model NAME=SOURCE ...] [--redis URL]`:
// the HTTP service (PoC route + v1 API). Settings: file, then CAPTIONER_* variables, then flags.
import { Command } from "commander";
import { startServer } from "../api/server.js";
import { loadServerConfig } from "../serving/config.js";
import { intAtLeast, reportErrors } from "./common.js";

interface ServeFlags {
  config?: string;
  host?: string;
  port?: number;
  model: string[];
  redis?: string;
}

/** The `serve` sub-command. */
export function serveCommand(): Command {
  return new Command("serve")
    .description("run the captioning HTTP service (POST /image2caption/blip, /v1/*, docs at /docs)")
    .option("--config <file>", "JSON configuration file (default: $CAPTIONER_CONFIG)")
    .option("--host <host>", "address to listen on (default 0.0.0.0)")
    .option("--port <n>", "port to listen on (default 8000; 0 = any free port)", intAtLeast(0))
    .option("--model <name=source>", "serve a model: NAME=hub-repo-id[@revision] or NAME=folder (repeatable)", (v: string, all: string[]) => [...all, v], [])
    .option("--redis <url>", "caption through `captioner worker` processes on this Redis (redis://host:6379)")
    .action(
      reportErrors(async (flags: ServeFlags) => {
        const config = loadServerConfig({ file: flags.config, env: process.env, flags: { host: flags.host, port: flags.port, models: flags.model, redis: flags.redis } });
        const log = (message: string) => process.stderr.write(`captioner: ${message}\n`);
        await startServer(config, { log, handleSignals: true, logger: { level: process.env.CAPTIONER_LOG_LEVEL ?? "warn" } });
      }),
    );
}
