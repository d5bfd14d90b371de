// A body whose declared Content-Length is more than its route can accept is refused with 413 before
// a byte of it is read (measured before: a multipart request declaring 10^12 bytes got no answer, as
// multipart bodies are only counted while they stream). The connection closes: nothing more is read.
import fp from "fastify-plugin";
import { ApiError } from "./errors.js";

/** Room for the multipart framing and option fields around the files. */
const MULTIPART_OVERHEAD = 1024 * 1024;

export const declaredLengthPlugin = fp(
  async (app) => {
    const limits = app.services.config.limits;
    // A multipart upload is at most every image at its size limit plus framing; JSON bodies have the route's bodyLimit.
    const multipartMax = limits.maxImagesPerRequest * limits.maxUploadBytes + MULTIPART_OVERHEAD;
    const multipartRule = `at most ${limits.maxImagesPerRequest} images of ${limits.maxUploadBytes} bytes each, maxImagesPerRequest × maxUploadBytes`;
    app.addHook("onRequest", async (request, reply) => {
      const header = request.headers["content-length"];
      if (header === undefined) return;
      const declared = Number(header);
      // (request.isMultipart exists only where the multipart plugin is registered: read the header.)
      const multipart = /^multipart\//i.test(request.headers["content-type"] ?? "");
      const limit = Math.max(request.routeOptions.bodyLimit ?? 0, multipart ? multipartMax : 0);
      if (!Number.isFinite(declared) || declared <= limit) return;
      reply.header("connection", "close");
      // The JSON routes say their own rule (routes/input.ts jsonBody); a route without one takes a request's.
      const rule = multipart ? multipartRule : (request.routeOptions.config.bodyRule ?? multipartRule);
      throw new ApiError(413, "body_too_large", `the request declares ${declared} bytes, more than this route accepts (${limit} bytes: ${rule}); send fewer or smaller images`);
    });
  },
  { name: "declared-length", dependencies: ["services", "errors"] },
);
