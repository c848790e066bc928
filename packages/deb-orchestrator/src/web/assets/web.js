// deb-orchestrator web UI: the little that needs a script. Pages work without it (the log shows what
// was written when the page was rendered; actions are plain forms).

function followLog(pre) {
  const status = document.getElementById("log-status");
  const setStatus = (text, live) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("live", live);
  };
  const url = `${pre.dataset.stream}?offset=${encodeURIComponent(pre.dataset.offset || "0")}`;
  const source = new EventSource(url);
  let lines = Number(pre.dataset.lines || "0");
  source.addEventListener("open", () => setStatus("Following the log as it grows", true));
  source.addEventListener("chunk", (event) => {
    const text = JSON.parse(event.data);
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
    pre.append(document.createTextNode(text));
    lines += (text.match(/\n/g) || []).length;
    pre.dataset.lines = String(lines);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    source.close();
    const state = JSON.parse(event.data).state;
    setStatus(`The task is ${state}; the log is complete`, false);
    pre.dataset.ended = state;
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) setStatus("Disconnected; reload to follow again", false);
    else setStatus("Connection lost; reconnecting…", false);
  });
}

function watchTask(el) {
  const source = new EventSource(`/api/v1/events/stream?type=task&object=${encodeURIComponent(el.dataset.watchTask)}`);
  const onEvent = (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const state = data?.data?.state;
    if (!state) return;
    el.textContent = state;
    el.className = `state state-${state}`;
    const note = document.getElementById("task-changed");
    if (note) note.hidden = false;
    if (["closed", "failed", "canceled"].includes(state)) source.close();
  };
  for (const kind of ["task.state", "task.freed"]) source.addEventListener(kind, onEvent);
}

// formatDuration and formatTime (html.ts) and imageTaskLabel (pages/composes.ts) are the server's: the hub
// serves their source ahead of this file (web-ui.ts)

const SVG = "http://www.w3.org/2000/svg";
const timeOf = (value) => (value === undefined || value === "" ? null : Number(value));

// a phase's bar within the compose's time, as pages/composes.ts's phaseBar draws it
function timelineBar(name, status, started, completed, start, end) {
  const total = Math.max(end - start, 1);
  const x = Math.max(0, Math.min(100, ((started - start) / total) * 100));
  const width = Math.max(0.5, Math.min(100 - x, (((completed ?? end) - started) / total) * 100));
  const span = document.createElement("span");
  span.className = "timeline";
  span.setAttribute("role", "img");
  span.setAttribute("aria-label", `${name}: ${formatDuration((completed ?? end) - started)}`);
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 10");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  const rect = document.createElementNS(SVG, "rect");
  rect.setAttribute("class", `bar state-${status.replace(/[^a-z-]/g, "")}`);
  rect.setAttribute("x", x.toFixed(2));
  rect.setAttribute("width", width.toFixed(2));
  rect.setAttribute("height", "10");
  svg.append(rect);
  span.append(svg);
  return span;
}

// the phases' Started and Took cells and their timeline from the rows' times (data-started, data-completed);
// the timeline spans the compose's time and the phases' (a running one's bar ends now)
function drawPhases(now) {
  const section = document.getElementById("phases");
  if (!section) return;
  const rows = [...section.querySelectorAll("tr[id^=phase-]")];
  const times = rows.map((row) => ({ started: timeOf(row.dataset.started), completed: timeOf(row.dataset.completed) }));
  const start = Math.min(Number(section.dataset.start), ...times.flatMap((t) => (t.started === null ? [] : [t.started])));
  const end = Math.max(timeOf(section.dataset.end) ?? now, ...times.flatMap((t) => (t.completed === null ? [] : [t.completed])));
  rows.forEach((row, i) => {
    const { started, completed } = times[i];
    const [, badge, startedCell, tookCell, timelineCell] = row.cells;
    startedCell.textContent = started ? formatTime(started) : "";
    tookCell.textContent = started && completed ? formatDuration(completed - started) : "";
    const name = row.id.slice("phase-".length);
    const status = badge.querySelector("[data-phase]")?.textContent ?? "";
    timelineCell.replaceChildren(...(started === null ? [] : [timelineBar(name, status, started, completed, start, end)]));
  });
}

