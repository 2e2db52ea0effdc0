// Small live CPU % charts, one per host card, drawn with uPlot.
//
// With 100+ hosts each reporting about once a second, redrawing every chart on every
// message would keep the main thread busy. So points are buffered as they arrive, and
// a shared ChartPool redraws the charts that changed at most once per
// REDRAW_INTERVAL_MS, and only those on (or near) the screen. A chart's uPlot
// instance is created the first time its card scrolls into view, and its history is
// fetched then too, so a large fleet costs nothing for the cards nobody looks at.

import uPlot from "../vendor/uPlot.esm.js";

/** The charts show the last five minutes. */
export const WINDOW_S = 300;
const REDRAW_INTERVAL_MS = 1000;
const CHART_HEIGHT = 84;
const AXIS_FONT = "10px system-ui, sans-serif";

// Canvas cannot use CSS variables, so the colours are read from style.css once and
// again whenever the colour scheme flips. uPlot calls the stroke/fill functions below
// on every draw, so a redraw is all a theme change needs.
const theme = { line: "#2f6fdb", fill: "rgba(47,111,219,0.15)", axis: "#666", grid: "#ddd" };

function readTheme() {
  const css = getComputedStyle(document.documentElement);
  const get = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  theme.line = get("--chart-line", theme.line);
  theme.fill = get("--chart-fill", theme.fill);
  theme.axis = get("--chart-axis", theme.axis);
  theme.grid = get("--chart-grid", theme.grid);
}

function plotOptions(width) {
  const axis = {
    stroke: () => theme.axis,
    font: AXIS_FONT,
    gap: 2,
    ticks: { show: false },
    grid: { stroke: () => theme.grid, width: 1 },
  };
  return {
    width,
    height: CHART_HEIGHT,
    // Fixed padding: uPlot's automatic padding reserves room for the widest
    // possible end label and wastes a quarter of a narrow chart.
    padding: [8, 14, 0, 0],
    legend: { show: false },
    cursor: { show: false },
    select: { show: false },
    scales: {
      // The window ends at the newest point, not at the browser's "now": a browser
      // clock that disagrees with the hosts' must not push the line off the chart.
      x: {
        time: true,
        range: (u, min, max) => {
          const hi = max ?? Date.now() / 1000;
          return [hi - WINDOW_S, hi];
        },
      },
      y: { range: [0, 100] },
    },
    axes: [
      // Hours and minutes only: the default adds a date line that a 84 px chart
      // has no room for, and the window is always the last five minutes anyway.
      // Minute steps: uPlot's next step after one minute is five, which would leave
      // a single label on a five-minute chart.
      { ...axis, size: 18, space: 40, incrs: [60, 120, 300], values: "{HH}:{mm}" },
      {
        ...axis,
        size: 34,
        splits: () => [0, 50, 100],
        // No "0%": it would sit on the time labels; the baseline speaks for itself.
        values: (u, splits) => splits.map((v) => (v === 0 ? "" : `${v}%`)),
      },
    ],
    series: [
      {},
      {
        label: "CPU %",
        stroke: () => theme.line,
        fill: () => theme.fill,
        width: 1.5,
        points: { show: false },
      },
    ],
  };
}

/** The buffered points of one host and, once visible, its uPlot instance. */
export class CpuChart {
  constructor(el, pool) {
    this.el = el;
    this.pool = pool;
    this.xs = []; // seconds, ascending
    this.ys = []; // percent or null
    this.plot = null;
    this.visible = false;
    this.needsSeed = true;
    pool.register(this);
  }

  /** A live point from a `host` message; out-of-order or repeated points are dropped. */
  append(tSec, percent) {
    const last = this.xs.length ? this.xs[this.xs.length - 1] : -Infinity;
    if (!(tSec > last)) return;
    this.xs.push(tSec);
    this.ys.push(percent);
    this.trim();
    this.pool.markDirty(this);
  }

