// stackup ui: the page. Every string from the stack or the engine is inserted as text
// (textContent, text nodes), never as HTML; the server's CSP allows no inline script.
"use strict";

(function () {
  const body = document.body;
  const csrf = body.dataset.csrf;
  const readOnly = body.dataset.readOnly === "true";
  const $ = (id) => document.getElementById(id);
  const MAX_LOG_LINES = 2000;
  let shown = null; // the view on the page: its plan, fingerprint and plan id
  let logSource = null;
  let refreshing = null;
  let followed = ""; // the containers (ids and states) the logs view follows

  // Where an apply reports (its notice, progress and confirmation boxes): the plan's Apply,
  // or a Rollback of the history view. The stream's progress goes to the one last started.
  const APPLY = {
    path: "/api/apply",
    button: "apply",
    notice: "notice",
    progress: "progress",
    confirm: "confirm",
    confirmText: "confirm-text",
    stale: "The plan is stale: ",
    body: (b) => ({ fingerprint: b.dataset.fingerprint, plan_id: b.dataset.planId }),
    again: () => refresh(),
  };
  const ROLLBACK = {
    path: "/api/rollback",
    button: "rollback-apply",
    notice: "rollback-notice",
    progress: "rollback-progress",
    confirm: "rollback-confirm",
    confirmText: "rollback-confirm-text",
    stale: "The rollback plan is stale: ",
    body: (b) => ({ release: Number(b.dataset.release), fingerprint: b.dataset.fingerprint, plan_id: b.dataset.planId }),
    again: () => previewRollback(Number($("rollback-apply").dataset.release), true),
  };
  let active = APPLY;

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function notice(text, kind, where) {
    const box = $(where || "notice");
    box.textContent = text;
    box.className = "notice" + (kind ? " " + kind : "");
    box.hidden = !text;
  }

  async function getJSON(path) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok && !data.error) data.error = "HTTP " + response.status;
    return data;
  }

  function renderServices(rows) {
    const tbody = $("services").tBodies[0];
    tbody.replaceChildren();
    for (const row of rows) {
      const tr = el("tr");
      tr.dataset.service = row.service;
      tr.append(el("td", row.service), el("td", row.name));
      tr.append(el("td", row.state, "state-" + String(row.state).replace(/[^a-z]/g, "")));
      tr.append(el("td", row.health || "–"));
      const ports = el("td");
      (row.ports || []).forEach((port, i) => {
        if (i) ports.append(document.createTextNode(", "));
        const link = (row.links || [])[i];
        if (link && /^http:\/\/127\.0\.0\.1:\d+\/$/.test(link)) {
          const a = el("a", port);
          a.href = link;
          a.target = "_blank";
          a.rel = "noopener noreferrer";
          ports.append(a);
        } else {
          ports.append(document.createTextNode(port));
        }
      });
      tr.append(ports, el("td", row.image));
      tbody.append(tr);
    }
  }

  function renderLogChoices(services) {
    const select = $("log-service");
    const current = select.value;
    if ([...select.options].map((o) => o.value).join() !== services.join()) {
      select.replaceChildren(...services.map((s) => el("option", s)));
      for (const o of select.options) o.value = o.textContent;
      if (services.includes(current)) select.value = current;
      followLogs();
    }
  }

  function renderPlan(view) {
    $("plan").textContent = view.text;
    $("plan").dataset.fingerprint = view.plan.fingerprint;
    const apply = $("apply");
    apply.dataset.fingerprint = view.plan.fingerprint;
    apply.dataset.planId = view.plan_id;
    apply.disabled = readOnly || !view.plan.changes || view.plan.blockers.length > 0;
  }

  async function refresh() {
    // One refresh at a time; a change during one is caught by the next.
    if (refreshing) return refreshing.then(refresh);
    refreshing = (async () => {
      const view = await getJSON("/api/view");
      $("project").textContent = view.project || "";
      if (view.error) {
        $("plan").textContent = view.error;
        $("apply").disabled = true;
        shown = null;
        return;
      }
      shown = view;
      renderServices(view.services);
      renderLogChoices([...view.plan.services].sort());
      renderPlan(view);
      // A container of the followed service created, recreated or started: follow it anew.
      const service = $("log-service").value;
      const now = view.services.filter((r) => r.service === service).map((r) => r.id + r.state).join();
      if (now !== followed) followLogs();
      body.dataset.version = String(view.version);
    })();
    try {
      await refreshing;
    } finally {
      refreshing = null;
    }
    loadGraph();
    loadLint();
    loadHistory();
  }

  async function apply(action, confirmed) {
    const button = $(action.button);
    const say = (text, kind) => notice(text, kind, action.notice);
    button.disabled = true;
    $(action.confirm).hidden = true;
    $(action.progress).hidden = false;
    $(action.progress).textContent = "";
    active = action;
    say("Applying…");
    const response = await fetch(action.path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ ...action.body(button), confirm_data_loss: confirmed }),
    });
    const data = await response.json().catch(() => ({ error: "HTTP " + response.status }));
    if (response.status === 409) {
      say(action.stale + data.error + ". The plan below is the current one: review it, then apply again.", "error");
      action.again();
    } else if (response.status === 428) {
      $(action.confirmText).textContent = data.error;
      $(action.confirm).hidden = false;
      say("");
      button.disabled = false;
    } else if (response.status === 423) {
      say("Not applied: " + data.error, "error");
      button.disabled = false;
    } else if (!response.ok) {
      say("Not applied: " + (data.error || "HTTP " + response.status), "error");
      refresh();
    } else if (response.status === 200) {
      say(data.message, "ok");
      refresh();
    }
    // 202: the progress and the outcome come on the stream.
  }

  function progress(event) {
    const box = $(active.progress);
    box.hidden = false;
    const line = event.status + " " + event.name + (event.message ? ": " + event.message : "");
    box.append(document.createTextNode(line + "\n"));
  }

  function applied(result) {
    const recorded = result.release ? " Recorded release " + result.release + "." : "";
    if (result.ok) {
      notice("Applied: " + result.done + " operation(s) done." + recorded, "ok", active.notice);
    } else {
      const failed = Object.entries(result.failed || {}).map(([op, m]) => op + ": " + m);
      const skipped = Object.entries(result.skipped || {}).map(([op, m]) => op + ": " + m);
      notice("The apply failed. " + (result.error || "") + [...failed, ...skipped].join("\n"), "error", active.notice);
    }
    refresh();
  }

  async function loadHistory() {
    const found = await getJSON("/api/history");
    const tbody = $("history").tBodies[0];
    const empty = $("history-empty");
    if (!Array.isArray(found)) {
      tbody.replaceChildren();
      empty.textContent = found.error;
      empty.hidden = false;
      return;
    }
    empty.textContent = "No releases yet: each Apply that changes something records one.";
    empty.hidden = found.length > 0;
    const rows = found.map((r) => {
      const tr = el("tr");
      tr.dataset.release = String(r.release);
      tr.append(
        el("td", r.release),
        el("td", String(r.time).replace("T", " ").replace("Z", " UTC")),
        el("td", r.by),
        el("td", r.kind === "up" ? "up" : "rollback to " + r.of),
        el("td", r.commit ? String(r.commit).slice(0, 12) + (r.dirty ? " (dirty)" : "") : "-"),
      );
      const cell = el("td");
      if (!readOnly) {
        const button = el("button", "Roll back to " + r.release, "rollback-to");
        button.type = "button";
        button.addEventListener("click", () => previewRollback(r.release, false));
        cell.append(button);
      }
      tr.append(cell);
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  // The rollback's plan as `stackup rollback RELEASE --dry-run` shows it, then its Apply.
  async function previewRollback(release, keepNotice) {
    $("rollback").hidden = false;
    $("rollback-title").textContent = "Rollback to release " + release;
    $("rollback-plan").textContent = "planning…";
    $("rollback-confirm").hidden = true;
    if (!keepNotice) {
      notice("", "", "rollback-notice");
      $("rollback-progress").hidden = true;
    }
    const button = $("rollback-apply");
    button.disabled = true;
    const data = await getJSON("/api/rollback?release=" + encodeURIComponent(release));
    if (data.error) {
      $("rollback-plan").textContent = "";
      notice(data.error, "error", "rollback-notice");
      return;
    }
    $("rollback-plan").textContent = data.text;
    button.dataset.release = String(data.release);
    button.dataset.planId = data.plan_id;
    button.dataset.fingerprint = data.plan.fingerprint;
    button.disabled = !data.plan.changes || data.plan.blockers.length > 0;
  }

  function followLogs() {
    if (logSource) logSource.close();
    const service = $("log-service").value;
    followed = (shown ? shown.services : []).filter((r) => r.service === service).map((r) => r.id + r.state).join();
    const logs = $("logs");
    logs.replaceChildren();
    if (!service) return;
    logSource = new EventSource("/api/logs?service=" + encodeURIComponent(service));
    logSource.addEventListener("line", (message) => {
      const line = JSON.parse(message.data);
      logs.append(document.createTextNode(line.stream + " | " + line.text + "\n"));
      while (logs.childNodes.length > MAX_LOG_LINES) logs.firstChild.remove();
      logs.scrollTop = logs.scrollHeight;
    });
    logSource.addEventListener("error", () => {
      if (logSource && logSource.readyState === EventSource.CLOSED) logSource = null;
    });
  }

  async function loadGraph() {
    const graph = await getJSON("/api/graph");
    const box = $("graph");
    if (graph.error) {
      box.replaceChildren(el("pre", graph.error));
    } else if (graph.svg) {
      const img = el("img");
      img.alt = graph.waves;
      img.src = "/api/graph.svg?v=" + encodeURIComponent(body.dataset.version || "0");
      box.replaceChildren(img);
    } else {
      box.replaceChildren(el("pre", graph.waves));
    }
  }

  async function loadLint() {
    const report = await getJSON("/api/lint");
    const list = $("lint");
    if (report.error) {
      list.replaceChildren(el("li", report.error));
      return;
    }
    const order = { high: 0, medium: 1, low: 2 };
    const findings = [...(report.findings || [])].sort((a, b) => order[a.severity] - order[b.severity]);
    const items = findings.map((f) => {
      const li = el("li");
      li.append(el("span", f.severity, "sev-" + f.severity), document.createTextNode(" " + f.rule + " " + (f.service || "") + ": " + f.message));
      return li;
    });
    list.replaceChildren(...(items.length ? items : [el("li", "No findings.")]));
  }

  function connect() {
    const events = new EventSource("/api/events");
    events.addEventListener("hello", () => {
      $("connection").textContent = "live";
      refresh();
    });
    events.addEventListener("changed", () => refresh());
    events.addEventListener("applying", () => notice("Applying…"));
    events.addEventListener("progress", (m) => progress(JSON.parse(m.data)));
    events.addEventListener("applied", (m) => applied(JSON.parse(m.data)));
    events.addEventListener("error", () => {
      $("connection").textContent = "disconnected: is `stackup ui` still running?";
    });
  }

  $("apply").addEventListener("click", () => apply(APPLY, false));
  $("confirm-yes").addEventListener("click", () => apply(APPLY, true));
  $("confirm-no").addEventListener("click", () => {
    $("confirm").hidden = true;
  });
  $("rollback-apply").addEventListener("click", () => apply(ROLLBACK, false));
  $("rollback-confirm-yes").addEventListener("click", () => apply(ROLLBACK, true));
  $("rollback-confirm-no").addEventListener("click", () => {
    $("rollback-confirm").hidden = true;
  });
  $("rollback-cancel").addEventListener("click", () => {
    $("rollback").hidden = true;
  });
  $("log-service").addEventListener("change", followLogs);
  $("read-only").hidden = !readOnly;
  if (readOnly) $("apply").hidden = true;
  connect();
})();
