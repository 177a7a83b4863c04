// The map: MapLibre GL (WebGL) with no tiles unless a tile URL is configured; Leaflet when WebGL is missing.
// Both draw the same picture: streets, each worker's legs in its colour, numbered stops (HTML markers, so
// digits and Hangul need no glyph server), households by risk tier, unassigned households ringed.

import * as maplibregl from "maplibre-gl";
import { t, word } from "./i18n.js";

export const BACKGROUND = "#f7f6f2";
export const STREET = "#d3d0c8";
export const TIER_COLOURS = {
  urgent: "#b3001b",
  intensive: "#d9480f",
  regular: "#1864ab",
  self_care: "#2b8a3e",
  unknown: "#6c6c6c",
};

export function hasWebGL() {
  try {
    const c = document.createElement("canvas");
    return Boolean(c.getContext("webgl2") || c.getContext("webgl"));
  } catch {
    return false;
  }
}

/** A stop marker: a real button (keyboard reachable, labelled) with the stop's number. */
export function stopElement(stop, onStop) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "stop-marker";
  el.textContent = String(stop.n);
  el.style.backgroundColor = stop.color;
  el.dataset.visitId = stop.visit_id;
  el.dataset.workerId = stop.worker_id || "";
  el.setAttribute("aria-label", `${stop.worker_name} · ${t("stop_n", { n: stop.n })}${stop.joint ? ` · ${t("joint")}` : ""}`);
  if (stop.joint) {
    // A joint visit: one marker per half, side by side, each with a double ring in the visit's link colour
    // and a "2" badge; hovering one lights up the other.
    el.classList.add("joint");
    el.style.setProperty("--link", stop.link);
    el.dataset.joint = stop.visit_id;
    const badge = document.createElement("span");
    badge.className = "joint-badge";
    badge.setAttribute("aria-hidden", "true");
    badge.textContent = "2";
    el.append(badge);
    el.addEventListener("mouseenter", () => linkHalves(stop.visit_id, true));
    el.addEventListener("mouseleave", () => linkHalves(stop.visit_id, false));
    el.addEventListener("focus", () => linkHalves(stop.visit_id, true));
    el.addEventListener("blur", () => linkHalves(stop.visit_id, false));
  }
  el.addEventListener("click", (ev) => {
    ev.stopPropagation();
    onStop(stop.visit_id, stop.worker_id);
  });
  return el;
}

/** Light up (or not) every half of joint visit `visitId`: its markers on the map and its timeline blocks. */
export function linkHalves(visitId, on) {
  for (const node of document.querySelectorAll(`[data-joint="${CSS.escape(visitId)}"]`)) node.classList.toggle("linked", on);
}

/** Where a joint visit's half sits beside its partner's (pixels), so both markers show at one household. */
export function jointOffset(stop) {
  return stop.joint ? [stop.seat % 2 ? 12 : -12, 0] : [0, 0];
}

function unassignedElement(u, onHousehold) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "unassigned-marker";
  el.textContent = "!";
  el.dataset.visitId = u.visit_id;
  el.setAttribute("aria-label", `${t("unassigned_mark")}: ${u.visit_id}`);
  el.addEventListener("click", (ev) => {
    ev.stopPropagation();
    onHousehold(u.household_id, u.visit_id);
  });
  return el;
}

function bounds(points) {
  let [w, s, e, n] = [180, 90, -180, -90];
  for (const [lon, lat] of points) {
    w = Math.min(w, lon); e = Math.max(e, lon); s = Math.min(s, lat); n = Math.max(n, lat);
  }
  return w <= e ? [[w, s], [e, n]] : null;
}

function allPoints(data) {
  const pts = data.households.map((h) => [h.lon, h.lat]);
  for (const s of data.stops) pts.push([s.lon, s.lat]);
  for (const f of data.legs.features) for (const c of f.geometry.coordinates) pts.push(c);
  return pts;
}

const empty = () => ({ type: "FeatureCollection", features: [] });

function householdsGeoJSON(households) {
  return {
    type: "FeatureCollection",
    features: households.map((h) => ({
      type: "Feature",
      geometry: { type: "Point", coordinates: [h.lon, h.lat] },
      properties: { id: h.id, tier: h.risk_tier || "unknown", colour: TIER_COLOURS[h.risk_tier] || TIER_COLOURS.unknown },
    })),
  };
}

/** One label per dong, at the mean position of its households. */
function dongLabels(households) {
  const sums = new Map();
  for (const h of households) {
    if (!h.dong) continue;
    const s = sums.get(h.dong) || { lon: 0, lat: 0, n: 0 };
    s.lon += h.lon;
    s.lat += h.lat;
    s.n += 1;
    sums.set(h.dong, s);
  }
  return {
    type: "FeatureCollection",
    features: [...sums].map(([name, s]) => ({
      type: "Feature", geometry: { type: "Point", coordinates: [s.lon / s.n, s.lat / s.n] }, properties: { name },
    })),
  };
}