  /**
   * History from the REST API, merged by time with what is already buffered: live
   * points may have arrived while the request was in flight, and after a reconnect the
   * history fills the gap between old and new live points. On equal times the
   * buffered (live) point wins.
   */
  seed([xs, ys]) {
    const outX = [];
    const outY = [];
    let i = 0;
    let j = 0;
    while (i < xs.length || j < this.xs.length) {
      const takeHistory = j >= this.xs.length || (i < xs.length && xs[i] < this.xs[j]);
      if (takeHistory) {
        outX.push(xs[i]);
        outY.push(ys[i]);
        i += 1;
      } else {
        if (i < xs.length && xs[i] === this.xs[j]) i += 1;
        outX.push(this.xs[j]);
        outY.push(this.ys[j]);
        j += 1;
      }
    }
    this.xs = outX;
    this.ys = outY;
    this.trim();
    this.pool.markDirty(this);
  }

  /** Drop points that have scrolled out of the window, so memory stays bounded. */
  trim() {
    if (!this.xs.length) return;
    const min = this.xs[this.xs.length - 1] - WINDOW_S;
    let i = 0;
    while (i < this.xs.length && this.xs[i] < min) i += 1;
    if (i > 0) {
      this.xs.splice(0, i);
      this.ys.splice(0, i);
    }
  }

  draw() {
    // uPlot keeps the arrays it is given and may redraw from them at any time (a
    // resize, a theme change): hand it copies so append/trim between our throttled
    // draws never leave it reading half-updated columns.
    const data = [this.xs.slice(), this.ys.slice()];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    const width = this.el.clientWidth;
    if (width === 0) return; // not laid out yet; the resize observer will call again
    this.plot = new uPlot(plotOptions(width), data, this.el);
  }

  resize() {
    const width = this.el.clientWidth;
    if (this.plot && width > 0 && width !== this.plot.width) {
      this.plot.setSize({ width, height: CHART_HEIGHT });
    } else if (!this.plot && this.visible) {
      this.draw();
    }
  }

  destroy() {
    this.pool.unregister(this);
    this.plot?.destroy();
    this.plot = null;
  }
}

/** Shared scheduling for all charts: visibility, throttled redraws, resizes, theme. */
export class ChartPool {
  /** `onNeedSeed(chart)` is called when a chart without history first becomes visible. */
  constructor(onNeedSeed) {
    this.onNeedSeed = onNeedSeed;
    this.byEl = new Map();
    this.dirty = new Set();
    this.timer = null;
    this.lastFlush = 0;
    readTheme();

    // A margin so charts just below the fold are ready before they are scrolled to.
    this.visibility = new IntersectionObserver((entries) => this.onIntersect(entries), {
      rootMargin: "200px",
    });
    this.sizes = new ResizeObserver((entries) => {
      for (const e of entries) this.byEl.get(e.target)?.resize();
    });
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      readTheme();
      for (const chart of this.byEl.values()) chart.plot?.redraw();
    });
  }

  register(chart) {
    this.byEl.set(chart.el, chart);
    this.visibility.observe(chart.el);
    this.sizes.observe(chart.el);
  }

  unregister(chart) {
    this.byEl.delete(chart.el);
    this.dirty.delete(chart);
    this.visibility.unobserve(chart.el);
    this.sizes.unobserve(chart.el);
  }

  /**
   * After the live connection had a gap: fetch history again for the charts on screen
   * now, and for the others when they next scroll into view.
   */
  reseedAll() {
    for (const chart of this.byEl.values()) {
      if (chart.visible) this.onNeedSeed(chart);
      else chart.needsSeed = true;
    }
  }

  onIntersect(entries) {
    for (const e of entries) {
      const chart = this.byEl.get(e.target);
      if (!chart) continue;
      chart.visible = e.isIntersecting;
      if (!chart.visible) continue;
      if (chart.needsSeed) {
        chart.needsSeed = false;
        this.onNeedSeed(chart);
      }
      if (!chart.plot) this.dirty.add(chart);
      if (this.dirty.has(chart)) this.schedule();
    }
  }

  markDirty(chart) {
    this.dirty.add(chart);
    if (chart.visible) this.schedule();
  }

  schedule() {
    if (this.timer !== null) return;
    const wait = Math.max(0, this.lastFlush + REDRAW_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = null;
    this.lastFlush = performance.now();
    // Off-screen charts stay dirty and are drawn when they scroll into view.
    for (const chart of this.dirty) {
      if (!chart.visible) continue;
      this.dirty.delete(chart);
      chart.draw();
    }
  }
}
