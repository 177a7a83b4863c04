// The details panel: a stop's or an unassigned visit's facts, private details on request (audited by the API),
// and for dispatchers the move form (the evaluator's verdict before saving) and the outcome form.

import * as api from "./api.js";
import { jointGist, t, word } from "./i18n.js";
import { tierWord } from "./map.js";
import { hhmm } from "./timeline.js";
import {
  $, S, canEdit, el, failed, halves, isJoint, minutes, role, row, say, sentence, signedMinutes, stopIndex,
  workerName,
} from "./state.js";

/** Verdicts a move may not be saved with (the API answers 409 crew-broken): a pair split, an order rule broken. */
const CREW_BREAKS = new Set(["crew_incomplete", "crew_not_synchronised", "precedence_gap", "precedence_missing_first"]);

export function resetDetails() {
  S.map?.highlight(null);
  $("details").replaceChildren(el("h2", { textContent: t("details") }), el("p", { class: "hint", textContent: t("details_hint") }));
}

export function select(visitId, workerId) {
  S.selected = visitId;
  for (const b of document.querySelectorAll(".seg.visit.selected, .stop-marker.selected")) b.classList.remove("selected");
  // every half of a joint visit is selected together (the timeline's blocks and the map's markers)
  for (const b of document.querySelectorAll(`.seg.visit[data-visit-id="${visitId}"], .stop-marker[data-joint="${visitId}"]`)) {
    b.classList.add("selected");
  }
  const all = halves(visitId);
  const found = all.find((h) => h.route.worker_id === workerId) || stopIndex().get(visitId);
  const un = (S.plan?.unassigned || []).find((u) => u.visit_id === visitId);
  const box = $("details");
  box.replaceChildren();
  const req = S.requests.get(visitId);
  S.map?.highlight(found ? found.route.worker_id : null);
  if (found) {
    const { route, stop, n } = found;
    const hh = S.households.get(stop.household_id);
    box.append(el("h2", { textContent: `${t("stop_n", { n })} · ${workerName(route.worker_id)}` }),
      el("dl", { class: "facts" },
        row(t("household"), hh?.ref || stop.household_id), row(t("dong"), hh?.dong || stop.dong),
        row(t("tier"), tierWord(hh?.risk_tier)), row(t("kind"), word("k", req?.kind)),
        row(t("arrival"), hhmm(stop.arrival)), row(t("start"), hhmm(stop.start)), row(t("end"), hhmm(stop.end)),
        stop.travel_s != null ? row(t("travel"), minutes(stop.travel_s)) : null,
        row(t("status"), word("o", stop.status)),
        isJoint(stop) ? row(t("joint_with"), partnerText(stop)) : null,
        precedenceRows(visitId)));
    if (isJoint(stop)) box.querySelector(".facts").classList.add("joint-facts");
    privateButton(box, stop.household_id);
    if (canEdit()) {
      box.append(moveForm(visitId, route.worker_id, n - 1, isJoint(stop) ? route.worker_id : null),
        outcomeForm(visitId, stop));
    }
  } else if (un) {
    const hh = S.households.get(un.household_id);
    box.append(el("h2", { textContent: `${t("unassigned_mark")} · ${hh?.dong || un.household_id}` }),
      el("dl", { class: "facts" },
        row(t("household"), hh?.ref || un.household_id), row(t("tier"), tierWord(hh?.risk_tier)),
        row(t("kind"), word("k", req?.kind)), row(t("reason"), word("r", un.reason)),
        req?.crew?.length ? row(t("joint"), jointGist(un.detail) || t("joint_left_out")) : null,
        precedenceRows(visitId)),
      el("p", { class: "detail", textContent: sentence(un.detail) }));
    if (S.fitsAvailable) box.append(el("h3", { textContent: t("fit_title") }), el("ul", { class: "fits" }, fitLines(S.fits.get(visitId))));
    privateButton(box, un.household_id);
    if (canEdit()) box.append(moveForm(visitId, null, null));
  } else {
    resetDetails();
    return;
  }
  box.focus({ preventScroll: true });
}

export function showHousehold(hhId) {
  const hh = S.households.get(hhId);
  const box = $("details");
  box.replaceChildren(el("h2", { textContent: `${t("household")} · ${hh?.ref || hhId}` }),
    el("dl", { class: "facts" }, row(t("dong"), hh?.dong), row(t("tier"), tierWord(hh?.risk_tier))));
  privateButton(box, hhId);
}

