// Roles: with no API key in the store, captioning is open (as in the PoC) and contributor and admin
// routes are refused; once keys exist, a route needs a key of its role or a more privileged one
// (user < contributor < admin).
// Keys come as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from "fastify";
import fp from "fastify-plugin";
import { keyFromHeaders, roleAllows } from "../../serving/auth.js";
import { ApiError } from "./errors.js";

/** Who may call a route. */
export type Access = "public" | "user" | "contributor" | "admin";

declare module "fastify" {
  interface FastifyInstance {
    /** The onRequest hook a route uses to require `access`. */
    authorize(access: Access): onRequestAsyncHookHandler;
  }
}

const CHALLENGE = { "www-authenticate": 'Bearer realm="captioner"' };

/** The OpenAPI `security` of a route with this access. */
export function security(access: Access): { [scheme: string]: string[] }[] {
  return access === "public" ? [] : [{ bearerAuth: [] }, { apiKeyHeader: [] }];
}

export const authPlugin = fp(
  async (app: FastifyInstance) => {
    const keys = app.services.keys;
    const check = async (request: FastifyRequest, access: Access) => {
      if (access === "public") return;
      const configured = keys.count() > 0;
      if (!configured) {
        if (access === "admin") throw new ApiError(403, "no_admin_keys", "admin routes are disabled: no admin keys configured; create one with `captioner keys create --role admin`");
        if (access === "contributor") throw new ApiError(403, "no_contributor_keys", "dataset routes are disabled: no keys configured; create one with `captioner keys create --role contributor` (or admin)");
        return; // open captioning, as in the proof of concept
      }
      const key = keyFromHeaders(request.headers);
      if (!key) throw new ApiError(401, "missing_api_key", "this server needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`", CHALLENGE);
      const info = keys.verify(key);
      if (!info) throw new ApiError(401, "invalid_api_key", "the API key is unknown or revoked; ask the server's admin for a key (`captioner keys create`)", CHALLENGE);
      if (!roleAllows(info.role, access)) {
        const [code, needs] = access === "admin" ? ["admin_only", "an admin key"] : ["contributor_only", "a contributor or admin key"];
        throw new ApiError(403, code, `this route needs ${needs}; your key has the ${info.role} role`);
      }
      request.apiKey = info;
    };
    app.decorate("authorize", (access: Access) => async (request: FastifyRequest) => check(request, access));
  },
  { name: "auth", dependencies: ["services", "errors"] },
);
