import { describeTag, latestTagged } from "../../hub/catalog/tags.js";
import { listExternalRepos, listTargets } from "../../hub/catalog/targets.js";
import { groupFingerprint, keyFingerprint } from "../fingerprint.js";
import { externalLink, formatTime, html, join, path, type SafeHtml, timeAgo } from "../html.js";
import { actionForm, can, layout, type PageContext, pager, stateBadge, table, tagLink } from "../layout.js";
import { type InheritanceNode, readExternalRepoUse, readInheritance, readRepoResults, readRepos, readTags } from "../read.js";
import { intParam, strParam, type WebEnv } from "./common.js";

export async function tagsPage(env: WebEnv, pc: PageContext): Promise<string> {
  const tags = await readTags(env.db);
  const rows = tags.map(
    (t) =>
      html`<tr><td>${tagLink(t.name)}</td><td>${t.arches}</td><td>${t.parents.length ? join(t.parents.map(tagLink), ", ") : html`<span class="muted">–</span>`}</td><td class="opt">${
        t.children.length ? join(t.children.map(tagLink), ", ") : ""
      }</td><td class="num">${t.tagged}</td><td>${t.repo ? html`<a href="${path`/repos/${t.name}/latest/`}">#${t.repo.number}</a> ${timeAgo(t.repo.created_at, pc.now)}` : html`<span class="muted">none</span>`}</td></tr>`,
  );
  const body = html`<h1>Tags</h1>${table(
    ["Tag", "Arches", "Inherits from", ["Inherited by", "opt"], ["Tagged builds", "num"], "Repository"],
    rows,
    "No tags yet.",
  )}`;
  return layout(pc, { title: "Tags", nav: "tags", body });
}

/** The inheritance graph above a tag, drawn as boxes joined by arrows (child → parent), parents in priority order. */
export function inheritanceSvg(root: InheritanceNode): SafeHtml {
  interface Placed {
    node: InheritanceNode;
    depth: number;
    row: number;
    parentRow?: number;
  }
  const placed: Placed[] = [];
  const walk = (node: InheritanceNode, depth: number, parentRow?: number) => {
    const me = { node, depth, row: placed.length, parentRow };
    placed.push(me);
    for (const parent of node.parents) walk(parent, depth + 1, me.row);
  };
  walk(root, 0);
  const rowH = 42;
  const boxH = 28;
  const indent = 34;
  const charW = 7.6;
  const labelOf = (n: InheritanceNode) => `${n.name}${n.repeated ? " (see above)" : ""}`;
  const boxW = (n: InheritanceNode) => Math.max(80, labelOf(n).length * charW + 24);
  const width = Math.max(...placed.map((p) => 10 + p.depth * indent + boxW(p.node) + 90));
  const height = placed.length * rowH + 6;
  const parts: SafeHtml[] = [];
  for (const p of placed) {
    const x = 10 + p.depth * indent;
    const y = 6 + p.row * rowH;
    if (p.parentRow !== undefined) {
      const from = placed[p.parentRow]!;
      const fx = 10 + from.depth * indent + 14;
      const fy = 6 + from.row * rowH + boxH;
      const ty = y + boxH / 2;
      parts.push(
        html`<path class="edge" d="M${fx} ${fy} V${ty} H${x - 6}"/><path class="arrow" d="M${x} ${ty} l-7 -4 v8 z"/><text class="prio" x="${x + boxW(p.node) + 8}" y="${ty + 4}">priority ${p.node.priority}</text>`,
      );
    }
    const label = labelOf(p.node);
    parts.push(
      html`<a href="${path`/tags/${p.node.name}`}"><rect class="box${p.row === 0 ? " self" : ""}" x="${x}" y="${y}" width="${boxW(p.node)}" height="${boxH}" rx="6"/><text x="${x + 12}" y="${y + 18}">${label}</text></a>`,
    );
  }
  return html`<svg class="chain" viewBox="0 0 ${Math.ceil(width)} ${height}" width="${Math.ceil(width)}" height="${height}" role="img" aria-label="Inheritance of ${root.name}: ${placed
    .map((p) => p.node.name)
    .join(" → ")}">${parts}</svg>`;
}

export async function tagPage(env: WebEnv, pc: PageContext, name: string): Promise<string | undefined> {
  const row = await env.db.selectFrom("tags").select("id").where("name", "=", name).executeTakeFirst();
  if (!row) return undefined;
  const [tag, tree, latest, repos, targets, children] = await Promise.all([
    describeTag(env.db, name),
    readInheritance(env.db, row.id),
    latestTagged(env.db, row.id),
    readRepos(env.db, name, 1),
    listTargets(env.db),
    env.db
      .selectFrom("tag_inheritance")
      .innerJoin("tags", "tags.id", "tag_inheritance.tag_id")
      .select("tags.name")
      .where("tag_inheritance.parent_id", "=", row.id)
      .orderBy("tags.name")
      .execute(),
  ]);
  const usedBy = targets.filter((t) => t.buildTag === name || t.destTag === name);
  const actions = can(pc, "repo")
    ? html`<div class="actions">${actionForm(pc, path`/tags/${name}/regen`, "Regenerate repository")}</div>`
    : "";
  const buildRows = latest
    .slice(0, 200)
    .map(
      (b) =>
        html`<tr><td><a href="${path`/packages/${b.name}`}">${b.name}</a></td><td><a href="${path`/builds/${b.buildId}`}">${b.version}</a></td><td>${
          b.tag === name ? html`<span class="muted">this tag</span>` : tagLink(b.tag)
        }</td><td class="opt">${timeAgo(b.taggedAt, pc.now)}</td></tr>`,
    );
  const repoRows = repos.rows
    .slice(0, 10)
    .map(
      (r) =>
        html`<tr><td>${r.state === "ready" || r.state === "expired" ? html`<a href="${path`/repos/${name}/${r.number}/`}">#${r.number}</a>` : `#${r.number}`}</td><td>${stateBadge(r.state)}</td><td>${formatTime(
          r.created_at,
        )}</td></tr>`,
    );
  const body = html`<h1>Tag ${name}</h1>${actions}
