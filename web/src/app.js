// The dispatcher page: sign in, pick team and day, see the plan on a map and a timeline, and act on it
// (plan, publish, compare, move a visit, record an outcome, re-plan). Everything goes through the API,
// which decides what each role may see; the page only hides buttons a role could not use anyway.

import "maplibre-gl/dist/maplibre-gl.css";
import "leaflet/dist/leaflet.css";
import "./app.css";
import * as api from "./api.js";
import { jointGist, lang, setLang, t, word } from "./i18n.js";
import { createMap, tierWord, TIER_COLOURS } from "./map.js";
import { routeColours } from "./colours.js";
import { renderTimeline } from "./timeline.js";

import { loadScenarios, showDiff, wireActions } from "./actions.js";
import { fitLines, proposeMove, resetDetails, select, showHousehold } from "./details.js";
import {
  $, S, canEdit, el, failed, halves, isJoint, linkColour, role, say, sentence, settled, todaySeoul, workerName,
} from "./state.js";

// ---- sign-in ----------------------------------------------------------------------------------

async function start() {
  setLang(localStorage.getItem("salpimi.lang") || "ko");
  $("lang").value = lang();
  $("lang").addEventListener("change", () => {
    localStorage.setItem("salpimi.lang", $("lang").value);
    setLang($("lang").value);
    render();
  });
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => {
    api.forget();
    location.reload();
  });
  try {
    S.config = (await api.maybe("/v1/web/config")) || {};
  } catch {
    S.config = {};
  }
  if (!localStorage.getItem("salpimi.lang") && S.config.default_language) {
    setLang(S.config.default_language);
    $("lang").value = lang();
  }
  if (api.token()) {
    try {
      await enter();
      return;
    } catch {
      api.forget();
    }
  }
  showLogin();
}

function showLogin() {
  $("login").hidden = false;
  $("app").hidden = true;
  $("username").focus();
  document.body.dataset.ready = "login";
}

async function onLogin(ev) {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    await api.signIn($("username").value, $("password").value);
    $("password").value = "";
    await enter();
  } catch (e) {
    $("login-error").textContent = e.status === 401 ? t("login_failed") : t("error", { e: e.message });
  }
}

async function enter() {
  S.me = await api.get("/v1/users/me");
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  document.body.dataset.role = role();
  $("whoami").textContent = `${S.me.username} · ${word("role", role())}` + (canEdit() ? "" : ` · ${t("read_only")}`);
  for (const node of document.querySelectorAll("[data-role]")) {
    node.hidden = !node.dataset.role.split(" ").includes(role());
  }
  const params = new URLSearchParams(location.search);
  S.date = params.get("date") || todaySeoul();
  $("date").value = S.date;
  $("pickers").hidden = false;
  $("date").addEventListener("change", () => {
    if ($("date").value) {
      S.date = $("date").value;
      (role() === "field_worker" ? loadSchedule() : loadDay()).catch(failed);
    }
  });
  if (!S.map) {
    S.map = await createMap($("map"), {
      tileUrl: S.config.tile_url || null,
      tileAttribution: S.config.tile_attribution || "",
      onStop: (id, workerId) => select(id, workerId),
      onHousehold: (hh, visit) => (visit ? select(visit) : showHousehold(hh)),
    });
    if (!S.map) mapNote(t("no_map"));
    else if (S.map.kind === "leaflet") mapNote(t("no_webgl"));
  }
  if (role() === "field_worker") {
    $("team").closest(".pick").hidden = true;
    $("version-pick").hidden = true;
    await loadOwnWorker();
  } else {
    const teams = await api.get("/v1/teams?limit=1000");
    S.teams = teams.data;
    $("team").replaceChildren(...S.teams.map((tm) => el("option", { value: tm.id, textContent: tm.name })));
    S.teamId = S.me.team_id || params.get("team") || S.teams[0]?.id;
    $("team").value = S.teamId;
    $("team").onchange = () => {
      S.teamId = $("team").value;
      loadTeam().catch(failed);
    };
    $("version").onchange = () => loadPlan($("version").value).catch(failed);
    wireActions();
    await loadTeam();
  }
}

function mapNote(text) {
  const note = $("map-message");
  note.textContent = text;
  note.hidden = !text;
}

// ---- loading ----------------------------------------------------------------------------------

async function all(path) {
  const out = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api.get(`${path}${path.includes("?") ? "&" : "?"}limit=1000&offset=${offset}`);
    out.push(...page.data);
    if (out.length >= page.count || !page.data.length) return out;
  }
}

function setWorkers(list) {
  S.workers = new Map(list.map((w) => [w.id, w]));
  S.order = list.map((w) => w.id);
  // Past ten routes hues come close: every second worker from the eleventh on gets a dashed line too.
  const colours = routeColours(list.length);
  S.colours = new Map(list.map((w, i) => [w.id, colours[i]]));
  S.dashed = new Set(list.filter((w, i) => i >= 10 && i % 2 === 0).map((w) => w.id));
}

