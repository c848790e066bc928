import { hostLoads, isOnline } from "../../hub/hosts.js";
import { html, path, timeAgo } from "../html.js";
import { layout, meter, type PageContext, stateBadge, table, taskLink } from "../layout.js";
import { allHosts } from "../read.js";
import { taskSubject, type WebEnv } from "./common.js";

export async function hostsPage(env: WebEnv, pc: PageContext): Promise<string> {
  const [hosts, loads, running] = await Promise.all([
    allHosts(env.db),
    hostLoads(env.db),
    env.db.selectFrom("tasks").selectAll().where("state", "in", ["assigned", "open"]).orderBy("id").limit(500).execute(),
  ]);
  const sections = hosts.map((h) => {
    const load = loads.get(h.id) ?? 0;
    const up = isOnline(env, h.last_checkin, pc.now);
    const mine = running.filter((t) => t.host_id === h.id);
    return html`<section id="${`host-${h.name}`}"><h2>${h.name} ${
      h.enabled
        ? up
          ? html`<span class="dot-online">● online</span>`
          : html`<span class="dot-offline">● offline</span>`
        : html`<span class="muted">disabled</span>`
    }</h2><dl class="facts"><dt>Arches</dt><dd>${h.arches}</dd><dt>Load</dt><dd>${meter(load, h.capacity, `${load} of ${h.capacity} slots`)} ${load} of ${h.capacity} slot(s); the builder reports load ${h.load}</dd><dt>Last check-in</dt><dd>${timeAgo(
      h.last_checkin,
      pc.now,
    )}</dd></dl>${table(
      ["Task", "What", "State", "Since"],
      mine.map(
        (t) =>
          html`<tr><td>${taskLink(t)}</td><td>${taskSubject(t)}</td><td>${stateBadge(t.state)}</td><td>${timeAgo(t.started_at ?? t.created_at, pc.now)}</td></tr>`,
      ),
      "Idle.",
    )}</section>`;
  });
  const body = html`<h1>Hosts</h1><p class="muted">Builders are online when they checked in within ${Math.round((2 * env.leaseMs) / 1000)} s.</p>${
    sections.length ? sections : html`<p class="muted">No builder has checked in yet.</p>`
  }<p><a href="${path`/tasks`}?state=open">All running tasks →</a></p>`;
  return layout(pc, { title: "Hosts", nav: "hosts", body });
}
