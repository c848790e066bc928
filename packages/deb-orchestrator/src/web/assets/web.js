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

// a running compose's page: its status and each phase's badge follow the hub's compose events
function watchCompose(el) {
  const source = new EventSource(`/api/v1/events/stream?type=compose&object=${encodeURIComponent(el.dataset.watchCompose)}`);
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
  const data = (event) => {
    try {
      return JSON.parse(event.data)?.data ?? {};
    } catch {
      return {};
    }
  };
  source.addEventListener("compose.phase", (event) => {
    const { phase, status } = data(event);
    if (typeof phase !== "string" || typeof status !== "string") return;
    const node = document.querySelector(`[data-phase="${CSS.escape(phase)}"]`);
    if (node) badge(node, status);
    changed();
  });
  source.addEventListener("compose.state", (event) => {
    const { status } = data(event);
    if (typeof status !== "string") return;
    badge(el, status);
    changed();
    if (status !== "STARTED") source.close();
  });
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
