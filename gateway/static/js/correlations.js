// "Anomalies vs load": how hosts' anomaly rates move with their CPU load
// (GET /api/v1/correlations). Each hub recomputes its analysis every
// `correlation.every` (10 min) over `correlation.window` (1 h); the panel shows,
// per hub, Pearson r and Spearman ρ across its hosts with the sample sizes, the
// same within each site, and the hosts of all hubs with the most anomalies per
// unit of load. Hubs' statistics are shown side by side, never merged: each covers
// its own window and detectors.
//
// Loaded like the cost panel (at start, after a reconnect, when the tab is shown
// again) and, while the page stays open, once more when a hub's next analysis is
// due; never faster than the hubs recompute. Hidden when the source has none.

import { h, hostHref } from "./card.js";
import { formatAgo, formatDuration } from "./format.js";

/** Hosts shown in the top list; the API has the rest. */
export const SHOWN = 5;
/** After a hub's analysis is due, the slack before asking (it runs on the hub's clock). */
const DUE_SLACK_MS = 5_000;
/** While no hub has a first report yet, how long before asking again. */
const PENDING_RETRY_MS = 30_000;

/** "0.42", "−0.10", or "–" when the statistic could not be computed. */
export function formatCorrelation(v) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(2).replace("-", "−") : "–";
}

/** "r 0.42 · ρ 0.38 · n 25 hosts". */
export function describeStat(stat, unit = "hosts") {
  const n = stat?.n ?? 0;
  return `r ${formatCorrelation(stat?.pearson)} · ρ ${formatCorrelation(stat?.spearman)} · n ${n} ${n === 1 ? unit.replace(/s$/, "") : unit}`;
}

const TOO_FEW = "– : fewer than 3 pairs, or no variation (e.g. no anomalies at all)";

function hubBlock(hub, nowMs, labelled) {
  const r = hub.report;
  const name = labelled ? `${hub.hub}${hub.site && hub.site !== hub.hub ? ` (${hub.site})` : ""}: ` : "";
  if (!r) {
    return h("p", {
      class: "corr-hub corr-pending",
      "data-corr-hub": hub.hub,
      text: `${name}first analysis pending (every ${formatDuration(hub.every_s * 1000)})`,
    });
  }
  const window = formatDuration((r.window_end_ms - r.window_start_ms) || hub.window_s * 1000);
  const sites = (Array.isArray(r.sites) ? r.sites : []).map((s) =>
    h("li", { class: "corr-site", "data-corr-site": s.site, text: `${s.site} ${describeStat(s)}` }),
  );
  const across = r.across_sites?.n >= 2 ? ` · across sites ${describeStat(r.across_sites, "sites")}` : "";
  return h(
    "div",
    { class: "corr-hub", "data-corr-hub": hub.hub },
    h(
      "p",
      { class: "corr-fleet", "data-corr-fleet": "", title: TOO_FEW },
      h("strong", { text: `${name}${describeStat(r.fleet)}` }),
      h("span", {
        class: "cost-detail",
        text: `${across} · ${r.events} anomalies over the last ${window}, computed ${formatAgo(nowMs - r.computed_ms)}${r.events_truncated ? " (events truncated: rates are lower bounds)" : ""}`,
      }),
    ),
    sites.length > 1 ? h("ul", { class: "cost-sites", "aria-label": "Per site" }, ...sites) : "",
  );
}

export class CorrelationPanel {
  /** `reload()` fetches again and calls load(); the panel schedules it. */
  constructor(el, reload) {
    this.el = el;
    this.reload = reload;
    this.timer = null;
    this.bodyEl = h("div", { class: "cost-body" });
    this.el.append(
      h("h2", { class: "events-title", id: "correlations-title", text: "Anomalies vs load" }),
      this.bodyEl,
    );
    this.onRoute = true;
    this.hasAny = false;
  }

  /** Shown on the fleet only, and only once some hub runs the analysis. */
  setRouteVisible(visible) {
    this.onRoute = visible;
    this.el.hidden = !(visible && this.hasAny);
  }

  /** `answer`: the API's body, or null when the source has none. */
  load(answer, nowMs = Date.now()) {
    clearTimeout(this.timer);
    this.timer = null;
    const hubs = (Array.isArray(answer?.hubs) ? answer.hubs : []).filter((hub) => hub.every_s > 0);
    this.hasAny = hubs.length > 0;
    if (!this.hasAny) {
      this.bodyEl.replaceChildren();
      this.setRouteVisible(this.onRoute);
      return;
    }
    const labelled = hubs.length > 1;
    const top = (Array.isArray(answer.top_per_load) ? answer.top_per_load : []).slice(0, SHOWN);
    this.bodyEl.replaceChildren(
      h("p", {
        class: "cost-note",
        text: `Anomaly events per hour against mean CPU load, across hosts: Pearson r (linear) and Spearman ρ (rank).${labelled ? " One line per hub: each hub's statistics cover its own window and are not merged." : ""}`,
      }),
      ...hubs.map((hub) => hubBlock(hub, nowMs, labelled)),
      top.length
        ? h(
            "section",
            { class: "cost-top" },
            h("h3", { class: "cost-top-title", text: "Most anomalies per unit of load" }),
            h(
              "ol",
              { class: "cost-list" },
              ...top.map((t) =>
                h(
                  "li",
                  { class: "cost-host", "data-corr-host": t.host },
                  h("a", { class: "event-host", href: hostHref(t.host), text: t.host }),
                  h("span", {
                    class: "cost-value",
                    text: `${t.anomalies_per_hour.toFixed(1)}/h at ${Math.round(100 * t.mean_load)} % CPU${labelled ? ` · ${t.hub}` : ""}`,
                  }),
                ),
              ),
            ),
          )
        : h("p", { class: "cost-note", text: "No host had an anomaly in the window." }),
    );
    this.setRouteVisible(this.onRoute);
    // Ask again when the soonest hub's next analysis is due (or, before any first
    // one, after a pause); a reconnect or the tab shown again also reloads.
    const due = hubs.map((hub) =>
      hub.report ? hub.report.computed_ms + hub.every_s * 1000 + DUE_SLACK_MS - nowMs : PENDING_RETRY_MS,
    );
    const wait = Math.max(DUE_SLACK_MS, Math.min(...due));
    this.timer = setTimeout(() => this.reload(), wait);
  }
}
