// While the server shuts down (SIGTERM, app.close()), requests in flight finish and every new one —
// e.g. on a kept-alive connection — gets 503 in the one error shape with Retry-After, and the
// connection closes, so a client or load balancer retries elsewhere. Replaces Fastify's own 503
// (return503OnClosing), which has neither.
import fp from "fastify-plugin";
import { ApiError } from "./errors.js";

/** Seconds a client should wait before retrying (another instance, or this one restarted). */
const RETRY_AFTER_SECONDS = 5;

export const shutdownPlugin = fp(
  async (app) => {
    let closing = false;
    app.addHook("preClose", async () => {
      closing = true;
    });
    app.addHook("onRequest", async (_request, reply) => {
      if (!closing) return;
      reply.header("connection", "close");
      throw new ApiError(503, "shutting_down", `the server is shutting down; retry in ${RETRY_AFTER_SECONDS} s`, { "retry-after": String(RETRY_AFTER_SECONDS) });
    });
  },
  { name: "shutdown", dependencies: ["errors"] },
);