<div class="grid2"><section><h2>Inheritance</h2>${inheritanceSvg(tree)}<p class="muted">Builds are looked up in this order: ${tag.inheritance.join(" → ")}.${
    children.length
      ? html` Inherited by ${join(
          children.map((c) => tagLink(c.name)),
          ", ",
        )}.`
      : ""
  }</p></section>
<section><h2>Settings</h2><dl class="facts"><dt>Arches</dt><dd>${tag.arches.join(" ")}</dd><dt>External repos</dt><dd>${
    tag.externalRepos.length ? tag.externalRepos.join(", ") : html`<span class="muted">none</span>`
  }</dd><dt>Targets</dt><dd>${
    usedBy.length
      ? join(
          usedBy.map((t) => html`${t.name} (${t.buildTag === name ? "build tag" : "destination"})`),
          ", ",
        )
      : html`<span class="muted">none</span>`
  }</dd><dt>Repository</dt><dd>${
    tag.repo
      ? html`<a href="${path`/repos/${name}/latest/`}">/repos/${name}/latest/</a> (#${tag.repo.number}, ${formatTime(tag.repo.createdAt)})`
      : html`<span class="muted">not generated yet</span>`
  }</dd></dl>
<h3>Recent snapshots</h3>${table(["Snapshot", "State", "Created"], repoRows, "None yet.")}<p><a href="${`/repositories?tag=${encodeURIComponent(name)}`}">All snapshots →</a></p></section></div>
<section><h2>Latest builds (with inheritance)</h2>${table(["Package", "Version", "From tag", ["Tagged", "opt"]], buildRows, "No builds in this tag.")}${
    latest.length > 200 ? html`<p class="muted">Showing 200 of ${latest.length}.</p>` : ""
  }</section>`;
  return layout(pc, { title: `Tag ${name}`, nav: "tags", body });
}

export async function targetsPage(env: WebEnv, pc: PageContext): Promise<string> {
  const targets = await listTargets(env.db);
  const rows = targets.map((t) => html`<tr><td>${t.name}</td><td>${tagLink(t.buildTag)}</td><td>${tagLink(t.destTag)}</td></tr>`);
  const body = html`<h1>Targets</h1><p class="muted">A build for a target is made in its build tag's environment and tagged into its destination tag.</p>${table(
    ["Target", "Build tag", "Destination tag"],
    rows,
    "No targets yet.",
  )}`;
  return layout(pc, { title: "Targets", nav: "targets", body });
}

export async function externalReposPage(env: WebEnv, pc: PageContext): Promise<string> {
  const [repos, use] = await Promise.all([listExternalRepos(env.db), readExternalRepoUse(env.db)]);
  const rows = repos.map(
    (r) =>
      html`<tr><td>${r.name}</td><td>${externalLink(r.url)}</td><td>${r.suite}</td><td>${r.components.join(" ")}</td><td>${join(
        (use.get(r.name) ?? []).map(tagLink),
        ", ",
      )}</td></tr>`,
  );
  const body = html`<h1>External repositories</h1>${table(["Name", "URL", "Suite", "Components", "Used by tags"], rows, "No external repositories.")}`;
  return layout(pc, { title: "External repositories", nav: "external-repos", body });
}

export async function repositoriesPage(env: WebEnv, pc: PageContext, q: Record<string, unknown>): Promise<string> {
  const tag = strParam(q.tag, 64);
  const page = intParam(q.page, 1);
  const [repos, fingerprint] = await Promise.all([readRepos(env.db, tag, page), keyFingerprint(env.repoPublicKey)]);
  const results = await readRepoResults(
    env.db,
    repos.rows.map((r) => r.task_id).filter((id): id is number => id !== null),
  );
  const rows = repos.rows.map((r) => {
    const result = r.task_id === null ? undefined : results.get(r.task_id);
    return html`<tr><td>${tagLink(r.tag)}</td><td>${r.state === "ready" || r.state === "expired" ? html`<a href="${path`/repos/${r.tag}/${r.number}/`}">#${r.number}</a>` : `#${r.number}`}</td><td>${stateBadge(
      r.state,
    )}</td><td>${formatTime(r.created_at)}</td><td class="num">${result?.packages ?? ""}</td><td>${
      result?.signed === undefined ? "" : result.signed ? "signed" : html`<span class="muted">unsigned</span>`
    }</td><td class="opt">${r.task_id === null ? "" : html`<a href="${path`/tasks/${r.task_id}`}">#${r.task_id}</a>`}</td></tr>`;
  });
  const key = fingerprint
    ? html`<p>Snapshots are signed with the OpenPGP key <code>${groupFingerprint(fingerprint)}</code> (<a href="/repos/key.asc">key.asc</a>).</p>`
    : html`<p class="muted">This hub does not sign its repositories.</p>`;
  const body = html`<h1>Repositories${tag ? html` of ${tagLink(tag)}` : ""}</h1>${key}<p class="muted">Each regeneration of a tag writes an immutable numbered snapshot; <code>/repos/TAG/latest/</code> points at the newest ready one.</p>${table(
    ["Tag", "Snapshot", "State", "Created", ["Packages", "num"], "Signature", ["Task", "opt"]],
    rows,
    "No repository has been generated yet.",
  )}${pager("/repositories", { tag }, repos.page, repos.hasNext)}`;
  return layout(pc, { title: "Repositories", nav: "repositories", body });
}