class MapLibreView {
  constructor(el, opts) {
    this.opts = opts;
    this.markers = [];
    const style = {
      version: 8,
      sources: {},
      layers: [{ id: "background", type: "background", paint: { "background-color": BACKGROUND } }],
    };
    if (opts.tileUrl) {
      style.sources.tiles = { type: "raster", tiles: [opts.tileUrl], tileSize: 256, attribution: opts.tileAttribution || "" };
      style.layers.push({ id: "tiles", type: "raster", source: "tiles", paint: { "raster-opacity": 0.6 } });
    }
    const worker = document.querySelector('meta[name="maplibre-worker"]');
    if (worker) maplibregl.setWorkerUrl(new URL(worker.content, document.baseURI).href);
    this.map = new maplibregl.Map({
      container: el,
      style,
      center: [126.94, 37.47],
      zoom: 12,
      localIdeographFontFamily: "'NanumGothic', 'Nanum Gothic', 'Noto Sans CJK KR', sans-serif",
      attributionControl: false,
      fadeDuration: 0,
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    el.salpimiMap = this.map; // for the browser tests: what is drawn, layer by layer
    this.ready = new Promise((resolve) => this.map.on("load", resolve)).then(() => this.addLayers());
  }

  addLayers() {
    const m = this.map;
    m.addSource("streets", { type: "geojson", data: empty() });
    m.addSource("legs", { type: "geojson", data: empty() });
    m.addSource("households", { type: "geojson", data: empty() });
    m.addLayer({ id: "streets", type: "line", source: "streets", paint: { "line-color": STREET, "line-width": 1.2 } });
    // Dong names in Hangul: MapLibre 6 draws the text with the local font (no glyphs URL, nothing fetched).
    m.addSource("dongs", { type: "geojson", data: empty() });
    m.addLayer({
      id: "dongs", type: "symbol", source: "dongs",
      layout: { "text-field": ["get", "name"], "text-size": 13, "text-allow-overlap": false },
      paint: { "text-color": "#6b6b6b", "text-halo-color": BACKGROUND, "text-halo-width": 1.5 },
    });
    m.addLayer({
      id: "households", type: "circle", source: "households",
      paint: { "circle-radius": 3.5, "circle-color": ["get", "colour"], "circle-opacity": 0.75 },
    });
    m.addLayer({
      id: "legs", type: "line", source: "legs",
      layout: { "line-join": "round", "line-cap": "round" },
      paint: {
        "line-color": ["get", "colour"], "line-width": 3, "line-opacity": 0.85,
        "line-dasharray": ["case", ["get", "dashed"], ["literal", [2, 1.2]], ["literal", [1, 0]]],
      },
    });
    m.on("click", "households", (ev) => {
      const f = ev.features && ev.features[0];
      if (f) this.opts.onHousehold(f.properties.id, null);
    });
    m.on("mouseenter", "households", () => { m.getCanvas().style.cursor = "pointer"; });
    m.on("mouseleave", "households", () => { m.getCanvas().style.cursor = ""; });
  }

  async show(data) {
    await this.ready;
    this.map.getSource("streets").setData(data.streets || empty());
    this.map.getSource("legs").setData(data.legs);
    this.map.getSource("households").setData(householdsGeoJSON(data.households));
    this.map.getSource("dongs").setData(dongLabels(data.households));
    for (const mk of this.markers) mk.remove();
    this.markers = [];
    for (const u of data.unassigned) {
      this.markers.push(new maplibregl.Marker({ element: unassignedElement(u, this.opts.onHousehold) })
        .setLngLat([u.lon, u.lat]).addTo(this.map));
    }
    for (const s of data.stops) {
      this.markers.push(new maplibregl.Marker({ element: stopElement(s, this.opts.onStop), offset: jointOffset(s) })
        .setLngLat([s.lon, s.lat]).addTo(this.map));
    }
    const b = bounds(allPoints(data));
    if (b && data.fit !== false) this.map.fitBounds(b, { padding: { top: 30, left: 30, right: 50, bottom: 40 }, duration: 0, maxZoom: 16 });
  }

  /** Bring one worker's route forward (the others fade); null shows every route alike. */
  async highlight(workerId) {
    await this.ready;
    const opacity = workerId ? ["case", ["==", ["get", "worker_id"], workerId], 0.95, 0.2] : 0.85;
    this.map.setPaintProperty("legs", "line-opacity", opacity);
  }

  /** Resolves once the map has drawn everything it was given (the tests wait on it). */
  async idle() {
    await this.ready;
    if (this.map.loaded() && !this.map.isMoving()) return;
    await new Promise((resolve) => this.map.once("idle", resolve));
  }

  resize() {
    this.map.resize();
  }
}

/** The map for `el`: MapLibre when WebGL works, else Leaflet (loaded only then), else null. */
export async function createMap(el, opts) {
  if (hasWebGL()) {
    try {
      const view = new MapLibreView(el, opts);
      view.kind = "maplibre";
      return view;
    } catch (e) {
      console.warn("MapLibre failed, falling back to Leaflet", e?.constructor?.name);
    }
  }
  try {
    const { LeafletView } = await import("./map_leaflet.js");
    const view = new LeafletView(el, opts);
    view.kind = "leaflet";
    return view;
  } catch {
    return null;
  }
}

export function tierWord(tier) {
  return word("t", tier || "unknown");
}
