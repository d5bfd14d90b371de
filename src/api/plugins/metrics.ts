// Prometheus metrics: request latency, queue depth, batch sizes, model calls, generated tokens
// (and tokens/s of the last batch), model load time; served at GET /metrics. Each app has its own
// prom-client registry, so several apps in one process (tests) do not collide.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface ServiceMetrics {
  registry: Registry;
  modelCalls: Counter<"model">;
  batchImages: Histogram<"model">;
}

declare module "fastify" {
  interface FastifyInstance {
    metrics: ServiceMetrics;
  }
}

export const metricsPlugin = fp(
  async (app: FastifyInstance) => {
    const registry = new Registry();
    const { captions, registry: models } = app.services;
    const latency = new Histogram({
      name: "captioner_http_request_duration_seconds",
      help: "HTTP request latency by route and status",
      labelNames: ["method", "route", "status_code"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
    new Gauge({
      name: "captioner_queue_depth",
      help: "caption requests waiting or running (embedded batcher, or the Redis queue's jobs)",
      registers: [registry],
      async collect() {
        this.set(await captions.depth().catch(() => 0));
      },
    });
    const batchImages = new Histogram({ name: "captioner_batch_size", help: "images per model call", labelNames: ["model"], buckets: [1, 2, 4, 8, 16, 32, 64], registers: [registry] });
    const modelCalls = new Counter({ name: "captioner_model_calls_total", help: "model calls (batches) run", labelNames: ["model"], registers: [registry] });
    const batchSeconds = new Histogram({ name: "captioner_batch_duration_seconds", help: "time per model call", labelNames: ["model"], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry] });
    const tokens = new Counter({ name: "captioner_generated_tokens_total", help: "generated tokens; rate() of this is tokens/s", labelNames: ["model"], registers: [registry] });
    const tokensPerSecond = new Gauge({ name: "captioner_generated_tokens_per_second", help: "generated tokens per second in the last model call", labelNames: ["model"], registers: [registry] });
    const loadSeconds = new Gauge({ name: "captioner_model_load_seconds", help: "seconds the last load of a model took", labelNames: ["model"], registers: [registry] });
    new Gauge({
      name: "captioner_model_ready",
      help: "1 when the model is ready to caption",
      labelNames: ["model"],
      registers: [registry],
      collect() {
        for (const s of models.statuses()) this.set({ model: s.name }, s.state === "ready" || s.state === "remote" ? 1 : 0);
      },
    });

    for (const s of models.statuses()) if (s.loadSeconds !== null) loadSeconds.set({ model: s.name }, s.loadSeconds);
    models.onLoad((model, seconds) => loadSeconds.set({ model }, seconds));
    // Either mode reports its model calls here: the batcher's, or the workers' that come back with each job.
    captions.onBatch((b) => {
      modelCalls.inc({ model: b.model });
      batchImages.observe({ model: b.model }, b.images);
      batchSeconds.observe({ model: b.model }, b.seconds);
      tokens.inc({ model: b.model }, b.generatedTokens);
      if (b.seconds > 0) tokensPerSecond.set({ model: b.model }, b.generatedTokens / b.seconds);
    });

    app.decorate("metrics", { registry, modelCalls, batchImages });
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? "unmatched";
      latency.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
    app.get(
      "/metrics",
      {
        onRequest: app.authorize("public"),
        schema: { tags: ["health"], summary: "Prometheus metrics (text exposition format)", produces: ["text/plain"], response: { 200: { type: "string" } } },
      },
      async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()),
    );
  },
  { name: "metrics", dependencies: ["services", "auth"] },
);
