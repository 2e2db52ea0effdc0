// One host card: its latest message and chart buffer always, its element only while
// the fleet shows it. Built on first show, then updated in place: a live message
// touches only the text, widths and classes that changed.

import { CpuChart } from "./cpuchart.js";
import {
  STALE_AFTER_MS,
  barWidth,
  formatAgo,
  formatBytes,
  formatPercent,
  severity,
} from "./format.js";

/**
 * Tiny element builder. Text always goes in through textContent, never innerHTML:
 * host names and facts come from agents and must not be able to inject markup.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

/** The host page's address; app.js parses it back. */
export const hostHref = (name) => `#/host/${encodeURIComponent(name)}`;

/** The three bars, in display order; `key` is the host object's field. */
const METRICS = [
  { id: "cpu", label: "CPU", key: "cpu_percent" },
  { id: "memory", label: "Mem", key: "memory_percent" },
  { id: "disk", label: "Disk", key: "disk_percent" },
];

function buildMetric({ id, label }) {
  const fill = h("span", { class: "bar-fill" });
  const bar = h("span", { class: "bar", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
  const value = h("span", { class: "metric-value", "data-metric": id, text: "—" });
  const row = h("div", { class: "metric", "data-sev": "none" }, h("span", { class: "metric-label", text: label }), bar, value);
  return { row, bar, fill, value, last: undefined };
}

/**
 * Completeness from the hub's ledger: batches in history ÷ the highest sequence
 * number the agent sent (`HostStatus::completeness` on the server). Rounded down,
 * so "100 %" is only ever shown when nothing is missing. → {text, title, incomplete}.
 */
export function describeCompleteness(host) {
  const sent = host.stored_seq ?? 0;
  const stored = host.batches_stored ?? 0;
  if (!(sent > 0)) {
    return { text: "— complete", title: "No batch stored yet: completeness is batches in history / batches sent", incomplete: false };
  }
  const ratio = Math.min(1, stored / sent);
  const text = ratio >= 1 ? "100 % complete" : `${(Math.floor(ratio * 1000) / 10).toFixed(1)} % complete`;
  const missing = Math.max(0, sent - stored);
  const title = `${stored.toLocaleString("en")} batches in history / ${sent.toLocaleString("en")} batches sent${missing ? ` (${missing.toLocaleString("en")} never arrived)` : ""}`;
  return { text, title, incomplete: ratio < 1 };
}

/** "Debian GNU/Linux 12 · x86_64 · 8 CPU · 16 GiB"; the rest goes in the tooltip. */
function describeFacts(f) {
  if (!f) return { line: "", detail: "" };
  const line = [f.os, f.arch, f.cpu_count && `${f.cpu_count} CPU`, formatBytes(f.memory_bytes)]
    .filter(Boolean)
    .join(" · ");
  const detail = [
    f.hostname && `hostname ${f.hostname}`,
    f.kernel && `kernel ${f.kernel}`,
    f.boot_time && `booted ${new Date(f.boot_time * 1000).toLocaleString()}`,
    f.agent_version && `agent ${f.agent_version}`,
  ]
    .filter(Boolean)
    .join("\n");
  return { line, detail };
}

/**
 * One host. The data side (latest message, chart buffer) exists for every host; the
 * element is built the first time the fleet puts the card in the document, and
 * written only while it is there (js/fleet.js keeps just the cards near the viewport).
 */
export class HostCard {
  constructor(host, pool) {
    this.name = host.host;
    this.site = host.site;
    this.lastSeenMs = null;
    this.freshText = "";
    this.stale = null;
    this.completeText = "";
    // Whether the fleet's filter lets the card be shown (the fleet decides where).
    this.shown = true;
    // True while the card is in the document (the fleet attaches and detaches it);
    // otherwise live messages are only recorded, and `behind` says one is waiting.
    this.attached = false;
    this.behind = true;
    this.el = null; // built by element()
    this.renderedEventSeverity = null;
    this.eventSeverity = null;
    // What the search box matches: name and site, lower-cased once.
    this.searchKey = `${this.name}\n${host.site ?? ""}`.toLowerCase();
    // The chart buffers live points whether or not the card is in the document.
    this.chartEl = h("div", { class: "chart", role: "img", "aria-label": `CPU % of ${this.name} over the last 5 minutes` });
    this.chart = new CpuChart(this.chartEl, pool);
    this.chart.host = this.name;
    this.record(host);
  }

  /** The card's element, built when the fleet attaches the card (again). */
  element() {
    if (this.el) return this.el;
    // A fresh element: everything is written on the next render.
    this.behind = true;
    this.freshText = "";
    this.stale = null;
    this.completeText = "";
    this.renderedEventSeverity = null;
    this.freshTitleMs = undefined;
    // The name is a real link (keyboard, middle-click, copy link); a click anywhere
    // else on the card follows it too.
    this.linkEl = h("a", { href: hostHref(this.name), text: this.name });
    this.nameEl = h("h3", { class: "host-name" }, this.linkEl);
    this.simEl = h("span", {
      class: "sim-mark",
      title: "Simulated host: demo data, not a real machine",
      text: "sim",
    });
    this.simEl.hidden = true;
    // Worst severity of this host's open anomalies; set by the feed, not by host data.
    this.eventEl = h("span", { class: "sev-badge event-mark" });
    this.eventEl.hidden = true;
    this.freshEl = h("span", { class: "fresh", text: "never" });
    this.factsEl = h("p", { class: "facts" });
    this.completeEl = h("span", { class: "complete-mark", "data-complete": "" });
    this.metrics = METRICS.map((m) => ({ ...m, ...buildMetric(m) }));
    this.el = h(
      "article",
      { class: "card", "data-host": this.name },
      h("header", { class: "card-head" }, this.nameEl, this.simEl, this.eventEl, this.freshEl),
      this.factsEl,
      h("div", { class: "metrics" }, ...this.metrics.map((m) => m.row)),
      h("div", { class: "chart-caption" }, h("span", { text: "CPU % · last 5 min" }), this.completeEl),
      this.chartEl,
    );
    this.el.addEventListener("click", (e) => {
      if (e.target.closest("a, button, summary")) return;
      location.hash = hostHref(this.name);
    });
    return this.el;
  }

  /** Put in the document (by the fleet, which inserted element()): catch up at once. */
  attach() {
    this.attached = true;
    if (this.behind) this.render();
    else this.tick(Date.now());
  }

  /**
   * Taken out of the document: from now on messages are only recorded. The element
   * and the chart's uPlot instance (its canvas) are let go, so a 1,000-host fleet
   * holds elements only for the cards near the screen; the chart's points stay, and
   * it is drawn again when it is next visible.
   */
  detach() {
    this.attached = false;
    this.el?.remove();
    this.el = null;
    this.chart.plot?.destroy();
    this.chart.plot = null;
  }

  /** Record a host message and render it. */
  update(host) {
    this.record(host);
    this.render();
  }

  /**
   * Take in a host message without touching the DOM: the chart's buffer gets its
   * point (so its history has no hole when the card is shown again), the rest waits
   * for render(). A card out of the document gets only this.
   */
  record(host) {
    this.host = host;
    this.site = host.site;
    this.behind = true;
    if (host.last_seen_ms && host.last_seen_ms !== this.lastSeenMs) {
      this.lastSeenMs = host.last_seen_ms;
      if (host.cpu_percent != null) this.chart.append(this.lastSeenMs / 1000, host.cpu_percent);
    }
  }

  /** Bring the element up to the last recorded message; writes only what changed. */
  render() {
    if (!this.el) return;
    this.behind = false;
    const host = this.host;
    for (const m of this.metrics) {
      const v = host[m.key];
      if (v === m.last) continue;
      m.last = v;
      m.value.textContent = formatPercent(v);
      m.fill.style.width = `${barWidth(v)}%`;
      m.row.dataset.sev = severity(v);
      if (v == null) m.bar.removeAttribute("aria-valuenow");
      else m.bar.setAttribute("aria-valuenow", v.toFixed(1));
    }

    // Every message carries a fresh facts object, so compare the rendered strings.
    const { line, detail } = describeFacts(host.facts);
    if (line !== this.factsEl.textContent) this.factsEl.textContent = line;
    if (detail !== this.factsEl.title) this.factsEl.title = detail;
    const simulated = Boolean(host.facts?.simulated);
    if (this.simEl.hidden === simulated) this.simEl.hidden = !simulated;

    if (this.lastSeenMs && this.lastSeenMs !== this.freshTitleMs) {
      this.freshTitleMs = this.lastSeenMs;
      this.freshEl.title = `Last data ${new Date(this.lastSeenMs).toLocaleString()}`;
    }

    const complete = describeCompleteness(host);
    if (complete.text !== this.completeText) {
      this.completeText = complete.text;
      this.completeEl.textContent = complete.text;
      this.completeEl.classList.toggle("incomplete", complete.incomplete);
    }
    if (complete.title !== this.completeEl.title) this.completeEl.title = complete.title;
    this.renderEvent();
    this.tick(Date.now());
  }

  /** `severity` is the worst open anomaly's ("low" … "critical"), or null for none. */
  setEventSeverity(severity) {
    this.eventSeverity = severity;
    if (this.attached) this.renderEvent();
  }

  renderEvent() {
    if (!this.el) return;
    const severity = this.eventSeverity;
    if (severity === this.renderedEventSeverity) return;
    this.renderedEventSeverity = severity;
    this.eventEl.hidden = !severity;
    if (!severity) {
      delete this.el.dataset.openEvent;
      return;
    }
    this.el.dataset.openEvent = severity;
    this.eventEl.dataset.severity = severity;
    this.eventEl.textContent = severity;
    this.eventEl.title = `Open anomaly on this host (worst: ${severity}); see the feed`;
  }

  /** Re-render the relative time; called every second, writes only on change. */
  tick(nowMs) {
    if (!this.attached || !this.el) return;
    const age = this.lastSeenMs ? nowMs - this.lastSeenMs : null;
    const text = formatAgo(age);
    if (text !== this.freshText) {
      this.freshText = text;
      this.freshEl.textContent = text;
    }
    const stale = age == null || age > STALE_AFTER_MS;
    if (stale !== this.stale) {
      this.stale = stale;
      this.el.classList.toggle("stale", stale);
    }
  }

  destroy() {
    this.chart.destroy();
    this.attached = false;
    this.el?.remove();
  }
}
