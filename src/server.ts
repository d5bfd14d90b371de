// `captioner/server`: the HTTP service as a library (`buildApp()` never listens; `captioner serve` does).
//
//   import { buildApp, loadServerConfig, openServices } from "captioner/server";
//   const services = await openServices(loadServerConfig({ env: process.env }));
//   const app = await buildApp({ services });
//   await app.listen({ port: 8000 });
export { buildApp, type AppOptions } from "./api/app.js";
export { openServices, startJobHandlers, type Services } from "./api/services.js";
export { loadServerConfig, type ServerConfig, type ServerLimits } from "./serving/config.js";
