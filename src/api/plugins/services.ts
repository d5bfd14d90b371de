// Exposes the shared infrastructure (config, registry, queue, caption service, keys) to every
// route plugin as `app.services`, and closes it with the app.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import type { ApiKeyInfo } from "../../serving/auth.js";
import { closeServices, type Services } from "../services.js";

declare module "fastify" {
  interface FastifyInstance {
    services: Services;
  }
  interface FastifyRequest {
    /** The verified API key of this request (null: none, or none needed). */
    apiKey: ApiKeyInfo | null;
  }
}

export const servicesPlugin = fp(
  async (app: FastifyInstance, opts: { services: Services; closeWithApp: boolean }) => {
    app.decorate("services", opts.services);
    app.decorateRequest("apiKey", null);
    if (opts.closeWithApp) app.addHook("onClose", async () => closeServices(opts.services));
  },
  { name: "services" },
);