function privateButton(box, hhId) {
  if (role() === "manager") return;
  const out = el("div", { class: "private" });
  const btn = el("button", {
    type: "button", textContent: t("private_show"),
    on: {
      click: async () => {
        try {
          const p = await api.get(`/v1/households/${hhId}/private`);
          out.replaceChildren(el("h3", { textContent: t("private_title") }), el("dl", { class: "facts" },
            row(t("label"), p.label), row(t("contact"), p.contact), row(t("address"), p.address),
            row(t("health_notes"), p.health_notes)));
        } catch (e) {
          out.replaceChildren(el("p", { class: "error", textContent: e.status === 403 ? t("private_denied") : t("error", { e: e.message }) }));
        }
      },
    },
  });
  box.append(btn, out);
}

/**
 * Who else is at a joint visit: dispatchers and managers see each partner's name and role (from the plan);
 * a field worker sees only the partners' roles (her schedule's `with_roles`: the API never sends her the names).
 */
function partnerText(stop) {
  if (stop.crew) {
    return stop.crew.partners.map((p) => `${workerName(p.worker_id)} (${word("role", p.role)})`).join(", ");
  }
  return (stop.with_roles || []).map((r) => word("role", r)).join(", ");
}

/** A visit named in a precedence: its worker and stop number when planned, else its household. */
function visitLabel(visitId) {
  const h = stopIndex().get(visitId);
  if (h) return `${workerName(h.route.worker_id)} ${t("stop_n", { n: h.n })}`;
  const req = S.requests.get(visitId);
  const hh = S.households.get(req?.household_id);
  return hh ? `${hh.ref || hh.id} (${t("unassigned_mark")})` : visitId;
}

/** The day's precedences touching `visitId`, on both visits' panels: "after X, 30-120 min (planned: 45 min)". */
function precedenceRows(visitId) {
  const mine = (S.precedences || []).filter((p) => p.first === visitId || p.then === visitId);
  if (!mine.length) return null;
  const items = mine.map((p) => {
    const after = p.then === visitId;
    const lo = Math.round(p.min_gap_s / 60);
    const hi = p.max_gap_s == null ? t("prec_open") : Math.round(p.max_gap_s / 60);
    let text = t(after ? "prec_after" : "prec_before", { v: p.other || visitLabel(after ? p.first : p.then), lo, hi });
    if (p.gap_s != null) text += ` · ${t("prec_planned", { m: Math.round(p.gap_s / 60) })}`;
    if (!p.ok) text += ` · ${t("prec_broken")}`;
    return el("li", { "data-first": p.first, "data-then": p.then, class: p.ok ? "" : "bad", textContent: text });
  });
  return [el("dt", { textContent: t("precedences") }), el("dd", { class: "precedences" }, el("ul", {}, items))];
}

// ---- moving a visit -----------------------------------------------------------------------------

function moveForm(visitId, workerId, position, fromWorker) {
  const form = el("form", { class: "move", "aria-labelledby": "move-title" });
  const who = el("select", { id: "move-worker" },
    ...S.order.map((id) => el("option", { value: id, textContent: workerName(id) })));
  who.value = workerId || S.order[0];
  const pos = el("input", { id: "move-pos", type: "number", min: "1", value: position === null ? "" : String(position + 1) });
  const verdict = el("div", { id: "verdict", class: "verdict", role: "status", "aria-live": "polite" });
  const save = el("button", { type: "button", id: "move-save", textContent: t("move_save"), disabled: true });
  if (fromWorker) form.dataset.from = fromWorker;
  form.append(el("h3", { id: "move-title", textContent: t("move_title") }),
    fromWorker ? el("p", { class: "hint joint-hint", textContent: t("joint_move_hint") }) : null,
    el("label", { for: "move-worker", textContent: t("move_to") }), who,
    el("label", { for: "move-pos", textContent: t("move_pos") }), pos,
    el("button", { type: "submit", id: "move-check", textContent: t("move_check") }), save, verdict);
  let body = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    body = { visit_id: visitId, worker_id: who.value, position: pos.value ? Number(pos.value) - 1 : null,
      displace_visit_id: form.dataset.displace || null };
    if (form.dataset.from) body.from_worker_id = form.dataset.from;
    save.disabled = true;
    verdict.replaceChildren(t("planning"));
    try {
      const res = await api.post(`/v1/plans/${S.plan.id}/moves/check`, body);
      showVerdict(verdict, res);
      // a move that splits a pair in time or breaks an order rule is shown, never saved
      save.disabled = (res.violations || []).some((v) => CREW_BREAKS.has(v.code));
    } catch (e) {
      // 422: the visit cannot be timed there at all; that is the verdict too.
      verdict.replaceChildren(el("h4", { textContent: t("verdict") }), el("p", {
        class: "bad", "data-verdict": e.status === 422 ? "refused" : "error",
        textContent: e.status === 422 ? t("move_refused", { e: e.message }) : t("error", { e: e.message }),
      }));
    }
  });
  save.addEventListener("click", async () => {
    if (!body) return;
    try {
      const res = await api.post(`/v1/plans/${S.plan.id}/moves`, body);
      await S.hooks.loadDay(res.plan.id);
      say(t("move_saved", { v: res.plan.version }), "ok");
      await S.hooks.showDiff(res.plan.id, S.versions.find((v) => v.id === res.plan.base_plan_id)?.id);
    } catch (e) {
      failed(e);
    }
  });
  return form;
}

