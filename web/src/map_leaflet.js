// The fallback map for browsers without WebGL: Leaflet drawing the same layers as SVG, no tiles by default.

import * as L from "leaflet";
import { BACKGROUND, STREET, TIER_COLOURS, jointOffset, stopElement } from "./map.js";
import { t } from "./i18n.js";

export class LeafletView {
  constructor(el, opts) {
    this.opts = opts;
    el.style.background = BACKGROUND;
    this.map = L.map(el, { attributionControl: false, preferCanvas: false }).setView([37.47, 126.94], 13);
    if (opts.tileUrl) L.tileLayer(opts.tileUrl, { opacity: 0.6 }).addTo(this.map);
    this.layer = L.layerGroup().addTo(this.map);
  }

  async show(data) {
    this.layer.clearLayers();
    if (data.streets) L.geoJSON(data.streets, { style: { color: STREET, weight: 1 }, interactive: false }).addTo(this.layer);
    for (const h of data.households) {
      L.circleMarker([h.lat, h.lon], { radius: 4, color: TIER_COLOURS[h.risk_tier] || TIER_COLOURS.unknown, weight: 1, fillOpacity: 0.7 })
        .on("click", () => this.opts.onHousehold(h.id, null)).addTo(this.layer);
    }
    L.geoJSON(data.legs, { style: (f) => ({ color: f.properties.colour, weight: 3, opacity: 0.85, dashArray: f.properties.dashed ? "6 4" : null }) }).addTo(this.layer);
    for (const u of data.unassigned) {
      const icon = L.divIcon({ className: "unassigned-marker", html: "!", iconSize: [20, 20] });
      L.marker([u.lat, u.lon], { icon, title: t("unassigned_mark"), keyboard: true })
        .on("click", () => this.opts.onHousehold(u.household_id, u.visit_id)).addTo(this.layer);
    }
    for (const s of data.stops) {
      // The marker's element itself (a labelled button), not HTML text: the CSP refuses style attributes.
      const el = stopElement(s, this.opts.onStop);
      const [dx, dy] = jointOffset(s);
      const icon = L.divIcon({ className: "leaflet-stop", html: el, iconSize: [22, 22], iconAnchor: [11 - dx, 11 - dy] });
      L.marker([s.lat, s.lon], { icon, keyboard: false }).addTo(this.layer);
    }
    const pts = data.households.map((h) => [h.lat, h.lon]).concat(data.stops.map((s) => [s.lat, s.lon]));
    if (pts.length && data.fit !== false) this.map.fitBounds(pts, { padding: [20, 20] });
  }

  async highlight() {}

  async idle() {}

  resize() {
    this.map.invalidateSize();
  }
}
