// flowmetrics page: freshness, runs, data quality, and a preview of the three dashboards.
// Reads /health, page/ops, page/choices and the analytics endpoints; the token is kept in
// this tab's sessionStorage and sent only in the Authorization header.
"use strict";

(() => {
  const { el, stackedBars, sparkline } = Charts;
  const base = document.querySelector('meta[name="flowmetrics-base"]').content;
  const $ = (id) => document.getElementById(id);
  const num = new Intl.NumberFormat("en-US");
  const OUTCOMES = [
    { key: "resolved", label: "resolved", color: "#2e86de" },
    { key: "escalated", label: "escalated", color: "#e67e22" },
    { key: "workaround", label: "workaround", color: "#8e44ad" },
    { key: "unresolved", label: "unresolved", color: "#c0392b" },
    { key: "other", label: "no outcome", color: "#b8c0cc" },
  ];
  const STAGES = [
    { key: "extract", label: "extract", color: "#2e86de" },
    { key: "transform", label: "transform", color: "#16a085" },
    { key: "publish", label: "publish", color: "#f39c12" },
  ];

  // A token handed over in the fragment (#token=...) moves to sessionStorage and leaves the URL.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("flowmetrics-token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  let token = sessionStorage.getItem("flowmetrics-token") || "";
  let choices = null;

  const fmt = {
    int: (n) => (n === null || n === undefined ? "–" : num.format(n)),
    rate: (r) => (r === null || r === undefined ? "–" : (r * 100).toFixed(1) + "%"),
    minutes: (m) => (m === null || m === undefined ? "–" : m.toFixed(1) + " min"),
    seconds: (s) => (s === null || s === undefined ? "–" : Number(s).toFixed(2)),
    time: (t) => (t ? t.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, "") : "–"),
    age: (s) => {
      if (s === null || s === undefined) return "–";
      if (s < 90) return `${Math.round(s)} s`;
      if (s < 5400) return `${Math.round(s / 60)} min`;
      if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
      return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
    },
  };

  async function api(path, { auth = false } = {}) {
    const headers = { Accept: "application/json" };
    if (auth && token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(base + path, { headers, cache: "no-store" });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    return { ok: response.ok, status: response.status, body };
  }

  function fill(parent, ...children) { parent.replaceChildren(...children); return parent; }
  function cell(text, cls) { return el("td", { class: cls, text }); }
  function table(headers, rows, id) {
    return el("table", { id },
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { class: h.num ? "num" : null, text: h.label || h })))),
      el("tbody", {}, ...rows));
  }

  // ---------------------------------------------------------------- freshness and runs

  async function loadStatus() {
    const [health, ops] = await Promise.all([api("/health"), loadOps()]);
    renderFreshness(health.body || {}, ops);
  }

  async function loadOps() {
    let ops = await api("/page/ops", { auth: true });
    if (!ops.ok && token) ops = await api("/page/ops"); // a bad token still leaves the public view
    const body = ops.body || { runs: [], quality: { current: [], trend: [] }, schedule: {} };
    renderRuns(body);
    renderQuality(body.quality || { current: [], trend: [] });
    return body;
  }

  function renderFreshness(health, ops) {
    const staleAfter = (ops.schedule || {}).stale_after_seconds;
    const store = ops.store || {};
    const age = health.store_age_seconds ?? store.age_seconds;
    const stale = typeof age === "number" && typeof staleAfter === "number" && age > staleAfter;
    const status = health.status || "unknown";
    const badge = $("status-badge");
    badge.textContent = stale ? `${status}, stale` : status;
    badge.className = "badge " + (stale ? "stale" : status === "ok" ? "ok" : status === "degraded" ? "degraded" : "bad");
    const warning = $("stale-warning");
    warning.hidden = !stale && status === "ok";
    if (stale) {
      warning.textContent = `The store is ${fmt.age(age)} old: the schedule allows ${fmt.age(staleAfter)}. `
        + "Check the runs below and `flowmetrics status`.";
    } else if (status !== "ok") {
      warning.textContent = `Store status: ${status}` + (health.detail ? ` (${health.detail})` : "");
    }
    // Lag: how far the data trails the source (now - as_of); past three refresh intervals, say so.
    const interval = (ops.schedule || {}).incremental_seconds;
    const lagLimit = (ops.schedule || {}).lag_warning_seconds;
    const lag = health.lag_seconds ?? store.lag_seconds;
    const lagging = typeof lag === "number" && typeof lagLimit === "number" && lag > lagLimit;
    const lagWarning = $("lag-warning");
    lagWarning.hidden = !lagging;
    lagWarning.textContent = !lagging ? "" : `The data trails the source by ${fmt.age(lag)}, more than ${fmt.age(lagLimit)}: `
      + (interval ? `three incremental refreshes (every ${fmt.age(interval)}) should have run by now. `
        : "incremental refreshes are off, and three hourly ones should have run by now. ")
      + "Check the runs below and `flowmetrics status`.";
    const last = health.last_run || (ops.runs || [])[0] || {};
    const facts = [
      ["status", status, "status"],
      ["as_of", fmt.time(health.as_of ?? store.as_of), "as_of"],
      ["built_at", fmt.time(health.built_at ?? store.built_at), "built_at"],
      ["age", fmt.age(age), "age"],
      ["allowed age", fmt.age(staleAfter), "stale_after"],
      ["lag", fmt.age(lag), "lag"],
      ["last incremental", interval === 0 && !health.last_incremental_at ? "off" : fmt.time(health.last_incremental_at), "last_incremental"],
      ["last run", last.status ? `${last.status}${last.failed_step ? " in " + last.failed_step : ""}` : "–", "last_run"],
    ];
    fill($("fresh"), ...facts.flatMap(([k, v, key]) => [el("dt", { text: k }), el("dd", { "data-key": key, text: v })]));
  }

  function renderRuns(ops) {
    const runs = ops.runs || [];
    const chronological = [...runs].reverse();
    const items = chronological.map((r) => ({
      label: fmt.time(r.started_at),
      short: (r.started_at || "").slice(5, 16).replace("T", " "),
      title: `${fmt.time(r.started_at)} ${r.mode} ${r.status}`,
      values: { extract: r.extract_seconds, transform: r.transform_seconds, publish: r.publish_seconds },
      mark: r.status === "failed" ? "✕" : r.status === "skipped" ? "–" : null,
    }));
    fill($("run-chart"), stackedBars(items, STAGES, { unit: " s", title: "seconds per stage by run", barClass: "run", height: 200 }));
    const rows = runs.map((r) => {
      let failure = "";
      if (r.status === "failed") {
        failure = `${r.failed_step || "?"}: ` + (r.error || (r.error_hidden ? "(message shown with an operator's token)" : ""));
      } else if (r.status === "skipped") {
        failure = r.error || "skipped";
      }
      return el("tr", { class: "run-row", "data-run-id": r.run_id },
        cell(fmt.time(r.started_at)), el("td", { class: `status-${r.status}`, text: r.status }),
        cell(r.mode), cell(r.trigger),
        cell(fmt.int(r.extract_rows), "num"), cell(fmt.int(r.transform_rows), "num"), cell(fmt.int(r.publish_rows), "num"),
        cell(fmt.seconds(r.extract_seconds), "num"), cell(fmt.seconds(r.transform_seconds), "num"),
        cell(fmt.seconds(r.publish_seconds), "num"), cell(failure, failure ? "error" : null));
    });
    fill($("run-table").tBodies[0], ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 11, text: "no runs yet" }))]));
  }

  function renderQuality(quality) {
    const trend = quality.trend || [];
    const rows = (quality.current || []).map((q) => {
      const values = trend.map((t) => Number((t.counts || {})[q.check_name] || 0));
      return el("tr", { class: "quality-row", "data-check": q.check_name },
        cell(q.check_name), cell(fmt.int(q.rows), "num"), el("td", {}, sparkline(values)), cell(q.rule));
    });
    fill($("quality-table").tBodies[0], ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 4, text: "no store yet" }))]));
  }

  // ---------------------------------------------------------------- dashboard preview

  async function loadChoices() {
    const status = $("preview-status");
    if (!token) { $("preview-controls").hidden = true; fill($("dashboard")); return; }
    const got = await api("/page/choices", { auth: true });
    if (!got.ok) {
      status.textContent = `Token refused (${got.status}): ${(got.body || {}).detail || "no detail"}`;
      status.className = "error";
      $("preview-controls").hidden = true;
      fill($("dashboard"));
      return;
    }
    choices = got.body;
    status.className = "note";
    status.textContent = `Signed in as ${choices.user.name}` + (choices.user.team_reader ? " (may read the team dashboard)" : "");
    const view = $("view");
    view.querySelector('option[value="team"]').disabled = !choices.user.team_reader;
    if (!choices.user.team_reader && view.value === "team") view.value = "me";
    fill($("engineer"), el("option", { value: "", text: "whole team" }),
      ...choices.engineers.map((u) => el("option", { value: u.user_id, text: u.name })));
    fill($("tree"), ...choices.trees.map((t) => el("option", { value: t.tree_id, text: `${t.name} (${fmt.int(t.sessions)})` })));
    $("preview-controls").hidden = false;
    await loadDashboard();
  }

  async function loadDashboard() {
    const view = $("view").value, period = $("period").value;
    $("engineer-pick").hidden = view !== "team";
    $("tree-pick").hidden = view !== "flow";
    let path = `/analytics/${view}?period=${period}`;
    if (view === "team" && $("engineer").value) path += `&engineer_id=${encodeURIComponent($("engineer").value)}`;
    if (view === "flow") {
      if (!$("tree").value) { fill($("dashboard"), el("p", { class: "note", text: "no flow to show" })); return; }
      path = `/analytics/flows/${encodeURIComponent($("tree").value)}?period=${period}`;
    }
    const got = await api(path, { auth: true });
    if (!got.ok) {
      fill($("dashboard"), el("p", { class: "error", text: `${got.status}: ${(got.body || {}).detail || ""}` }));
      return;
    }
    renderDashboard(view, got.body);
  }

  function tile(key, label, value, text) {
    return el("div", { class: "tile", "data-key": key, "data-value": value === null ? "" : value },
      el("div", { class: "value", text }), el("div", { class: "label", text: label }));
  }

  function renderDashboard(view, data) {
    const s = data.summary;
    const tiles = [
      tile("total_sessions", "sessions", s.total_sessions, fmt.int(s.total_sessions)),
      tile("completed_sessions", "completed", s.completed_sessions, fmt.int(s.completed_sessions)),
      tile("completion_rate", "completion rate", s.completion_rate, fmt.rate(s.completion_rate)),
      tile("median_duration_minutes", "median duration", s.median_duration_minutes, fmt.minutes(s.median_duration_minutes)),
      tile("active_engineers", "active engineers", s.active_engineers, fmt.int(s.active_engineers)),
      ...["resolved", "escalated", "workaround", "unresolved"].map((o) =>
        tile(`outcome_${o}`, `${o} (completed)`, s.outcome_breakdown[o], fmt.int(s.outcome_breakdown[o]))),
    ];
    if (view === "flow") {
      tiles.push(tile("avg_csat", "average CSAT", data.avg_csat, data.avg_csat === null ? "–" : data.avg_csat.toFixed(1)));
      tiles.push(tile("total_ratings", "ratings", data.total_ratings, fmt.int(data.total_ratings)));
    }
    const days = data.time_series.map((d) => {
      const known = d.resolved + d.escalated + d.workaround + d.unresolved;
      return {
        label: d.date, short: d.date.slice(5),
        title: `${d.date}: ${d.sessions} sessions, ${d.resolved} resolved, ${d.escalated} escalated, `
          + `${d.workaround} workaround, ${d.unresolved} unresolved`,
        values: { ...d, other: Math.max(0, d.sessions - known) },
      };
    });
    const title = view === "flow" ? `Flow: ${data.tree_name}` : view === "me" ? "My analytics" : "Team analytics";
    const parts = [
      el("h3", { text: `${title} — ${data.period}, as of ${fmt.time(data.as_of)}` }),
      el("div", { class: "tiles", id: "tiles" }, ...tiles),
      el("h3", { text: "Sessions per day by outcome" }),
      el("div", { id: "outcome-chart" }, stackedBars(days, OUTCOMES, { title: "sessions per day by outcome", barClass: "day" })),
    ];
    const lists = [];
    if (data.top_flows) lists.push(topTable("Top flows", "top-flows", data.top_flows, (r) => r.name));
    if (data.top_engineers) lists.push(topTable("Top engineers", "top-engineers", data.top_engineers, (r) => r.name));
    if (data.step_feedback) lists.push(dropoffs(data.step_feedback));
    if (data.recent_comments) lists.push(comments(data.recent_comments));
    parts.push(el("div", { class: "columns" }, ...lists));
    fill($("dashboard"), ...parts);
  }

  function topTable(title, id, rows, name) {
    const body = rows.map((r) => el("tr", {}, cell(name(r)), cell(fmt.int(r.sessions), "num"),
      cell(fmt.rate(r.completion_rate), "num"), cell(fmt.minutes(r.median_duration_minutes), "num")));
    return el("div", {}, el("h3", { text: title }),
      table(["name", { label: "sessions", num: true }, { label: "completion", num: true }, { label: "median", num: true }], body, id));
  }

  function dropoffs(steps) {
    const shown = steps.slice(0, 15);
    const rows = shown.map((step) => {
      const fillBar = el("div", { class: "fill" });
      fillBar.style.width = `${Math.min(100, step.dropoff_rate * 100)}%`;
      const visits = step.visit_count, drops = step.dropoff_count;
      return el("div", { class: "bar-row step", "data-node": step.node_id, title: `helpful ${step.helpful_yes} / not ${step.helpful_no}` },
        el("span", { text: step.node_title }), el("div", { class: "track" }, fillBar),
        el("span", { class: "num", text: `${fmt.rate(step.dropoff_rate)} of ${fmt.int(visits)} (${fmt.int(drops)})` }));
    });
    const more = steps.length > shown.length ? el("p", { class: "note", text: `and ${steps.length - shown.length} more nodes` }) : null;
    return el("div", { id: "step-feedback" }, el("h3", { text: "Drop-off per node" }),
      ...(rows.length ? rows : [el("p", { class: "note", text: "no visits in this window" })]), more);
  }

  function comments(list) {
    const items = list.map((c) => el("li", {},
      el("span", { class: "stars", text: "★".repeat(c.rating) + "☆".repeat(Math.max(0, 5 - c.rating)) }),
      el("span", { text: c.comment }), el("div", { class: "note", text: fmt.time(c.created_at) })));
    return el("div", { id: "recent-comments" }, el("h3", { text: "Recent comments" }),
      items.length ? el("ul", { class: "comments" }, ...items) : el("p", { class: "note", text: "no comments" }));
  }

  // ---------------------------------------------------------------- wiring

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (token) sessionStorage.setItem("flowmetrics-token", token); else sessionStorage.removeItem("flowmetrics-token");
    loadChoices().then(loadOps);
  });
  $("forget").addEventListener("click", () => {
    token = "";
    sessionStorage.removeItem("flowmetrics-token");
    $("preview-status").textContent = "Token forgotten.";
    loadChoices().then(loadOps);
  });
  for (const id of ["view", "period", "engineer", "tree"]) $(id).addEventListener("change", loadDashboard);

  Promise.all([loadStatus(), loadChoices()]).then(() => document.body.setAttribute("data-ready", "1"));
  setInterval(loadStatus, 60000);
})();
