// Security headers on every answer (@fastify/helmet) and, when configured, CORS (@fastify/cors).
// The API answers JSON, /docs is Swagger UI, / is the web page with its own stricter policy
// (web/assets.ts PAGE_CSP, set on its HTML files); the policy here is the one /docs needs: this
// server's scripts and styles only, data: images (Swagger UI's icons), no framing.
import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import fp from "fastify-plugin";

/** Everything from this server; Swagger UI injects a <style> element at run time (style-src 'unsafe-inline', checked in test/web/headers.test.ts) and draws icons as data: URLs. */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  fontSrc: ["'self'", "data:"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  imgSrc: ["'self'", "data:", "blob:"],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  // Not helmet's default upgrade-insecure-requests: the service is often reached over plain HTTP on
  // a LAN or localhost, where upgrading the page's requests to https would break it.
  upgradeInsecureRequests: null,
};

/** Headers a browser may send cross-origin, and answers' headers it may read. */
const CORS_ALLOWED_HEADERS = ["authorization", "x-api-key", "content-type"];
const CORS_EXPOSED_HEADERS = ["retry-after", "location"];

export const securityPlugin = fp(
  async (app) => {
    const origins = app.services.config.corsOrigins;
    await app.register(helmet, {
      contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
      // With CORS on, the allowed origins' pages may also show its images (dataset item images).
      crossOriginResourcePolicy: { policy: origins.length > 0 ? "cross-origin" : "same-origin" },
      // X-Frame-Options: DENY, as frame-ancestors 'none' says to newer browsers.
      frameguard: { action: "deny" },
      // TLS is the reverse proxy's business: a Strict-Transport-Security sent here would pin every
      // subdomain of the host to HTTPS for a year.
      strictTransportSecurity: false,
    });
    if (origins.length > 0) {
      await app.register(cors, {
        origin: origins.includes("*") ? "*" : [...origins],
        methods: ["GET", "POST", "PATCH", "DELETE"],
        allowedHeaders: CORS_ALLOWED_HEADERS,
        exposedHeaders: CORS_EXPOSED_HEADERS,
        maxAge: 600,
      });
    }
  },
  { name: "security", dependencies: ["services"] },
);
