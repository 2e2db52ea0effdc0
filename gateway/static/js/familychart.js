// One chart of the host page: several series of one family (e.g. every core's CPU)
// on a shared time axis, drawn with uPlot. The page hands it labelled columns; the
// chart aligns them, keeps the x range the page chose and follows its width.

import uPlot from "../vendor/uPlot.esm.js";
import { h } from "./card.js";
import { UNITS, describeStep } from "./families.js";

const HEIGHT = 170;
const AXIS_FONT = "11px system-ui, sans-serif";
/** More series than this (a 64-core CPU) and only the first ones get a legend entry. */
const MAX_SERIES = 40;

// Canvas cannot read CSS variables, so colours are read from style.css, and again
// when the colour scheme flips (the stroke functions are called on every draw).
const theme = { axis: "#666", grid: "#ddd", palette: [] };
function readTheme() {
  const css = getComputedStyle(document.documentElement);
  theme.axis = css.getPropertyValue("--chart-axis").trim() || theme.axis;
  theme.grid = css.getPropertyValue("--chart-grid").trim() || theme.grid;
  theme.palette = [];
  for (let i = 1; i <= 8; i += 1) theme.palette.push(css.getPropertyValue(`--series-${i}`).trim() || "#2f6fdb");
}
readTheme();
/** Charts on screen, so a colour-scheme flip can redraw them. */
const charts = new Set();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
  readTheme();
  for (const chart of charts) chart.redraw();
});

/** Opacity of an expected band under its series' line. */
const BAND_ALPHA = 0.16;

/** Spacing beyond this many typical steps is a gap (host down, agent stopped). */
const GAP_STEPS = 3;

/**
 * Inserts a null after a point followed by a gap, so the line breaks there instead
 * of bridging hours without data with a straight line.
 */
function breakGaps(xs, ys) {
  if (xs.length < 3) return { xs, ys };
  const steps = [];
  for (let i = 1; i < xs.length; i += 1) steps.push(xs[i] - xs[i - 1]);
  steps.sort((a, b) => a - b);
  const limit = steps[steps.length >> 1] * GAP_STEPS;
  const outX = [xs[0]];
  const outY = [ys[0]];
  for (let i = 1; i < xs.length; i += 1) {
    if (xs[i] - xs[i - 1] > limit) {
      outX.push(xs[i - 1] + limit / GAP_STEPS);
      outY.push(null);
    }
    outX.push(xs[i]);
    outY.push(ys[i]);
  }
  return { xs: outX, ys: outY };
}

/**
 * Aligns columns with different timestamps into uPlot's layout. A series without a
 * point at some time gets `undefined` there, which uPlot bridges, while a stored
 * null (no value) stays a gap.
 */
function align(series) {
  const times = new Set();
  for (const s of series) for (const t of s.xs) times.add(t);
  const xs = [...times].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const cols = series.map((s) => {
    const col = new Array(xs.length).fill(undefined);
    for (let i = 0; i < s.xs.length; i += 1) col[index.get(s.xs[i])] = s.ys[i];
    return col;
  });
  return [xs, ...cols];
}

export class FamilyChart {
  /** `range()` returns the x range to show, [fromSec, toSec]. */
  constructor(family, range) {
    this.family = family;
    this.range = range;
    this.format = UNITS[family.unit] ?? UNITS.count;
    this.plot = null;
    this.labels = "";
    this.stepEl = h("span", { class: "chart-step" });
    this.bands = [];
    this.bandKeyEl = h("span", {
      class: "chart-band-key",
      text: "expected",
      title: "Shaded: where the anomaly detector expects each value (no evidence inside it)",
    });
    this.bandKeyEl.hidden = true;
    this.emptyEl = h("p", { class: "chart-empty", text: "No data in this range" });
    this.emptyEl.hidden = true;
    this.plotEl = h("div", { class: "family-plot" });
    this.el = h(
      "section",
      { class: "family", "data-family": family.id },
      h("h3", { class: "family-title" }, h("span", { text: family.title }), this.bandKeyEl, this.stepEl),
      this.emptyEl,
      this.plotEl,
    );
    this.sizes = new ResizeObserver(() => this.resize());
    this.sizes.observe(this.plotEl);
    charts.add(this);
  }

