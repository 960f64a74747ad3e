// Inline-SVG charts: no chart library to ship.
import { t } from "./i18n.js";
import { h, svg } from "./ui.js";

export const PALETTE = ["#2dd4bf", "#7cc4ff", "#fb923c", "#f43f5e", "#a78bfa", "#facc15", "#34d399", "#f472b6", "#94a3b8", "#60a5fa"];

// A round step of 1, 2 or 5 times a power of ten covering v.
function niceStep(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v);
}
const niceMax = (v) => niceStep(v);

/** Stacked columns: rows [{label, values: {series: n}}], series in order. */
export function stackedColumns(rows, series, { height = 240 } = {}) {
  const W = 1200, H = height, left = 34, bottom = 26, top = 10;
  const totals = rows.map((r) => series.reduce((s, k) => s + (r.values[k] || 0), 0));
  const max = 4 * Math.max(1, niceStep(Math.max(0, ...totals) / 4));   // four round, whole gridline steps
  const plotH = H - bottom - top;
  const slot = (W - left) / Math.max(rows.length, 1);
  const bw = Math.min(38, slot * 0.7);
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    chart.append(svg("line", { x1: left, x2: W, y1: y, y2: y, class: i ? "gridline" : "axis" }),
      svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(Math.round((max * i) / 4))));
  }
  rows.forEach((r, i) => {
    let y = top + plotH;
    const x = left + slot * i + (slot - bw) / 2;
    series.forEach((k, si) => {
      const v = r.values[k] || 0;
      if (!v) return;
      const bh = (plotH * v) / max;
      y -= bh;
      chart.append(svg("rect", { x, y, width: bw, height: Math.max(bh - 1, 0.5), rx: 2, fill: PALETTE[si % PALETTE.length] },
        svg("title", {}, `${r.label} · ${k}: ${v}`)));
    });
    if (rows.length <= 16 || i % Math.ceil(rows.length / 16) === 0) {
      chart.append(svg("text", { x: x + bw / 2, y: H - 8, "text-anchor": "middle" }, r.label));
    }
  });
  return h("div", {}, chart, legend(series));
}

export function legend(series) {
  return h("div.legend", {}, series.map((k, i) => h("span", {}, h("i", { style: { background: PALETTE[i % PALETTE.length] } }), k)));
}

/** Horizontal bars: items [{label, value, text}], value in 0..max. */
export function hbars(items, { max = null, color = PALETTE[0], colorOf = null } = {}) {
  if (!items.length) return h("div.empty", {}, t("No data in this period."));
  const W = 520, row = 28, left = 150, right = 70;
  const H = items.length * row + 6;
  const top = max ?? niceMax(Math.max(0, ...items.map((i) => i.value)));
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  items.forEach((it, i) => {
    const y = i * row + 4;
    const w = ((W - left - right) * Math.max(0, it.value)) / (top || 1);
    chart.append(
      svg("text", { x: left - 8, y: y + 15, "text-anchor": "end" }, it.label),
      svg("rect", { x: left, y: y + 3, width: W - left - right, height: 16, rx: 3, fill: "rgba(148,163,184,.08)" }),
      svg("rect", { x: left, y: y + 3, width: Math.max(w, 1), height: 16, rx: 3, fill: colorOf ? colorOf(it) : color }),
      svg("text", { x: left + (W - left - right) + 8, y: y + 15 }, it.text ?? String(it.value)));
  });
  return chart;
}
