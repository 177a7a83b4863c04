// The timeline: one row per worker with visits, travel, waiting, lunch and idle time on one time axis.
// Visits are buttons (keyboard and click open the details); a dispatcher may drag one onto another row.

import { t } from "./i18n.js";
import { linkHalves } from "./map.js";

const ms = (iso) => Date.parse(iso);
export const hhmm = (iso) => (iso ? iso.slice(11, 16) : "");
const atDay = (date, clock) => Date.parse(`${date}T${clock}:00+09:00`);

/** Segments of one worker's day: [{kind, start, end (ms), visit_id?, order?}] in time order. */
export function segments(route, worker, date) {
  const out = [];
  const shiftStart = worker?.shift_start ? atDay(date, worker.shift_start) : null;
  const shiftEnd = worker?.shift_end ? atDay(date, worker.shift_end) : null;
  if (!route || !route.stops?.length) {
    if (shiftStart && shiftEnd) out.push({ kind: "idle", start: shiftStart, end: shiftEnd });
    return out;
  }
  const dep = ms(route.departure);
  if (shiftStart && dep > shiftStart) out.push({ kind: "idle", start: shiftStart, end: dep });
  let legs = 0;
  route.stops.forEach((s, i) => {
    const arrival = ms(s.arrival);
    const travel = (s.travel_s || 0) * 1000;
    legs += s.travel_s || 0;
    if (travel > 0) out.push({ kind: "travel", start: arrival - travel, end: arrival });
    if (ms(s.start) > arrival) out.push({ kind: "wait", start: arrival, end: ms(s.start) });
    out.push({ kind: "visit", start: ms(s.start), end: ms(s.end), visit_id: s.visit_id, order: i + 1, stop: s });
  });
  const ret = ms(route.return);
  const home = Math.max(0, (route.travel_s || 0) - legs) * 1000;
  if (home > 0) out.push({ kind: "travel", start: ret - home, end: ret });
  if (route.break?.start) out.push({ kind: "break", start: ms(route.break.start), end: ms(route.break.end) });
  if (shiftEnd && shiftEnd > ret) out.push({ kind: "idle", start: ret, end: shiftEnd });
  return out.sort((a, b) => a.start - b.start || (a.kind === "break" ? 1 : -1));
}

/**
 * Draw the rows into `el`. `rows`: [{worker_id, name, colour, route, worker}]; `opts`: {date, onStop, onDrop,
 * draggable, selected}.
 */
export function renderTimeline(el, rows, opts) {
  el.replaceChildren();
  const all = rows.map((r) => ({ ...r, segs: segments(r.route, r.worker, opts.date) }));
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const r of all) for (const s of r.segs) { t0 = Math.min(t0, s.start); t1 = Math.max(t1, s.end); }
  if (!Number.isFinite(t0)) return;
  const hour = 3600e3;
  t0 = Math.floor((t0 + 9 * hour) / hour) * hour - 9 * hour; // whole hours in Seoul
  t1 = Math.ceil((t1 + 9 * hour) / hour) * hour - 9 * hour;
  const pct = (x) => `${(((x - t0) / (t1 - t0)) * 100).toFixed(3)}%`;

  const axis = document.createElement("div");
  axis.className = "tl-row tl-axis";
  axis.setAttribute("aria-hidden", "true");
  const axisName = document.createElement("div");
  axisName.className = "tl-name";
  const axisTrack = document.createElement("div");
  axisTrack.className = "tl-track";
  for (let x = t0; x <= t1; x += hour) {
    const tick = document.createElement("span");
    tick.className = "tl-tick";
    tick.style.left = pct(x);
    tick.textContent = `${String((new Date(x).getUTCHours() + 9) % 24).padStart(2, "0")}:00`;
    axisTrack.append(tick);
  }
  axis.append(axisName, axisTrack);
  el.append(axis);

  for (const r of all) {
    const row = document.createElement("div");
    row.className = "tl-row";
    row.dataset.workerId = r.worker_id;
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", r.name);
    const name = document.createElement("div");
    name.className = "tl-name";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.backgroundColor = r.colour;
    name.append(swatch, document.createTextNode(r.name));
    const track = document.createElement("div");
    track.className = "tl-track";
    for (const s of r.segs) {
      const seg = document.createElement(s.kind === "visit" ? "button" : "span");
      seg.className = `seg ${s.kind}`;
      seg.style.left = pct(s.start);
      seg.style.width = `${(((s.end - s.start) / (t1 - t0)) * 100).toFixed(3)}%`;
      const span = `${hhmm(new Date(s.start + 9 * hour).toISOString().replace("Z", "+09:00"))}–` +
        `${hhmm(new Date(s.end + 9 * hour).toISOString().replace("Z", "+09:00"))}`;
      if (s.kind === "visit") {
        seg.type = "button";
        seg.textContent = String(s.order);
        seg.style.backgroundColor = r.colour;
        seg.dataset.visitId = s.visit_id;
        const joint = Boolean(s.stop?.crew || s.stop?.with_roles?.length);
        seg.setAttribute("aria-label", `${r.name} · ${t("stop_n", { n: s.order })} · ${span}${joint ? ` · ${t("joint")}` : ""}`);
        seg.dataset.workerId = r.worker_id;
        if (joint) {
          // the halves of a joint visit: the same outline colour in both rows, a "2" badge, lit up together
          seg.classList.add("joint");
          seg.dataset.joint = s.visit_id;
          seg.style.setProperty("--link", opts.linkColour ? opts.linkColour(s.visit_id) : "#212529");
          const badge = document.createElement("span");
          badge.className = "joint-badge";
          badge.setAttribute("aria-hidden", "true");
          badge.textContent = "2";
          seg.append(badge);
          for (const [ev, on] of [["mouseenter", true], ["mouseleave", false], ["focus", true], ["blur", false]]) {
            seg.addEventListener(ev, () => linkHalves(s.visit_id, on));
          }
        }
        if (s.stop?.status && s.stop.status !== "open") seg.classList.add(`st-${s.stop.status}`);
        if (opts.selected === s.visit_id) seg.classList.add("selected");
        seg.addEventListener("click", () => opts.onStop(s.visit_id, r.worker_id));
        if (opts.draggable) {
          seg.draggable = true;
          seg.addEventListener("dragstart", (ev) => {
            ev.dataTransfer.setData("text/plain", `${s.visit_id}\n${r.worker_id}`);
            ev.dataTransfer.effectAllowed = "move";
          });
        }
      } else {
        seg.title = `${t(s.kind)} ${span}`;
      }
      track.append(seg);
    }
    if (opts.draggable) {
      track.addEventListener("dragover", (ev) => {
        ev.preventDefault();
        row.classList.add("drop");
      });
      track.addEventListener("dragleave", () => row.classList.remove("drop"));
      track.addEventListener("drop", (ev) => {
        ev.preventDefault();
        row.classList.remove("drop");
        const [visitId, fromWorker] = ev.dataTransfer.getData("text/plain").split("\n");
        const box = track.getBoundingClientRect();
        const when = t0 + ((ev.clientX - box.left) / box.width) * (t1 - t0);
        const before = r.segs.filter((s) => s.kind === "visit" && s.visit_id !== visitId && s.start < when).length;
        if (visitId) opts.onDrop(visitId, r.worker_id, before, fromWorker || null);
      });
    }
    row.append(name, track);
    el.append(row);
  }
}