async function loadTeam() {
  setWorkers(await all(`/v1/teams/${S.teamId}/workers`));
  S.households = new Map((await all(`/v1/teams/${S.teamId}/households`)).map((h) => [h.id, h]));
  const streets = await api.maybe(`/v1/teams/${S.teamId}/streets`);
  S.streets = streets && streets.features?.length ? streets : null;
  $("map").dataset.streets = String(S.streets?.features.length || 0);
  await loadDay();
  if (role() === "manager") loadScenarios().catch(() => {});
}

async function loadDay(preferId) {
  S.requests = new Map((await all(`/v1/teams/${S.teamId}/visit-requests?date=${S.date}`)).map((r) => [r.id, r]));
  const versions = await api.get(`/v1/teams/${S.teamId}/plans?date=${S.date}&limit=100`);
  S.versions = versions.data;
  $("version").replaceChildren(...S.versions.map((v) => el("option", {
    value: v.id,
    textContent: `v${v.version} · ${word("v", v.kind)}${v.published ? ` · ${t("published")}` : ""}`,
  })));
  const pick = S.versions.find((v) => v.id === preferId) || S.versions.find((v) => v.published) || S.versions[0];
  if (pick) {
    $("version").value = pick.id;
    await loadPlan(pick.id);
  } else {
    S.plan = null;
    S.geo = null;
    S.fits = new Map();
    render();
    say(t("no_plan"));
    await settled();
  }
}

async function loadPlan(id) {
  document.body.dataset.ready = "";
  const [plan, geo, fits, precedences] = await Promise.all([
    api.get(`/v1/plans/${id}`),
    api.get(`/v1/plans/${id}/geojson`),
    api.maybe(`/v1/plans/${id}/fits`).catch(() => null),
    api.maybe(`/v1/plans/${id}/precedences`).catch(() => null),
  ]);
  S.plan = plan;
  S.geo = geo;
  S.precedences = precedences?.data || [];
  S.fits = new Map((fits?.data || []).map((f) => [f.visit_id, f]));
  S.fitsAvailable = Boolean(fits);
  S.selected = null;
  render();
  resetDetails();
  await settled();
}

const shiftDays = (date, days) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86400e3).toISOString().slice(0, 10);

function dayLabel(d) {
  const weekday = new Date(`${d.date}T12:00:00+09:00`).toLocaleDateString(lang() === "en" ? "en-GB" : "ko-KR",
    { weekday: "short", timeZone: "Asia/Seoul" });
  return `${d.date} (${weekday}) · ${t("stops_n", { n: d.stops })}`;
}

/**
 * A field worker picks among her own published days (two months either side of the asked day): the API lists
 * only days whose published plan gives her stops. A day asked for that is not among them gives way to her next
 * published day, else her latest.
 */
async function loadMyDays() {
  const wid = S.me.worker_id;
  const days = await api.maybe(`/v1/workers/${wid}/published-days?date_from=${shiftDays(S.date, -62)}&date_to=${shiftDays(S.date, 62)}`)
    .catch(() => null);
  S.myDays = days?.data || [];
  const pick = $("my-days");
  $("days-pick").hidden = false;
  $("date").closest(".pick").hidden = true;
  if (!S.myDays.length) {
    pick.replaceChildren(el("option", { value: "", textContent: t("my_days_none") }));
    pick.disabled = true;
    return;
  }
  pick.disabled = false;
  pick.replaceChildren(...S.myDays.map((d) => el("option", { value: d.date, textContent: dayLabel(d) })));
  if (!S.myDays.some((d) => d.date === S.date)) {
    S.date = (S.myDays.find((d) => d.date >= S.date) || S.myDays[S.myDays.length - 1]).date;
  }
  pick.value = S.date;
  pick.onchange = () => {
    S.date = pick.value;
    $("date").value = S.date;
    loadSchedule().catch(failed);
  };
}

async function loadOwnWorker() {
  const w = await api.get(`/v1/workers/${S.me.worker_id}`);
  setWorkers([w]);
  const streets = await api.maybe(`/v1/teams/${S.me.team_id}/streets`).catch(() => null);
  S.streets = streets && streets.features?.length ? streets : null;
  await loadMyDays();
  $("date").value = S.date;
  await loadSchedule();
}

