// The dispatcher's actions on the day: plan and re-plan jobs (live progress over server-sent events), publish,
// what changed between two versions; and for managers the scenario runs' charts.

import * as api from "./api.js";
import { t, word } from "./i18n.js";
import { $, S, busy, el, failed, row, say, signedMinutes, workerName } from "./state.js";

// ---- jobs: plan and re-plan -------------------------------------------------------------------

function searchFields() {
  const body = { time_limit_s: Number($("time-limit").value) || 20, seed: 0 };
  if ($("deterministic").checked) {
    body.deterministic = true;
    body.solution_limit = Number($("solution-limit").value) || 2000;
  }
  return body;
}

function showProgress(job, label) {
  const p = job.progress || {};
  const bar = $("progress");
  bar.hidden = false;
  bar.value = p.fraction || 0;
  say(p.visits_total
    ? `${label} ${t("job_progress", { c: p.visits_covered ?? 0, t: p.visits_total, s: Math.round(p.elapsed_s || 0) })}`
    : label);
}

/** Follow a job to its end: server-sent events with a short-lived stream token, else polling. */
async function watch(job, label) {
  showProgress(job, label);
  let ticket = null;
  try {
    ticket = await api.post(`/v1/plan-jobs/${job.id}/stream-token`);
  } catch {
    ticket = null;
  }
  const done = ["succeeded", "failed", "cancelled"];
  if (ticket?.url) {
    const end = await new Promise((resolve) => {
      const src = new EventSource(ticket.url);
      const on = (ev) => {
        const j = JSON.parse(ev.data);
        showProgress(j, label);
        if (ev.type === "end" || done.includes(j.status)) {
          src.close();
          resolve(j);
        }
      };
      src.addEventListener("status", on);
      src.addEventListener("progress", on);
      src.addEventListener("end", on);
      src.onerror = () => {
        src.close();
        resolve(null);
      };
    });
    if (end && done.includes(end.status)) return end;
  }
  for (;;) {
    const j = await api.get(`/v1/plan-jobs/${job.id}`);
    showProgress(j, label);
    if (done.includes(j.status)) return j;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function finish(job, before) {
  $("progress").hidden = true;
  if (job.status !== "succeeded" || !job.plan_id) {
    say(t("job_failed", { e: job.error || job.status }), "error");
    return;
  }
  await S.hooks.loadDay(job.plan_id);
  say(t("job_done", { v: S.plan.version }), "ok");
  if (before) await showDiff(job.plan_id, before);
}

export function wireActions() {
  $("btn-plan").onclick = async () => {
    busy(true);
    try {
      const job = await api.post("/v1/plan-jobs", { team_id: S.teamId, date: S.date, ...searchFields() });
      await finish(await watch(job, t("planning")), S.plan?.id);
    } catch (e) {
      failed(e);
    } finally {
      busy(false);
    }
  };
  $("btn-replan").onclick = async () => {
    if (!S.plan) return;
    busy(true);
    try {
      const now = `${S.date}T${$("replan-now").value || "13:00"}:00+09:00`;
      const job = await api.post(`/v1/plans/${S.plan.id}/replan`, { now, publish: true, ...searchFields() });
      await finish(await watch(job, t("replanning")), S.plan.id);
    } catch (e) {
      failed(e);
    } finally {
      busy(false);
    }
  };
  $("btn-publish").onclick = () => publish(false);
  $("btn-compare").onclick = async () => {
    const pub = S.versions.find((v) => v.published);
    if (!S.plan) return;
    if (!pub) return say(t("nothing_published"));
    if (pub.id === S.plan.id) {
      const older = S.versions.find((v) => v.version < S.plan.version);
      if (!older) return say(t("same_version"));
      return showDiff(S.plan.id, older.id).catch(failed);
    }
    return showDiff(S.plan.id, pub.id).catch(failed);
  };
}

function offerForce(n) {
  say(t("publish_blocked", { n }), "error");
  $("status").append(" ", el("button", { type: "button", textContent: t("publish_force"), on: { click: () => publish(true) } }));
}

async function publish(force) {
  if (!S.plan) return;
  // The evaluator's count is on the plan already: ask before the API has to refuse (409).
  if (!force && S.plan.meta?.violations > 0) return offerForce(S.plan.meta.violations);
  busy(true);
  try {
    const res = await api.post(`/v1/plans/${S.plan.id}/publish${force ? "?force=true" : ""}`);
    await S.hooks.loadDay(res.id);
    say(t("published_ok", { v: res.version }), "ok");
  } catch (e) {
    if (e.status === 409 && e.problem?.errors?.length) {
      offerForce(e.problem.errors.length);
    } else {
      failed(e);
    }
  } finally {
    busy(false);
  }
}

// ---- what changed -------------------------------------------------------------------------------

export async function showDiff(planId, againstId) {
  const q = againstId ? `?against=${againstId}` : "";
  const d = await api.get(`/v1/plans/${planId}/diff${q}`);
  const box = $("changes-body");
  const list = (title, items, text) => el("div", { class: "diff-group" },
    el("h3", { textContent: `${title} (${items.length})` }),
    el("ul", {}, items.slice(0, 50).map((x) => el("li", { "data-visit-id": x.visit_id, textContent: text(x) }))));
  const parts = [el("p", { textContent: t("diff_between", { a: d.from.version, b: d.to.version }) })];
  const moved = d.moved || [];
  const added = d.added || [];
  const removed = d.removed || [];
  const retimed = d.retimed || [];
  if (!moved.length && !added.length && !removed.length) parts.push(el("p", { textContent: t("diff_none") }));
  if (retimed.length) parts.push(list(t("diff_retimed"), retimed, (x) => `${x.visit_id} (${workerName(x.worker_id)}): ${signedMinutes(x.shift_s)}`));
  if (moved.length) parts.push(list(t("diff_moved"), moved, (x) => `${x.visit_id}: ${workerName(x.from_worker_id)} → ${workerName(x.to_worker_id)}`));
  if (added.length) parts.push(list(t("diff_added"), added, (x) => `${x.visit_id} → ${workerName(x.worker_id)}`));
  if (removed.length) parts.push(list(t("diff_removed"), removed, (x) => `${x.visit_id} ← ${workerName(x.worker_id)}${x.reason ? ` (${word("r", x.reason)})` : ""}`));
  const delta = Object.entries(d.kpis_delta || {}).filter(([, v]) => typeof v === "number" && v !== 0);
  if (delta.length) parts.push(el("dl", { class: "delta" }, delta.map(([k, v]) => row(k, `${v > 0 ? "+" : ""}${Number.isInteger(v) ? v : v.toFixed(4)}`))));
  box.replaceChildren(...parts);
  $("changes").hidden = false;
}

// ---- scenarios (managers) -----------------------------------------------------------------------

/** Issue 14's scenario runs, when the server has them: each scenario's latest run and its charts. */
export async function loadScenarios() {
  if (!S.config.links?.scenarios) return;
  const box = $("scenarios-body");
  $("scenarios").hidden = false;
  const scenarios = (await api.get("/v1/scenarios?limit=5")).data;
  const parts = [];
  for (const sc of scenarios) {
    const run = (await api.get(`/v1/scenarios/${sc.id}/runs?limit=1`)).data[0];
    const fig = el("div", { class: "scenario" }, el("h3", { textContent: sc.name }),
      el("p", { class: "detail", textContent: `${sc.description || ""} · ${sc.weeks}w × ${sc.seeds} · ${run ? run.status : "-"}` }));
    for (const chart of run?.charts || []) {
      const name = chart.split("/").pop().replace(/\.png$/, "");
      try {
        fig.append(el("img", { src: await api.objectUrl(chart.replace(/\.png$/, ".svg")), alt: `${sc.name}: ${name}`, class: "chart" }));
      } catch {
        fig.append(el("p", { class: "error", textContent: name }));
      }
    }
    parts.push(fig);
  }
  box.replaceChildren(...(parts.length ? parts : [el("p", { textContent: t("scenario_none") })]));
}
