import { type CommandSpec, coreError, writeFileAtomic } from "@debian-bootc/core";
import { clientFor } from "../cli-support/client-config.js";
import { emit, table, when } from "../cli-support/render.js";

export const tokenCommand: CommandSpec = {
  name: "token",
  summary:
    "'token create USER': make an API token (shown once; only its hash is stored); 'token list USER'; 'token revoke ID': refuse it from now on.",
  args: [
    { name: "action", description: "create, list or revoke" },
    { name: "target", description: "user name (create, list) or token id (revoke)" },
  ],
  options: [
    { flags: "--label <text>", description: "what the token is for (create)" },
    { flags: "--output <file>", description: "write the token to this file (mode 0600) instead of printing it (create)" },
    {
      flags: "--expires <when>",
      description: "refuse the token from then on: a duration (90m, 12h, 30d) or a date (2027-01-31) (create; default: never)",
    },
  ],
  examples: [
    "deb-orchestrator token create builder-1 --output /etc/deb-orchestrator/builder.token",
    "deb-orchestrator token create alice --label laptop --expires 30d",
    "deb-orchestrator token list builder-1",
    "deb-orchestrator token revoke 7",
  ],
  async run(ctx) {
    const [action, target] = ctx.args as [string, string];
    const o = ctx.options as { label?: string; output?: string; expires?: string };
    if (!["create", "list", "revoke"].includes(action))
      throw coreError("USAGE", `unknown token action '${action}'; expected create, list or revoke`);
    const client = await clientFor(ctx, { needToken: true });
    if (action === "create") {
      const { token, id } = await client.createToken(target, {
        ...(o.label ? { label: o.label } : {}),
        ...(o.expires ? { expiresAt: expiryTime(o.expires, Date.now()) } : {}),
      });
      if (o.output) {
        await writeFileAtomic(o.output, `${token}\n`, 0o600);
        emit(ctx, { id, file: o.output }, () => `token ${id} for ${target} written to ${o.output}`);
      } else emit(ctx, { id, token }, () => token);
      return 0;
    }
    if (action === "list") {
      const tokens = await client.listTokens(target);
      emit(ctx, tokens, () =>
        table(
          ["id", "created", "expires", "revoked", "label"],
          tokens.map((t) => [
            t.id,
            when(t.createdAt),
            t.expiresAt === null ? "never" : when(t.expiresAt),
            t.revoked ? "yes" : "no",
            t.label,
          ]),
        ),
      );
      return 0;
    }
    if (!/^[0-9]{1,10}$/.test(target ?? ""))
      throw coreError("USAGE", `token revoke takes a token id (see 'token list USER'), not '${target}'`);
    const answer = await client.revokeToken(Number(target));
    emit(ctx, answer, () => `token ${answer.id} of ${answer.user} revoked`);
    return 0;
  },
};

/** `--expires`: a duration from now (90m, 12h, 30d) or a date or time (2027-01-31, 2027-01-31T12:00Z), as ms since the epoch. */
export function expiryTime(value: string, now: number): number {
  const duration = /^([1-9][0-9]{0,5})([mhd])$/.exec(value);
  if (duration?.[1] && duration[2])
    return now + Number(duration[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[duration[2] as "m" | "h" | "d"];
  const time = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time) || time <= now)
    throw coreError("USAGE", `--expires '${value.slice(0, 40)}': expected a duration (90m, 12h, 30d) or a future date (2027-01-31)`);
  return time;
}
