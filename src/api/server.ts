// Running the service: open the services, listen, load the models in the background (/readyz says
// when they are ready), and shut down gracefully on SIGINT/SIGTERM: stop accepting, finish the
// requests in flight, close the queue (queued jobs stay persisted), release the models.
import type { FastifyInstance, FastifyServerOptions } from "fastify";
import type { ServerConfig } from "../serving/config.js";
import { buildApp } from "./app.js";
import { redactedUrl } from "../serving/queue/index.js";
import { openServices, type Services, startJobHandlers } from "./services.js";
import { warmUpEnrichment } from "../enrich/index.js";

export interface RunningServer {
  app: FastifyInstance;
  services: Services;
  /** Where it listens, e.g. http://127.0.0.1:8000. */
  url: string;
  /** Resolves once every configured model has been tried (ready or failed). */
  modelsLoaded: Promise<void>;
  close(): Promise<void>;
}

export interface StartServerOptions {
  logger?: FastifyServerOptions["logger"];
  /** One line per start-up event (model loads, downloads, listening address). */
  log?: (message: string) => void;
  /** Install SIGINT/SIGTERM handlers that close the server (the CLI does). */
  handleSignals?: boolean;
}

/** Starts the server described by `config` and returns once it listens. */
export async function startServer(config: ServerConfig, opts: StartServerOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? (() => undefined);
  const services = await openServices(config, { log });
  const app = await buildApp({ services, logger: opts.logger });
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close());
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
  log(`listening on ${url} (${config.redisUrl ? `captioning through Redis workers at ${redactedUrl(config.redisUrl)}` : "captioning in this process"})`);
  // Jobs start once the models are loaded, unless the server is already stopping.
  // The colour and NLP code is compiled once, so the first request with features is not the slow
  // one — after the models, whose load (on this thread too) it would otherwise delay.
  const modelsLoaded = services.registry
    .loadAll()
    .then(() => {
      if (closing) return undefined;
      const handlers = startJobHandlers(services);
      try {
        warmUpEnrichment();
      } catch (error) {
        log(`could not warm up the enrichment code: ${(error as Error).message}`);
      }
      return handlers;
    })
    .catch((error: Error) => log(`could not start the job handlers: ${error.message}`));
  if (opts.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      log(`${signal}: finishing requests in flight, then stopping`);
      close().then(
        () => log("stopped"),
        (error: Error) => {
          log(`error while stopping: ${error.message}`);
          process.exitCode = 1;
        },
      );
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  }
  return { app, services, url, modelsLoaded, close };
}
