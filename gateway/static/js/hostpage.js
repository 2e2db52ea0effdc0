// The host page (#/host/NAME): the host's facts, one chart per metric family it
// has, a range picker, its top processes and its recent anomalies.
//
// Data: the family list comes from /api/v1/hosts/{host}/series; each range asks
// /api/v1/series once per metric name (host-filtered, all its series at once) with
// max_points ≈ the chart's width, so the server picks raw points or rollups. In live
// mode the WebSocket's `host` messages say new data was stored; the page then
// fetches only the span after its newest point, at most every LIVE_REFRESH_MS.
// Behind each chart's main series (the emphasised ones, or all of a family of few)
// it shades the detector's expected band from /api/v1/bands, one request per metric
// name with its series; in live mode again every BAND_REFRESH_MS (a band point is a
// minute's). The side panel shows the host's hourly cost from /api/v1/costs.

import { fetchBands, fetchEvents, fetchHostCost, fetchHostSeries, fetchProcesses, fetchSeries } from "./api.js";
import { describeRate, formatMoney } from "./costs.js";
import { h } from "./card.js";
import { EventFeed } from "./events.js";
import { FamilyChart } from "./familychart.js";
import { familiesFor } from "./families.js";
import { STALE_AFTER_MS, formatAgo, formatBytes, formatDuration, formatPercent } from "./format.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** The range buttons; `live` follows new data, the others are fixed spans ending now. */
export const RANGES = [
  { id: "live", label: "Live 15 m", span: 15 * MIN },
  { id: "1h", label: "1 h", span: HOUR },
  { id: "6h", label: "6 h", span: 6 * HOUR },
  { id: "24h", label: "24 h", span: DAY },
  { id: "7d", label: "7 d", span: 7 * DAY },
  { id: "30d", label: "30 d", span: 30 * DAY },
  { id: "custom", label: "Custom" },
];
/** Live mode fetches new points at most this often, however often hosts report. */
const LIVE_REFRESH_MS = 5000;
/** Series requests in flight at once. */
const CONCURRENCY = 4;
/**
 * /api/v1/hosts/{host}/processes is request/response (the edge asks the hub each
 * time), so the table is re-fetched on a timer while the page is open. Ten seconds
 * for a list of at most 20 rows is a small, bounded cost per open page.
 */
const PROCESSES_REFRESH_MS = 10_000;
const EVENTS_LIMIT = 50;
/** Live mode asks for bands again this often: the hub stores at most one point a minute. */
const BAND_REFRESH_MS = 60_000;
/** A family with more series than this and none emphasised shows no bands (clutter). */
const MAX_BANDED = 4;
/** The cost estimate moves with utilization only; re-read it this often. */
const COST_REFRESH_MS = 60_000;

const labelKey = (labels) =>
  Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/** "2026-11-23T08:15" in local time, what a datetime-local input shows. */
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * MIN);
  return d.toISOString().slice(0, 16);
}