// a running compose's page: its status, each phase's badge, times and timeline follow the hub's compose
// events, and its image tasks (queued while it runs) their builders' task events; both streams start
// where the page ended
function watchCompose(el) {
  const after = encodeURIComponent(el.dataset.after || "0");
  const source = new EventSource(`/api/v1/events/stream?type=compose&object=${encodeURIComponent(el.dataset.watchCompose)}&after=${after}`);
  const tasks = watchImageTasks(after);
  const badge = (node, status) => {
    node.textContent = status;
    node.className = `state state-${status
      .toLowerCase()
      .replace(/_/g, "-")
      .replace(/[^a-z-]/g, "")}`;
  };
  const changed = () => {
    const note = document.getElementById("compose-changed");
    if (note) note.hidden = false;
  };
  // marks the page as following (a test waits for it before changing the compose)
  source.addEventListener("open", () => {
    el.dataset.live = "1";
  });
  const eventDoc = (event) => {
    try {
      return JSON.parse(event.data) ?? {};
    } catch {
      return {};
    }
  };
  const data = (event) => eventDoc(event).data ?? {};
  const time = (value) => (Number.isFinite(value) ? String(value) : "");
  source.addEventListener("compose.phase", (event) => {
    const { phase, status, startedAt, completedAt } = data(event);
    if (typeof phase !== "string" || typeof status !== "string") return;
    const node = document.querySelector(`[data-phase="${CSS.escape(phase)}"]`);
    if (node) badge(node, status);
    const row = document.getElementById(`phase-${phase}`);
    const log = row?.querySelector("a[hidden]");
    if (log && status !== "pending" && status !== "skipped") log.hidden = false;
    if (row) {
      row.dataset.started = time(startedAt);
      row.dataset.completed = time(completedAt);
    }
    drawPhases(Date.now());
    changed();
  });
  source.addEventListener("compose.task", (event) => {
    const { task, method, variant, arch } = data(event);
    if (Number.isInteger(task) && typeof variant === "string" && typeof arch === "string")
      tasks.add(task, imageTaskLabel(method, variant, arch));
  });
  source.addEventListener("compose.state", (event) => {
    const { status } = data(event);
    if (typeof status !== "string") return;
    badge(el, status);
    // the compose ended at its event's time: the Finished fact and the timeline's end
    const ended = eventDoc(event).time;
    if (status !== "STARTED" && Number.isFinite(ended)) {
      const section = document.getElementById("phases");
      const start = Number(section?.dataset.start);
      if (section) section.dataset.end = String(ended);
      const finished = document.getElementById("compose-finished");
      if (finished) {
        const took = document.createElement("span");
        took.className = "muted";
        took.textContent = `took ${formatDuration(ended - start)}`;
        finished.replaceChildren(`${formatTime(ended)} `, took);
      }
      drawPhases(ended);
    }
    changed();
    if (status !== "STARTED") {
      source.close();
      tasks.composeEnded();
    }
  });
}

const TERMINAL = ["closed", "failed", "canceled"];

// the compose page's image tasks: a row per task (links to the task and its live log), whose state
// and builder follow one stream of task events
function watchImageTasks(after) {
  const body = document.getElementById("image-tasks");
  let source = null;
  let ended = false;
  const rows = () => (body ? [...body.querySelectorAll("tr[id^=image-task-]")] : []);
  const finished = () => rows().every((row) => TERMINAL.includes(row.dataset.state));
  const stopWhenDone = () => {
    if (source && ended && finished()) source.close();
  };
  const onEvent = (event) => {
    let doc;
    try {
      doc = JSON.parse(event.data);
    } catch {
      return;
    }
    const state = doc?.data?.state;
    if (!Number.isInteger(doc?.objectId) || typeof state !== "string") return;
    const seen = { state, host: event.type === "task.freed" ? "" : doc.data.host };
    const row = document.getElementById(`image-task-${doc.objectId}`);
    // a task's events can come before the compose's stream names the task: kept until its row is added
    if (row) show(row, seen);
    else early.set(doc.objectId, { ...early.get(doc.objectId), ...seen, host: seen.host ?? early.get(doc.objectId)?.host });
  };
  const show = (row, { state, host }) => {
    row.dataset.state = state;
    const node = row.querySelector(".state");
    node.textContent = state;
    node.className = `state state-${state.replace(/[^a-z-]/g, "")}`;
    if (typeof host === "string") row.querySelector(".host").textContent = host;
    stopWhenDone();
  };
  const early = new Map();
  const follow = () => {
    if (source || !body) return;
    source = new EventSource(`/api/v1/events/stream?type=task&after=${after}`);
    for (const kind of ["task.state", "task.freed"]) source.addEventListener(kind, onEvent);
  };
  for (const row of rows()) row.dataset.state = row.querySelector(".state")?.textContent || "";
  if (rows().length && !finished()) follow();
  const cell = (content) => {
    const td = document.createElement("td");
    if (typeof content === "string") td.textContent = content;
    else td.append(content);
    return td;
  };
  const link = (href, text) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  };
  return {
    add(id, what) {
      if (!body || document.getElementById(`image-task-${id}`)) return;
      const row = document.createElement("tr");
      row.id = `image-task-${id}`;
      row.dataset.state = "free";
      const state = document.createElement("span");
      state.className = "state state-free";
      state.textContent = "free";
      const host = cell("");
      host.className = "host";
      row.append(
        cell(what),
        cell(link(`/tasks/${id}`, `#${id}`)),
        cell(state),
        host,
        cell(link(`/tasks/${id}/logs/${encodeURIComponent(body.dataset.log)}`, body.dataset.log)),
      );
      body.append(row);
      if (early.has(id)) show(row, early.get(id));
      body.closest(".table-wrap").hidden = false;
      const none = document.getElementById("image-tasks-none");
      if (none) none.hidden = true;
      follow();
    },
    composeEnded() {
      ended = true;
      stopWhenDone();
    },
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const pre of document.querySelectorAll("pre.log[data-stream]")) followLog(pre);
  for (const el of document.querySelectorAll("[data-watch-task]")) watchTask(el);
  for (const el of document.querySelectorAll("[data-watch-compose]")) watchCompose(el);
  for (const form of document.querySelectorAll("form[data-confirm]"))
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
});