  /** The chart's width in CSS pixels: what the page asks the server for as max_points. */
  get width() {
    return this.plotEl.clientWidth || 600;
  }

  /**
   * `series`: [{label, emphasise, xs (seconds), ys, band?}], already scaled; `band`:
   * [{x (seconds), lo, hi}] oldest first, each holding until the next, the last until
   * the series' newest point.
   */
  setData(series) {
    const shown = series.slice(0, MAX_SERIES).map((s) => ({ ...s, ...breakGaps(s.xs, s.ys) }));
    this.bands = shown
      .map((s, i) => (s.band?.length && s.xs.length ? { colour: i, band: s.band, end: s.xs[s.xs.length - 1] } : null))
      .filter(Boolean);
    this.bandKeyEl.hidden = this.bands.length === 0;
    const data = align(shown);
    const longest = shown.reduce((a, s) => (s.xs.length > a.length ? s.xs : a), []);
    this.stepEl.textContent = describeStep(longest);
    this.stepEl.dataset.step = this.stepEl.textContent;
    this.emptyEl.hidden = data[0].length > 0;
    const labels = shown.map((s) => s.label).join("\n");
    if (this.plot && labels === this.labels) {
      this.plot.setData(data);
      return;
    }
    // A different set of series (a new device appeared): build the plot again.
    this.plot?.destroy();
    this.labels = labels;
    this.plot = new uPlot(this.options(shown), data, this.plotEl);
  }

  options(series) {
    const fmt = this.format;
    const axis = {
      stroke: () => theme.axis,
      font: AXIS_FONT,
      ticks: { show: false },
      grid: { stroke: () => theme.grid, width: 1 },
    };
    const fixedMax = this.family.max;
    return {
      width: this.width,
      height: HEIGHT,
      // Right padding: room for half of the newest time label.
      padding: [8, 22, 0, 0],
      cursor: { drag: { x: false, y: false } },
      select: { show: false },
      legend: { live: true },
      // After the grid, before the lines: bands sit behind what they explain.
      hooks: { drawAxes: [(u) => this.drawBands(u)] },
      scales: {
        x: { time: true, range: () => this.range() },
        y: {
          range: (u, min, max) => {
            const hi = fixedMax ?? (max > 0 ? max * 1.1 : 1);
            return [Math.min(0, min ?? 0), hi];
          },
        },
      },
      axes: [
        { ...axis, size: 30, space: 70 },
        { ...axis, size: 64, space: 30, values: (u, splits) => splits.map((v) => fmt(v)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: () => theme.palette[i % theme.palette.length],
          width: s.emphasise ? 2.2 : 1.2,
          points: { show: false },
          value: (u, v) => fmt(v),
        })),
      ],
    };
  }

  /** Fills each band as steps, clipped to the plot; counts the steps drawn. */
  drawBands(u) {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    const [xMin, xMax] = [u.scales.x.min, u.scales.x.max];
    let drawn = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.globalAlpha = BAND_ALPHA;
    for (const { colour, band, end } of this.bands) {
      ctx.fillStyle = theme.palette[colour % theme.palette.length];
      for (let k = 0; k < band.length; k += 1) {
        const x0 = Math.max(band[k].x, xMin);
        const x1 = Math.min(k + 1 < band.length ? band[k + 1].x : end, xMax);
        const { lo, hi } = band[k];
        if (!(x1 > x0) || !Number.isFinite(lo) || !Number.isFinite(hi)) continue;
        const px0 = u.valToPos(x0, "x", true);
        const px1 = u.valToPos(x1, "x", true);
        const pyHi = u.valToPos(hi, "y", true);
        const pyLo = u.valToPos(lo, "y", true);
        ctx.fillRect(px0, Math.min(pyHi, pyLo), Math.max(1, px1 - px0), Math.abs(pyLo - pyHi));
        drawn += 1;
      }
    }
    ctx.restore();
    this.el.dataset.bandSteps = String(drawn);
  }

  resize() {
    const width = this.plotEl.clientWidth;
    if (this.plot && width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: HEIGHT });
  }

  redraw() {
    this.plot?.redraw();
  }

  destroy() {
    charts.delete(this);
    this.sizes.disconnect();
    this.plot?.destroy();
    this.plot = null;
    this.el.remove();
  }
}