/** Runs async jobs CONCURRENCY at a time. */
async function runLimited(jobs) {
  const queue = [...jobs];
  const worker = async () => {
    while (queue.length) await queue.shift()();
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
}

export class HostPage {
  /** `route`: {host, range, from, to} parsed from the URL; `onRangeChange(route)` rewrites it. */
  /** `fleetHref`: the fleet view (with its filter) that "← Fleet" returns to. */
  constructor(root, route, hostInfo, { onRangeChange, fleetHref = "#/" }) {
    this.root = root;
    this.name = route.host;
    this.onRangeChange = onRangeChange;
    this.fleetHref = fleetHref;
    this.bands = new Map(); // metric name → Map(label key → [{x (s), lo, hi}])
    this.lastBandFetch = 0;
    this.host = null;
    this.charts = new Map(); // family id → FamilyChart
    this.families = [];
    this.data = new Map(); // metric name → Map(label key → {series, xs, ys})
    this.generation = 0; // bumped on every range change; stale answers are dropped
    this.liveBusy = false;
    this.lastLiveFetch = 0;
    this.liveTimer = null;
    this.destroyed = false;
    this.setRange(route, false);
    this.build();
    if (hostInfo) this.update(hostInfo);
    this.start();
  }

  // --- Layout ---

  build() {
    this.titleEl = h("h2", { class: "host-title", text: this.name });
    this.simEl = h("span", { class: "sim-mark", text: "sim", title: "Simulated host: demo data" });
    this.simEl.hidden = true;
    this.factsEl = h("dl", { class: "host-facts" });
    this.liveEls = {};
    const liveRow = h("div", { class: "host-live" });
    for (const [id, label] of [["cpu", "CPU"], ["memory", "Memory"], ["disk", "Fullest disk"]]) {
      this.liveEls[id] = h("span", { class: "live-value", "data-live": id, text: "—" });
      liveRow.append(h("span", { class: "live-item" }, h("span", { class: "live-label", text: label }), this.liveEls[id]));
    }
    this.freshEl = h("span", { class: "fresh", "data-fresh": "" });
    this.completeEl = h("span", { class: "complete" });
    liveRow.append(this.freshEl, this.completeEl);

    this.rangeButtons = new Map();
    const buttons = RANGES.map((r) => {
      const b = h("button", { type: "button", class: "range-button", "data-range": r.id, text: r.label });
      b.addEventListener("click", () => this.pickRange(r.id));
      this.rangeButtons.set(r.id, b);
      return b;
    });
    this.fromInput = h("input", { type: "datetime-local", "aria-label": "From" });
    this.toInput = h("input", { type: "datetime-local", "aria-label": "To" });
    const apply = h("button", { type: "button", class: "range-button", text: "Show" });
    apply.addEventListener("click", () => this.applyCustom());
    this.customEl = h("span", { class: "range-custom" }, this.fromInput, h("span", { text: "–" }), this.toInput, apply);
    this.rangeStatusEl = h("span", { class: "range-status", role: "status" });

    this.chartsEl = h("div", { class: "family-grid" });
    this.chartsStatusEl = h("p", { class: "chart-empty", text: "Loading series…" });

    this.procStampEl = h("span", { class: "panel-note" });
    this.procBody = h("tbody");
    this.procStatusEl = h("p", { class: "panel-note", text: "Loading…" });
    const procTable = h(
      "table",
      { class: "proc-table", "data-processes": "" },
      h(
        "thead",
        {},
        h("tr", {}, ...["PID", "Name", "User", "CPU %", "Memory"].map((t) => h("th", { scope: "col", text: t }))),
      ),
      this.procBody,
    );
    const eventsEl = h("div", { class: "host-events", "data-panel": "host-events" });
    this.costEl = h("section", { class: "panel", "data-panel": "host-cost" });
    this.costEl.hidden = true;
    this.feed = new EventFeed(eventsEl, { onOpenChange: () => {} });

    this.root.replaceChildren(
      h(
        "header",
        { class: "host-head" },
        h("div", { class: "host-title-row" }, h("a", { class: "back", href: this.fleetHref, text: "← Fleet" }), this.titleEl, this.simEl),
        this.factsEl,
        liveRow,
      ),
      h("nav", { class: "range-bar", "aria-label": "Time range" }, ...buttons, this.customEl, this.rangeStatusEl),
      h(
        "div",
        { class: "host-body" },
        h("div", { class: "host-charts" }, this.chartsStatusEl, this.chartsEl),
        h(
          "aside",
          { class: "host-side" },
          h("section", { class: "panel" }, h("h3", { class: "panel-title" }, h("span", { text: "Top processes" }), this.procStampEl), this.procStatusEl, h("div", { class: "table-wrap" }, procTable)),
          this.costEl,
          h("section", { class: "panel" }, h("h3", { class: "panel-title", text: "Anomalies on this host" }), eventsEl),
        ),
      ),
    );
    this.renderRangeControls();
  }

  // --- Ranges ---

  /** Sets this.view = {id, fromMs, toMs} from a route; live and spans end now. */
  setRange(route, reload = true) {
    const id = RANGES.some((r) => r.id === route.range) ? route.range : "live";
    let fromMs;
    let toMs;
    if (id === "custom" && Number.isFinite(route.from) && Number.isFinite(route.to) && route.to > route.from) {
      fromMs = route.from;
      toMs = route.to;
    } else {
      const span = (RANGES.find((r) => r.id === id).span ?? HOUR);
      toMs = this.liveEnd();
      fromMs = toMs - span;
    }
    this.view = { id: id === "custom" && !(toMs > fromMs) ? "live" : id, fromMs, toMs };
    if (reload) {
      this.renderRangeControls();
      this.loadAll();
    }
  }

  /** The live window ends at the later of the browser's and the host's clock. */
  liveEnd() {
    return Math.max(Date.now(), this.host?.last_seen_ms ?? 0);
  }

  pickRange(id) {
    if (id === "custom") {
      // Open the inputs pre-filled with what is shown now; "Show" applies them.
      this.fromInput.value = localInput(this.view.fromMs);
      this.toInput.value = localInput(this.view.toMs);
      this.customEl.classList.add("open");
      this.fromInput.focus();
      return;
    }
    this.customEl.classList.remove("open");
    const route = { host: this.name, range: id };
    this.onRangeChange(route);
    this.setRange(route);
  }

  applyCustom() {
    const from = new Date(this.fromInput.value).getTime();
    const to = new Date(this.toInput.value).getTime();
    if (!(to > from)) {
      this.rangeStatusEl.textContent = "Custom range: “to” must be after “from”";
      return;
    }
    const route = { host: this.name, range: "custom", from, to };
    this.onRangeChange(route);
    this.setRange(route);
  }

  renderRangeControls() {
    for (const [id, b] of this.rangeButtons) b.setAttribute("aria-pressed", String(id === this.view.id));
    this.customEl.classList.toggle("open", this.view.id === "custom");
    if (this.view.id === "custom") {
      this.fromInput.value = localInput(this.view.fromMs);
      this.toInput.value = localInput(this.view.toMs);
    }
  }

  /** The x range the charts show, in seconds. */
  xRange() {
    return [this.view.fromMs / 1000, this.view.toMs / 1000];
  }

  // --- Loading ---

  async start() {
    this.loadEvents();
    this.loadProcesses();
    this.procTimer = setInterval(() => this.loadProcesses(), PROCESSES_REFRESH_MS);
    this.loadCost();
    this.costTimer = setInterval(() => this.loadCost(), COST_REFRESH_MS);
    // Relative times ("last seen 3 s ago") are re-rendered locally.
    this.tickTimer = setInterval(() => this.tick(), 1000);
    try {
      this.families = familiesFor(await fetchHostSeries(this.name));
    } catch (err) {
      this.chartsStatusEl.textContent = `Could not load this host's series: ${err.message}`;
      this.chartsStatusEl.classList.add("error");
      return;
    }
    if (this.destroyed) return;
    this.chartsStatusEl.hidden = this.families.length > 0;
    this.chartsStatusEl.textContent = "This host has sent no series yet.";
    for (const f of this.families) {
      const chart = new FamilyChart(f, () => this.xRange());
      this.charts.set(f.id, chart);
      this.chartsEl.append(chart.el);
    }
    this.loadAll();
  }

  /** Every metric of every family over the whole range, at the charts' resolution. */
  async loadAll() {
    const gen = ++this.generation;
    if (this.view.id !== "custom") {
      this.view.toMs = this.liveEnd();
      this.view.fromMs = this.view.toMs - RANGES.find((r) => r.id === this.view.id).span;
    }
    const { fromMs, toMs } = this.view;
    this.rangeStatusEl.textContent = "loading…";
    this.data.clear();
    let failed = 0;
    const jobs = this.families.flatMap((f) =>
      f.metrics.map((name) => async () => {
        try {
          const answer = await fetchSeries(this.name, name, fromMs, toMs, this.charts.get(f.id).width);
          if (gen !== this.generation || this.destroyed) return;
          this.store(name, answer, true);
          this.render(f);
          if (!this.wantsBands(f)) return;
          const bands = await this.fetchBandsOf(name, fromMs, toMs);
          if (gen !== this.generation || this.destroyed) return;
          this.storeBands(name, bands);
          this.render(f);
        } catch (err) {
          failed += 1;
          console.warn(`hostwatch: no ${name} history for ${this.name}: ${err.message}`);
        }
      }),
    );
    this.bands.clear();
    await runLimited(jobs);
    this.lastBandFetch = Date.now();
    if (gen !== this.generation || this.destroyed) return;
    // Families whose every request failed still get an (empty) draw.
    for (const f of this.families) this.render(f);
    this.lastLiveFetch = Date.now();
    const span = formatDuration(toMs - fromMs);
    this.rangeStatusEl.textContent = failed
      ? `${span} · ${failed} request(s) failed`
      : `${new Date(fromMs).toLocaleString()} – ${new Date(toMs).toLocaleString()} (${span})`;
  }

  /** Live mode: fetch only what is newer than each metric's newest point. */
  async loadNew() {
    if (this.view.id !== "live" || this.liveBusy || this.destroyed) return;
    this.liveBusy = true;
    this.lastLiveFetch = Date.now();
    const gen = this.generation;
    const toMs = this.liveEnd();
    try {
      const jobs = this.families.flatMap((f) =>
        f.metrics.map((name) => async () => {
          const newest = this.newest(name);
          const fromMs = newest == null ? toMs - RANGES[0].span : newest + 1;
          const answer = await fetchSeries(this.name, name, fromMs, toMs, 1000).catch(() => null);
          if (!answer || gen !== this.generation || this.destroyed) return;
          this.store(name, answer, false);
        }),
      );
      if (Date.now() - this.lastBandFetch >= BAND_REFRESH_MS) {
        this.lastBandFetch = Date.now();
        for (const f of this.families.filter((fam) => this.wantsBands(fam))) {
          for (const name of f.metrics) {
            jobs.push(async () => {
              const bands = await this.fetchBandsOf(name, toMs - RANGES[0].span, toMs);
              if (gen !== this.generation || this.destroyed) return;
              this.storeBands(name, bands);
            });
          }
        }
      }
      await runLimited(jobs);
      if (gen !== this.generation || this.destroyed) return;
      this.view.toMs = toMs;
      this.view.fromMs = toMs - RANGES[0].span;
      this.trim();
      for (const f of this.families) this.render(f);
    } finally {
      this.liveBusy = false;
    }
  }

  /** Newest timestamp (ms) of a metric over its series, or null. */
  newest(name) {
    let t = null;
    for (const s of this.data.get(name)?.values() ?? []) {
      if (s.xs.length) t = Math.max(t ?? 0, s.xs[s.xs.length - 1] * 1000);
    }
    return t;
  }

  store(name, answer, replace) {
    if (!Array.isArray(answer)) return;
    let byKey = this.data.get(name);
    if (!byKey || replace) {
      byKey = new Map();
      this.data.set(name, byKey);
    }
    for (const s of answer) {
      const key = labelKey(s.labels);
      let entry = byKey.get(key);
      if (!entry) {
        entry = { series: s, xs: [], ys: [] };
        byKey.set(key, entry);
      }
      const lastX = entry.xs.length ? entry.xs[entry.xs.length - 1] : -Infinity;
      for (const p of s.points ?? []) {
        const x = p.t / 1000;
        if (!(x > lastX) && !replace) continue; // already have it
        entry.xs.push(x);
        entry.ys.push(p.v);
      }
    }
  }

  /** Live mode keeps only the window's points, so memory stays bounded. */
  trim() {
    const min = this.view.fromMs / 1000;
    for (const byKey of this.data.values()) {
      for (const e of byKey.values()) {
        let i = 0;
        while (i < e.xs.length && e.xs[i] < min) i += 1;
        if (i > 0) {
          e.xs.splice(0, i);
          e.ys.splice(0, i);
        }
      }
    }
  }

  // --- Expected bands ---

  /**
   * Whether a family's chart shades bands at all: the emphasised series (a CPU's
   * total) when it has some, else every series of a family of few.
   */
  wantsBands(family) {
    return Boolean(family.emphasise) || this.drawnCount(family) <= MAX_BANDED;
  }

  drawnCount(family) {
    let n = 0;
    for (const name of family.metrics) {
      for (const e of this.data.get(name)?.values() ?? []) if (!family.keep || family.keep(e.series)) n += 1;
    }
    return n;
  }

  /** A source without bands (an older hub) answers an error: no shading, no noise. */
  async fetchBandsOf(name, fromMs, toMs) {
    try {
      return await fetchBands(this.name, name, fromMs, toMs);
    } catch (err) {
      console.warn(`hostwatch: no ${name} bands for ${this.name}: ${err.message}`);
      return null;
    }
  }

  storeBands(name, answer) {
    if (!Array.isArray(answer)) return;
    const byKey = new Map();
    for (const s of answer) {
      if (!Array.isArray(s.band)) continue;
      byKey.set(
        labelKey(s.labels),
        s.band.map((p) => ({ x: p.t / 1000, lo: p.lo, hi: p.hi })),
      );
    }
    this.bands.set(name, byKey);
  }

  render(family) {
    const chart = this.charts.get(family.id);
    if (!chart) return;
    const scale = family.scale ?? 1;
    const series = [];
    const banded = this.wantsBands(family);
    for (const name of family.metrics) {
      for (const e of this.data.get(name)?.values() ?? []) {
        if (family.keep && !family.keep(e.series)) continue;
        const emphasise = family.emphasise?.(e.series) ?? false;
        const band = banded && (emphasise || !family.emphasise) ? this.bands.get(name)?.get(labelKey(e.series.labels)) : null;
        series.push({
          label: family.label(e.series),
          emphasise,
          xs: e.xs,
          ys: scale === 1 ? e.ys : e.ys.map((v) => (v == null ? null : v * scale)),
          band: band && scale !== 1 ? band.map((b) => ({ x: b.x, lo: b.lo * scale, hi: b.hi * scale })) : band,
        });
      }
    }
    // Emphasised series first, then by label (natural order: cpu2 before cpu10).
    series.sort((a, b) => Number(b.emphasise) - Number(a.emphasise) || a.label.localeCompare(b.label, undefined, { numeric: true }));
    chart.setData(series);
  }

  async loadProcesses() {
    try {
      const answer = await fetchProcesses(this.name);
      if (this.destroyed) return;
      this.renderProcesses(answer);
    } catch (err) {
      this.procStatusEl.hidden = false;
      this.procStatusEl.textContent = `Could not load processes: ${err.message}`;
    }
  }

  renderProcesses(answer) {
    const list = Array.isArray(answer?.processes) ? [...answer.processes] : [];
    list.sort((a, b) => (b.cpu_utilization ?? 0) - (a.cpu_utilization ?? 0));
    this.procStamp = answer?.timestamp_ms || null;
    this.procStatusEl.hidden = list.length > 0;
    this.procStatusEl.textContent = "This host has sent no process list.";
    this.procBody.replaceChildren(
      ...list.map((p) =>
        h(
          "tr",
          {},
          h("td", { class: "num", text: String(p.pid) }),
          h("td", { class: "proc-name", text: p.name ?? "", title: p.name ?? "" }),
          h("td", { text: p.user ?? "" }),
          // cpu_utilization is in cores (1.0 = one core busy), shown like top: 100 % per core.
          h("td", { class: "num", text: formatPercent((p.cpu_utilization ?? 0) * 100) }),
          h("td", { class: "num", text: formatBytes(p.memory_bytes ?? 0) }),
        ),
      ),
    );
    this.tick();
  }

  // --- Cost ---

  async loadCost() {
    let answer = null;
    try {
      answer = await fetchHostCost(this.name);
    } catch (err) {
      // A source without a price model answers 503: the panel stays hidden.
      console.warn(`hostwatch: no cost estimate for ${this.name}: ${err.message}`);
    }
    if (this.destroyed) return;
    this.renderCost(answer?.hosts?.find((c) => c.host === this.name) ?? null);
  }

  renderCost(c) {
    this.costEl.hidden = !c || typeof c.cost_per_hour !== "number";
    if (this.costEl.hidden) return;
    const rows = [
      ["Estimate", describeRate(c.cost_per_hour, c.currency)],
      ["CPU", `${formatMoney(c.cpu_cost_per_hour, c.currency)}/h · ${c.vcpus} vCPU`],
      ["Memory", `${formatMoney(c.memory_cost_per_hour, c.currency)}/h · ${+c.memory_gib.toFixed(1)} GiB`],
    ];
    if (typeof c.idle_cost_per_hour === "number" && c.cost_per_hour > 0) {
      const share = Math.round((100 * c.idle_cost_per_hour) / c.cost_per_hour);
      rows.push(["Unused", `${formatMoney(c.idle_cost_per_hour, c.currency)}/h (${share} %)`]);
    }
    this.costEl.replaceChildren(
      h("h3", { class: "panel-title" }, h("span", { text: "Cost" }), h("span", { class: "panel-note", text: `class ${c.class}` })),
      h("dl", { class: "host-cost" }, ...rows.map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v })))),
    );
  }

  async loadEvents() {
    try {
      this.feed.load(await fetchEvents(EVENTS_LIMIT, this.name));
    } catch (err) {
      this.feed.showLoadError(`Could not load anomalies: ${err.message}`);
    }
  }

  // --- Live messages (from app.js) ---

  /** A `host` message (or the snapshot's entry) for this host. */
  update(host) {
    const first = this.host === null;
    this.host = host;
    const f = host.facts ?? {};
    const facts = [
      ["Site", host.site],
      ["OS", [f.os, f.arch].filter(Boolean).join(" · ")],
      ["Kernel", f.kernel],
      ["Cores", f.cpu_count ? String(f.cpu_count) : ""],
      ["Memory", formatBytes(f.memory_bytes)],
      ["Agent", f.agent_version],
    ].filter(([, v]) => v);
    this.bootMs = f.boot_time ? f.boot_time * 1000 : null;
    const text = JSON.stringify(facts);
    if (text !== this.factsText) {
      this.factsText = text;
      this.uptimeEl = h("dd", { "data-uptime": "" });
      // One div per fact (allowed inside dl) so a fact wraps as a whole on a phone.
      this.factsEl.replaceChildren(
        ...facts.map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v }))),
        ...(this.bootMs ? [h("div", {}, h("dt", { text: "Uptime" }), this.uptimeEl)] : []),
      );
    }
    this.simEl.hidden = !f.simulated;
    this.liveEls.cpu.textContent = formatPercent(host.cpu_percent);
    this.liveEls.memory.textContent = formatPercent(host.memory_percent);
    this.liveEls.disk.textContent = formatPercent(host.disk_percent);
    if (host.stored_seq > 0) {
      const pct = (100 * (host.batches_stored ?? 0)) / host.stored_seq;
      this.completeEl.textContent = `${pct >= 99.95 ? "100" : pct.toFixed(1)} % complete`;
      this.completeEl.title = `${host.batches_stored} of ${host.stored_seq} batches stored; the rest never arrived`;
    }
    this.tick();
    if (first) return;
    // New data was stored: in live mode fetch it, throttled.
    if (this.view.id === "live" && this.liveTimer === null) {
      const wait = Math.max(0, this.lastLiveFetch + LIVE_REFRESH_MS - Date.now());
      this.liveTimer = setTimeout(() => {
        this.liveTimer = null;
        this.loadNew();
      }, wait);
    }
  }

  /** A live `event` message for this host. */
  applyEvent(ev) {
    this.feed.apply(ev);
  }

  /** After a reconnect: events and data may have been missed. */
  resync() {
    this.loadEvents();
    this.loadCost();
    if (this.view.id === "live") this.loadAll();
  }

  tick() {
    const now = Date.now();
    const seen = this.host?.last_seen_ms;
    const text = `last seen ${formatAgo(seen ? now - seen : null)}`;
    if (this.freshEl.textContent !== text) this.freshEl.textContent = text;
    this.freshEl.classList.toggle("stale", !seen || now - seen > STALE_AFTER_MS);
    if (this.bootMs && this.uptimeEl) {
      const up = now - this.bootMs;
      this.uptimeEl.textContent = up >= 2 * DAY ? `${Math.floor(up / DAY)} d` : formatDuration(up);
    }
    this.procStampEl.textContent = this.procStamp ? `as of ${formatAgo(now - this.procStamp)}` : "";
    this.feed.tick(now);
  }

  destroy() {
    this.destroyed = true;
    this.generation += 1;
    clearInterval(this.procTimer);
    clearInterval(this.costTimer);
    clearInterval(this.tickTimer);
    clearTimeout(this.liveTimer);
    for (const chart of this.charts.values()) chart.destroy();
    this.charts.clear();
    this.root.replaceChildren();
  }
}