function showVerdict(box, res) {
  const n = res.violations?.length || 0;
  box.replaceChildren(el("h4", { textContent: t("verdict") }),
    el("p", { class: n ? "bad" : "ok", "data-verdict": n ? "violations" : "ok", textContent: n ? t("move_bad", { n }) : t("move_ok") }));
  if (n) {
    box.append(el("ul", {}, res.violations.slice(0, 8).map((v) => el("li", { "data-code": v.code },
      el("strong", { textContent: word("vc", v.code) }), ` (${v.code}): ${sentence(v.message)}`))));
  }
  if ((res.violations || []).some((v) => CREW_BREAKS.has(v.code))) {
    box.append(el("p", { class: "bad", "data-verdict-note": "crew-broken", textContent: t("move_crew_broken") }));
  }
  const delta = res.kpis_delta || {};
  const shown = Object.entries(delta).filter(([, v]) => typeof v === "number" && v !== 0);
  if (shown.length) {
    box.append(el("dl", { class: "delta" }, shown.map(([k, v]) => row(k, `${v > 0 ? "+" : ""}${Number.isInteger(v) ? v : v.toFixed(4)}`))));
  }
}

export function proposeMove(visitId, workerId, position, displace) {
  const form = document.querySelector("#details form.move");
  if (!form) return;
  $("move-worker").value = workerId;
  $("move-pos").value = position === null || position === undefined ? "" : String(position + 1);
  if (displace) form.dataset.displace = displace;
  form.requestSubmit();
}

// ---- outcomes -----------------------------------------------------------------------------------

function outcomeForm(visitId, stop) {
  const form = el("form", { class: "outcome", "aria-labelledby": "outcome-title" });
  const kind = el("select", { id: "outcome-kind" },
    ...["done", "in_progress", "no_answer", "refused"].map((k) => el("option", { value: k, textContent: word("o", k) })));
  const at = el("input", { id: "outcome-at", type: "time", value: hhmm(stop.start) });
  form.append(el("h3", { id: "outcome-title", textContent: t("outcome_title") }),
    el("label", { for: "outcome-kind", textContent: t("outcome_kind") }), kind,
    el("label", { for: "outcome-at", textContent: t("outcome_at") }), at,
    el("button", { type: "submit", id: "outcome-save", textContent: t("outcome_save") }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api.post(`/v1/plans/${S.plan.id}/outcomes`, { kind: kind.value, visit_id: visitId, at: `${S.date}T${at.value}:00+09:00` });
      say(t("outcome_saved", { k: word("o", kind.value) }), "ok");
      await S.hooks.loadPlan(S.plan.id);
      select(visitId);
    } catch (e) {
      failed(e);
    }
  });
  return form;
}

/** "Where could it fit": the API's cheapest insertions of an unassigned visit, each with a button checking it. */
export function fitLines(fit) {
  if (!fit?.options?.length) return [el("li", { textContent: t("fit_none") })];
  return fit.options.map((o) => {
    const text = t("fit_line", { w: workerName(o.worker_id), p: o.position + 1, m: signedMinutes(o.added_s) });
    let displaced = "";
    if (o.displaces) {
      const hh = S.households.get(o.displaces.household_id);
      displaced = ` · ${t("fit_displace", { v: hh ? `${hh.dong} ${tierWord(hh.risk_tier)}` : o.displaces.visit_id })}`;
    }
    const li = el("li", { class: o.fits ? "fit ok" : "fit over" }, text, displaced);
    if (canEdit()) {
      li.append(" ", el("button", {
        type: "button", class: "small", textContent: t("move_check"),
        "aria-label": `${text}${displaced} — ${t("move_check")}`,
        on: { click: () => { select(fit.visit_id); proposeMove(fit.visit_id, o.worker_id, o.position, o.displaces?.visit_id); } },
      }));
    }
    return li;
  });
}
