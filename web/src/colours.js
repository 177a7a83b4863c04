// Route colours: one per worker, distinct hues, each dark enough for white stop numbers (WCAG 4.5:1) and
// for a line on the light map background (3:1), whatever the number of workers.

function channel(c) {
  const v = c / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

/** WCAG relative luminance of an `[r, g, b]` colour (0-255). */
export function luminance([r, g, b]) {
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

function hsl(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [f(0), f(8), f(4)].map((v) => Math.round(v * 255));
}

export function hex([r, g, b]) {
  return `#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/** `n` route colours: golden-angle hues, lightness found so that luminance is about 0.11 (contrast 6:1 with white). */
export function routeColours(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const h = (i * 137.508 + 10) % 360;
    const s = i % 2 ? 0.6 : 0.85;
    let [lo, hi] = [0, 0.6];
    for (let step = 0; step < 24; step++) {
      const mid = (lo + hi) / 2;
      if (luminance(hsl(h, s, mid)) > 0.11) hi = mid;
      else lo = mid;
    }
    out.push(hex(hsl(h, s, lo)));
  }
  return out;
}
