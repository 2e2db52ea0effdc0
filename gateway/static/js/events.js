// The anomaly feed: recent detection events, newest first. Loaded once over REST
// (and again after a reconnect), then kept current by live `event` messages; there
// is no polling. An update of a known event changes its item in place, so an
// expanded evidence list stays open while the event worsens or closes.

import { h } from "./card.js";
import { formatAgo, formatBytes, formatDuration, formatPercent, formatValue } from "./format.js";

/** The DOM keeps at most this many events; older ones are dropped from the end. */
export const MAX_EVENTS = 200;

/** Worst last, so a higher index means a worse severity. */
export const SEVERITIES = ["low", "medium", "high", "critical"];
const rank = (sev) => SEVERITIES.indexOf(sev);

/** Hubs number their events independently, so an id alone is not unique. */
export const eventKey = (ev) => `${ev.host}:${ev.id}`;

/** `system.cpu.utilization{cpu=cpu1}`; label order is fixed so updates compare equal. */
function describeMetric(ev) {
  const labels = Object.entries(ev.labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  return labels.length ? `${ev.name}{${labels.join(", ")}}` : ev.name;
}

function describeValues(ev) {
  const actual = `actual ${formatValue(ev.actual)}`;
  // No expected value means the detector had no baseline yet (novelty only).
  return ev.expected == null ? `${actual} · no baseline` : `${actual} vs expected ${formatValue(ev.expected)}`;
}

/** Events carry up to 20 processes; the first few by CPU say enough in a feed. */
const TOP_PROCESSES_SHOWN = 5;

/** "java (pid 4121, app) 93.2 % CPU · 1.2 GiB"; CPU in cores × 100, like top. */
function describeProcess(p) {
  const who = [p.pid != null && `pid ${p.pid}`, p.user].filter(Boolean).join(", ");
  return `${p.name ?? "?"} (${who}) ${formatPercent((p.cpu_utilization ?? 0) * 100)} CPU · ${formatBytes(p.memory_bytes ?? 0)}`;
}

/** Newer data wins: a REST answer that raced a live update must not undo it. */
function isOlder(incoming, current) {
  if (incoming.last_ms !== current.last_ms) return incoming.last_ms < current.last_ms;
  return incoming.end_ms == null && current.end_ms != null;
}

/** One feed item, built once and then updated in place. */
class EventItem {
  constructor(ev) {
    this.key = eventKey(ev);
    this.badgeEl = h("span", { class: "sev-badge" });
    this.hostEl = h("span", { class: "event-host", text: ev.host });
    this.timeEl = h("span", { class: "event-time" });
    this.metricEl = h("div", { class: "event-metric" });
    this.valuesEl = h("div", { class: "event-values" });
    this.summaryEl = h("summary");
    this.evidenceEl = h("ul", { class: "event-evidence" });
    this.procsEl = h("ul", { class: "event-procs", "aria-label": "Top processes when it opened" });
    this.detailsEl = h("details", {}, this.summaryEl, this.evidenceEl, this.procsEl);
    this.el = h(
      "li",
      { class: "event", "data-event": this.key },
      h("div", { class: "event-head" }, this.badgeEl, this.hostEl, this.timeEl),
      this.metricEl,
      this.valuesEl,
      this.detailsEl,
    );
    this.timeText = "";
    this.update(ev);
  }

  update(ev) {
    this.ev = ev;
    this.el.dataset.severity = ev.severity;
    this.el.classList.toggle("open", ev.end_ms == null);
    this.badgeEl.textContent = ev.severity;
    this.metricEl.textContent = describeMetric(ev);
    this.metricEl.title = this.metricEl.textContent;
    this.valuesEl.textContent = describeValues(ev);
    this.valuesEl.title = `score ${formatValue(ev.score)}`;
    const evidence = Array.isArray(ev.evidence) ? ev.evidence : [];
    const procs = Array.isArray(ev.top_processes) ? ev.top_processes.slice(0, TOP_PROCESSES_SHOWN) : [];
    this.summaryEl.textContent = procs.length
      ? `Evidence (${evidence.length}) · top processes`
      : `Evidence (${evidence.length})`;
    this.evidenceEl.replaceChildren(...evidence.map((line) => h("li", { text: line })));
    // The host's top processes when the incident opened: often the culprit's name.
    this.procsEl.replaceChildren(...procs.map((p) => h("li", { text: describeProcess(p) })));
    this.procsEl.hidden = procs.length === 0;
    this.detailsEl.hidden = evidence.length === 0 && procs.length === 0;
    this.timeEl.title = `Started ${new Date(ev.start_ms).toLocaleString()}`;
    this.tick(Date.now());
  }

  /** "3 min ago · open" or "3 min ago · lasted 12 s"; writes only on change. */
  tick(nowMs) {
    const { start_ms: start, end_ms: end } = this.ev;
    const state = end == null ? "open" : `lasted ${formatDuration(end - start)}`;
    const text = `${formatAgo(nowMs - start)} · ${state}`;
    if (text !== this.timeText) {
      this.timeText = text;
      this.timeEl.textContent = text;
    }
  }
}

export class EventFeed {
  /**
   * `root` is the panel element; `onOpenChange(map)` gets host → worst open
   * severity whenever that may have changed, so host cards can be marked.
   */
  constructor(root, { onOpenChange }) {
    this.root = root;
    this.onOpenChange = onOpenChange;
    this.items = new Map(); // key → EventItem
    this.order = []; // EventItems, newest start first, mirrors the list's children
    this.statusEl = h("p", { class: "events-status", "data-events-empty": "", text: "No anomalies so far" });
    this.listEl = h("ol", { class: "events-list" });
    this.root.append(this.statusEl, this.listEl);
  }

  /** The REST answer: merged, not replacing, so live events that raced it survive. */
  load(events) {
    if (!Array.isArray(events)) return;
    for (const ev of events) this.upsert(ev, false);
    this.changed();
  }

  /** A live `event` message. */
  apply(ev) {
    this.upsert(ev, true);
  }

  /** Shown instead of the empty text when the initial load failed. */
  showLoadError(text) {
    this.loadError = text;
    this.renderStatus();
  }

  upsert(ev, notify) {
    if (!ev || typeof ev.host !== "string" || ev.id == null) return;
    const key = eventKey(ev);
    const item = this.items.get(key);
    if (item) {
      if (isOlder(ev, item.ev)) return;
      const moved = ev.start_ms !== item.ev.start_ms;
      item.update(ev);
      if (moved) this.place(item, true);
    } else {
      const fresh = new EventItem(ev);
      this.items.set(key, fresh);
      this.place(fresh, false);
      this.trim();
    }
    if (notify) this.changed();
  }

  /** Insert (or move) an item to its place by start time, newest first. */
  place(item, isMove) {
    if (isMove) this.order.splice(this.order.indexOf(item), 1);
    // Live events are almost always the newest, so scan from the top.
    let i = 0;
    while (i < this.order.length && this.order[i].ev.start_ms > item.ev.start_ms) i += 1;
    const before = this.order[i]?.el ?? null;
    this.order.splice(i, 0, item);
    this.listEl.insertBefore(item.el, before);
  }

  trim() {
    while (this.order.length > MAX_EVENTS) {
      const oldest = this.order.pop();
      this.items.delete(oldest.key);
      oldest.el.remove();
    }
  }

  changed() {
    this.renderStatus();
    this.onOpenChange(this.openSeverities());
  }

  renderStatus() {
    const empty = this.order.length === 0;
    this.statusEl.hidden = !empty;
    this.statusEl.textContent = this.loadError && empty ? this.loadError : "No anomalies so far";
    this.statusEl.classList.toggle("error", Boolean(this.loadError && empty));
  }

  /** host → worst severity among that host's open events. */
  openSeverities() {
    const worst = new Map();
    for (const { ev } of this.order) {
      if (ev.end_ms != null) continue;
      const cur = worst.get(ev.host);
      if (cur === undefined || rank(ev.severity) > rank(cur)) worst.set(ev.host, ev.severity);
    }
    return worst;
  }

  tick(nowMs) {
    for (const item of this.order) item.tick(nowMs);
  }
}