async function loadSchedule() {
  document.body.dataset.ready = "";
  S.precedences = [];
  const wid = S.me.worker_id;
  let sched = null;
  try {
    sched = await api.get(`/v1/workers/${wid}/schedule?date=${S.date}`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  if (!sched || !sched.stops?.length) {
    S.plan = null;
    S.geo = null;
    render();
    say(t("no_plan_fw"));
    await settled();
    return;
  }
  const [geo, rules] = await Promise.all([
    api.maybe(`/v1/workers/${wid}/schedule/geojson?date=${S.date}`).catch(() => null),
    api.maybe(`/v1/workers/${wid}/schedule/rules?date=${S.date}`).catch(() => null),
  ]);
  // her order rules: the other visit named by its workers' roles only (the API sends no names)
  S.precedences = (rules?.data || []).map((r) => ({
    first: r.relation === "before" ? r.visit_id : null, then: r.relation === "after" ? r.visit_id : null,
    min_gap_s: r.min_gap_s, max_gap_s: r.max_gap_s, gap_s: r.gap_s,
    ok: r.gap_s == null || (r.gap_s >= r.min_gap_s && (r.max_gap_s == null || r.gap_s <= r.max_gap_s)),
    other: r.other_roles.length ? t("prec_role_visit", { r: r.other_roles.map((x) => word("role", x)).join(", ") })
      : t("prec_unplanned_visit"),
  }));
  const stopsGeo = new Map((geo?.features || []).filter((f) => f.properties.kind === "stop")
    .map((f) => [f.properties.visit_id, f.properties]));
  for (const s of sched.stops) {
    S.households.set(s.household_id, {
      id: s.household_id, lat: s.lat, lon: s.lon, dong: s.dong, risk_tier: stopsGeo.get(s.visit_id)?.risk_tier,
    });
    S.requests.set(s.visit_id, { id: s.visit_id, kind: s.kind });
  }
  S.plan = {
    id: sched.plan_id, version: sched.version, date: sched.date, published: true, kpis: null, unassigned: [],
    routes: [{ worker_id: wid, departure: sched.departure, return: sched.return, break: sched.break,
      travel_s: null, stops: sched.stops }],
    meta: {},
  };
  S.geo = geo || { type: "FeatureCollection", features: [], properties: { geometry: "none" } };
  render();
  say("");
  await settled();
}

// ---- rendering --------------------------------------------------------------------------------

function mapData() {
  const geo = S.geo || { features: [] };
  const point = new Map();
  for (const f of geo.features) {
    if (f.geometry?.type === "Point" && f.properties.visit_id) point.set(f.properties.visit_id, f.geometry.coordinates);
  }
  const where = (visitId, hhId) => {
    const p = point.get(visitId);
    if (p) return { lon: p[0], lat: p[1] };
    const h = S.households.get(hhId);
    return h ? { lon: h.lon, lat: h.lat } : null;
  };
  const legs = {
    type: "FeatureCollection",
    features: geo.features.filter((f) => f.properties.kind === "leg").map((f) => ({
      ...f, properties: { ...f.properties, colour: S.colours.get(f.properties.worker_id) || "#333", dashed: S.dashed.has(f.properties.worker_id) },
    })),
  };
  const stops = [];
  for (const r of S.plan?.routes || []) {
    const coords = [];
    r.stops.forEach((s, i) => {
      const at = where(s.visit_id, s.household_id);
      if (!at) return;
      coords.push([at.lon, at.lat]);
      stops.push({ ...at, visit_id: s.visit_id, household_id: s.household_id, n: i + 1, worker_id: r.worker_id,
        color: S.colours.get(r.worker_id), worker_name: workerName(r.worker_id),
        joint: isJoint(s), seat: s.crew?.seat ?? jointSeat(s.visit_id, r.worker_id), link: linkColour(s.visit_id) });
    });
    if (!legs.features.some((f) => f.properties.worker_id === r.worker_id) && coords.length > 1) {
      legs.features.push({ type: "Feature", geometry: { type: "LineString", coordinates: coords },
        properties: { kind: "leg", worker_id: r.worker_id, colour: S.colours.get(r.worker_id), dashed: S.dashed.has(r.worker_id) } });
    }
  }
  const unassigned = (S.plan?.unassigned || []).map((u) => ({ ...u, ...where(u.visit_id, u.household_id) }))
    .filter((u) => u.lat !== undefined);
  return { streets: S.streets, legs, stops, unassigned, households: [...S.households.values()] };
}

/** A field worker's half has no seat number: put hers on the left. */
function jointSeat(visitId, workerId) {
  return Math.max(0, halves(visitId).findIndex((h) => h.route.worker_id === workerId));
}

function render() {
  renderKpis();
  renderLegend();
  renderTimelineRows();
  renderUnassigned();
  if (S.map) S.map.show(mapData());
  const straight = S.geo?.properties?.geometry === "straight_lines" ||
    (S.geo?.features || []).some((f) => f.properties.kind === "leg" && f.properties.along_streets === false);
  if (S.map?.kind === "maplibre") mapNote(straight ? t("straight_lines") : "");
  if (S.plan) {
    say(`v${S.plan.version ?? ""} · ${S.plan.published ? t("published") : t("unpublished")}`);
  }
}

function renderKpis() {
  const k = S.plan?.kpis;
  const list = $("kpi-list");
  list.replaceChildren();
  $("kpis").hidden = !k;
  if (!k) return;
  const travelMin = Math.round((k.travel_s || 0) / 60);
  const items = [
    ["kpi_assigned", `${k.visits_assigned}/${k.visits_total}`],
    ["kpi_unassigned", String(k.visits_unassigned)],
    ["kpi_coverage", `${(Math.floor((k.risk_weighted_coverage || 0) * 1000) / 10).toFixed(1)}%`],
    ["kpi_travel", t("hours", { h: Math.floor(travelMin / 60), m: travelMin % 60 })],
    ["kpi_mandatory", String(k.mandatory_unassigned ?? 0)],
    ["kpi_urgent", String(k.urgent_unassigned ?? 0)],
    ["kpi_violations", String(S.plan.meta?.violations ?? 0)],
  ];
  for (const [key, value] of items) {
    list.append(el("div", { class: "kpi", "data-kpi": key }, el("dt", { textContent: t(key) }), el("dd", { textContent: value })));
  }
}

function renderLegend() {
  const box = $("legend");
  box.replaceChildren();
  const tiers = el("ul", { class: "legend-tiers", "aria-label": t("households") });
  for (const tier of ["urgent", "intensive", "regular", "self_care"]) {
    const dot = el("span", { class: "dot" });
    dot.style.backgroundColor = TIER_COLOURS[tier];
    tiers.append(el("li", {}, dot, tierWord(tier)));
  }
  const mark = el("span", { class: "unassigned-marker static", textContent: "!" });
  tiers.append(el("li", {}, mark, t("unassigned_mark")));
  const routes = el("ul", { class: "legend-routes", "aria-label": t("routes") });
  for (const r of S.plan?.routes || []) {
    if (!r.stops.length) continue;
    const sw = el("span", { class: `swatch route-swatch${S.dashed.has(r.worker_id) ? " dashed" : ""}`, "data-worker-id": r.worker_id });
    sw.style.backgroundColor = S.colours.get(r.worker_id);
    routes.append(el("li", {}, sw, workerName(r.worker_id)));
  }
  box.append(tiers, routes);
}

function renderTimelineRows() {
  const rows = [];
  const routes = new Map((S.plan?.routes || []).map((r) => [r.worker_id, r]));
  if (!S.plan) {
    $("timeline").replaceChildren();
    return;
  }
  for (const id of S.order) {
    if (!routes.has(id) && role() === "field_worker") continue;
    rows.push({ worker_id: id, name: workerName(id), colour: S.colours.get(id), route: routes.get(id), worker: S.workers.get(id) });
  }
  renderTimeline($("timeline"), rows, {
    date: S.date,
    onStop: (id, workerId) => select(id, workerId),
    onDrop: (visitId, workerId, position, fromWorker) => {
      select(visitId, fromWorker);
      proposeMove(visitId, workerId, position);
    },
    draggable: canEdit(),
    selected: S.selected,
    linkColour,
  });
  if (canEdit()) $("timeline").setAttribute("aria-description", t("drag_hint"));
}

function renderUnassigned() {
  const list = $("unassigned-list");
  list.replaceChildren();
  for (const u of S.plan?.unassigned || []) {
    const hh = S.households.get(u.household_id);
    const head = el("button", {
      type: "button", class: "link",
      textContent: `${hh?.dong || u.household_id} · ${tierWord(hh?.risk_tier)}${u.urgent ? ` · ${t("t_urgent")}` : ""}`,
      on: { click: () => select(u.visit_id) },
    });
    const joint = S.requests.get(u.visit_id)?.crew?.length;
    const gist = jointGist(u.detail);
    const item = el("li", { "data-visit-id": u.visit_id, class: joint ? "joint" : "" },
      head, " ", joint ? el("span", { class: "joint-badge static", title: t("joint"), textContent: "2" }) : null,
      " ", el("strong", { class: "reason", textContent: word("r", u.reason) }),
      gist ? el("span", { class: "joint-reason", textContent: ` — ${gist}` }) : null,
      el("p", { class: "detail", textContent: sentence(u.detail) }));
    if (S.fitsAvailable) {
      item.append(el("div", { class: "fits" }, el("span", { textContent: `${t("fit_title")}:` }),
        el("ul", {}, fitLines(S.fits.get(u.visit_id)))));
    }
    list.append(item);
  }
  $("unassigned").hidden = !(S.plan?.unassigned?.length) || role() === "field_worker";
}

S.hooks = { loadDay, loadPlan, showDiff };
start().catch(failed);
