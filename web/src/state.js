// What the page's modules share: the state of the page, a few DOM helpers and words for the status line.

import { t } from "./i18n.js";

export const $ = (id) => document.getElementById(id);
export const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k.startsWith("aria-") || k.startsWith("data-") || k === "for" || k === "role") node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
};

export const S = {
  me: null,
  config: {},
  teams: [],
  teamId: null,
  date: null,
  workers: new Map(),
  order: [],
  colours: new Map(),
  dashed: new Set(),
  households: new Map(),
  requests: new Map(),
  versions: [],
  plan: null,
  geo: null,
  fits: new Map(),
  /** The day's precedences as the shown version plans them (GET /v1/plans/{id}/precedences). */
  precedences: [],
  /** A field worker's published days (GET /v1/workers/{id}/published-days). */
  myDays: [],
  streets: null,
  map: null,
  selected: null,
  busy: false,
  /** Loaders and views the other modules call back: set by app.js. */
  hooks: {},
};

export const role = () => S.me?.role;
export const canEdit = () => role() === "dispatcher";
export const minutes = (s) => t("minutes", { m: Math.round((s || 0) / 60) });
export const workerName = (id) => S.workers.get(id)?.name || id;
/** A visit request by its household (reference, else dong) where the page knows it, else its id. */
const visitName = (id) => {
  const hh = S.households.get(S.requests.get(id)?.household_id);
  return hh ? hh.ref || hh.dong || id : id;
};

/** The planner's sentence with worker ids replaced by the workers' names, visit ids by their households. */
export const sentence = (text) => (text || "").replace(/\bwk_[0-9a-z]+/g, (id) => workerName(id))
  .replace(/\bvr_[0-9a-z]+/g, (id) => visitName(id));

export function todaySeoul() {
  return new Date(Date.now() + 9 * 3600e3).toISOString().slice(0, 10);
}

export function say(text, kind = "info") {
  const box = $("status");
  box.textContent = text;
  box.dataset.kind = kind;
}

export function failed(e) {
  if (e?.status === 401) {
    // the sign-in expired or the account was stopped: back to the form
    sessionStorage.clear();
    location.reload();
    return;
  }
  say(t("error", { e: e?.message || String(e) }), "error");
}

/** Marks the page idle once the map has drawn (tests and screenshots wait on body[data-ready]). */
export async function settled() {
  if (S.map) await S.map.idle();
  document.body.dataset.ready = S.plan ? `${S.plan.id}` : "none";
}

export function busy(on) {
  S.busy = on;
  document.body.dataset.ready = on ? "" : document.body.dataset.ready;
  for (const b of document.querySelectorAll(".toolbar button")) b.disabled = on;
}

export function row(label, value) {
  return [el("dt", { textContent: label }), el("dd", { textContent: value ?? "" })];
}

export function signedMinutes(s) {
  const m = Math.round((s || 0) / 60);
  return m < 0 ? `−${-m}` : `+${m}`;
}

/** Where each planned visit is: its route, stop and number (a joint visit: its first half; see `halves`). */
export function stopIndex() {
  const idx = new Map();
  for (const r of S.plan?.routes || []) {
    r.stops.forEach((s, i) => {
      if (!idx.has(s.visit_id)) idx.set(s.visit_id, { route: r, stop: s, n: i + 1 });
    });
  }
  return idx;
}

/** Every planned half of a visit: [{route, stop, n}], one per worker (two for a joint visit). */
export function halves(visitId) {
  const out = [];
  for (const r of S.plan?.routes || []) {
    r.stops.forEach((s, i) => {
      if (s.visit_id === visitId) out.push({ route: r, stop: s, n: i + 1 });
    });
  }
  return out;
}

/** A stop of a joint visit: the plan's `crew` (dispatchers, managers) or a field worker's `with_roles`. */
export const isJoint = (stop) => Boolean(stop?.crew || stop?.with_roles?.length);

/** Outline colours that tie the halves of one joint visit together (each joint visit of the day its own). */
const LINKS = ["#212529", "#7048e8", "#c2255c", "#0b7285", "#5c940d", "#e67700"];

export function linkColour(visitId) {
  const ids = [...new Set((S.plan?.routes || []).flatMap((r) => r.stops.filter(isJoint).map((s) => s.visit_id)))].sort();
  const k = ids.indexOf(visitId);
  return LINKS[(k < 0 ? 0 : k) % LINKS.length];
}
