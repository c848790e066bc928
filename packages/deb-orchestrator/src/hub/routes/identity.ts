import type { FastifyPluginAsync } from "fastify";
import { createToken, createUser, grant, listTokens, listUsers, revokeToken, setUserDisabled } from "../catalog/users.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";

/** Who the caller is, users, their permissions and API tokens. */
export const identityRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  app.get("/api/v1/whoami", { config: { perm: "any", summary: "The token's user and permissions" } }, async (request) => ({
    name: caller(request).name,
    perms: [...caller(request).perms].sort(),
  }));

  app.get("/api/v1/users", { config: { perm: "admin", summary: "List users" } }, async () => listUsers(ctx.db));
  app.post<{ Body: { name: string; perms?: string[] } }>(
    "/api/v1/users",
    {
      config: { perm: "admin", summary: "Create a user" },
    },
    async (request, reply) => reply.status(201).send({ id: await createUser(ctx, caller(request), request.body.name, request.body.perms) }),
  );
  app.post<{ Params: { name: string }; Body: { perm: string; revoke?: boolean } }>(
    "/api/v1/users/:name/permissions",
    {
      config: { perm: "admin", summary: "Grant (or revoke) a permission" },
    },
    async (request) => {
      await grant(ctx, caller(request), request.params.name, request.body.perm, request.body.revoke === true);
      return { ok: true };
    },
  );
  app.post<{ Params: { name: string }; Body: { label?: string; expiresAt?: number } }>(
    "/api/v1/users/:name/tokens",
    {
      config: { perm: "any", summary: "Create an API token (shown once); expiresAt (ms since the epoch) ends it" },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(await createToken(ctx, caller(request), request.params.name, request.body?.label ?? "", request.body?.expiresAt ?? null)),
  );

  app.get<{ Params: { name: string } }>(
    "/api/v1/users/:name/tokens",
    {
      config: { perm: "any", summary: "A user's API tokens (id, label, times, revoked; never the token)" },
    },
    async (request) => listTokens(ctx, caller(request), request.params.name),
  );
  app.post<{ Params: { id: number } }>(
    "/api/v1/tokens/:id/revoke",
    { config: { perm: "any", summary: "Revoke an API token (its owner or an admin); refused from now on" } },
    async (request) => ({ ok: true, ...(await revokeToken(ctx, caller(request), request.params.id)) }),
  );
  for (const [verb, disabled] of [
    ["disable", true],
    ["enable", false],
  ] as const)
    app.post<{ Params: { name: string } }>(
      `/api/v1/users/:name/${verb}`,
      {
        config: {
          perm: "admin",
          summary: disabled
            ? "Disable a user: its tokens are refused and its builders' tasks freed (not the last admin)"
            : "Enable a disabled user again",
        },
      },
      async (request) => setUserDisabled(ctx, caller(request), request.params.name, disabled),
    );
};
