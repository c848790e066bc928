import type { FastifyPluginAsync } from "fastify";
import { createToken, createUser, grant, listTokens, listUsers, revokeToken, setUserDisabled } from "../catalog/users.js";
import type { HubContext } from "../context.js";
import { caller } from "../http/auth-hooks.js";
import { contractRoutes } from "../http/contract-route.js";

/** Who the caller is, users, their permissions and API tokens. */
export const identityRoutes: FastifyPluginAsync<{ ctx: HubContext }> = async (app, { ctx }) => {
  const route = contractRoutes(app);
  route("whoami", async (request) => ({
    name: caller(request).name,
    perms: [...caller(request).perms].sort(),
  }));

  route("listUsers", async () => listUsers(ctx.db));
  route<{ Body: { name: string; perms?: string[] } }>("createUser", async (request, reply) =>
    reply.status(201).send({ id: await createUser(ctx, caller(request), request.body.name, request.body.perms) }),
  );
  route<{ Params: { name: string }; Body: { perm: string; revoke?: boolean } }>("grantPermission", async (request) => {
    await grant(ctx, caller(request), request.params.name, request.body.perm, request.body.revoke === true);
    return { ok: true };
  });
  route<{ Params: { name: string }; Body: { label?: string; expiresAt?: number } }>("createToken", async (request, reply) =>
    reply
      .status(201)
      .send(await createToken(ctx, caller(request), request.params.name, request.body?.label ?? "", request.body?.expiresAt ?? null)),
  );

  route<{ Params: { name: string } }>("listTokens", async (request) => listTokens(ctx, caller(request), request.params.name));
  route<{ Params: { id: number } }>("revokeToken", async (request) => ({
    ok: true,
    ...(await revokeToken(ctx, caller(request), request.params.id)),
  }));
  for (const [id, disabled] of [
    ["disableUser", true],
    ["enableUser", false],
  ] as const)
    route<{ Params: { name: string } }>(id, async (request) => setUserDisabled(ctx, caller(request), request.params.name, disabled));
};
