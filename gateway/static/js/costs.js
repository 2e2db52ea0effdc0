// "Cost": the hubs' hourly cost estimate (GET /api/v1/costs) — the fleet's total
// per hour and per month, each site's, and the hosts that cost most and that
// pay most for CPU and memory they leave unused (the idle cost). The live socket
// does not carry costs, so the page loads them at start, after a reconnect and
// when it regains focus; they move only as slowly as utilization does.

import { h, hostHref } from "./card.js";

/** Hosts shown in each top list; the API has the rest. */
export const SHOWN = 3;
/** Hours in an average month (8 760 / 12), for "per month". */
export const HOURS_PER_MONTH = 730;

/**
 * "$1.23", "$0.042", "€9,008": the hub's currency label as a symbol when it is
 * an ISO code, else "1.23 credits" (a label no browser knows must not throw).
 */
export function formatMoney(v, currency) {
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 1 ? 2 : 3;
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency",
      currency,
      minimumFractionDigits: Math.min(digits, 2),
      maximumFractionDigits: digits,
    }).format(v);
  } catch {
    return `${v.toFixed(digits)} ${currency}`.trim();
  }
}

/** "$12.3/h · ≈ $8,979/month". */
export function describeRate(perHour, currency) {
  return `${formatMoney(perHour, currency)}/h · ≈ ${formatMoney(perHour * HOURS_PER_MONTH, currency)}/month`;
}

/** The `n` rows with the largest `key`, rows without one left out. */
function top(hosts, key, n) {
  return hosts
    .filter((c) => typeof c[key] === "number" && c[key] > 0)
    .sort((a, b) => b[key] - a[key])
    .slice(0, n);
}

function hostList(title, rows, describe) {
  return h(
    "section",
    { class: "cost-top" },
    h("h3", { class: "cost-top-title", text: title }),
    h(
      "ol",
      { class: "cost-list" },
      ...rows.map((c) =>
        h(
          "li",
          { class: "cost-host", "data-cost-host": c.host },
          h("a", { class: "event-host", href: hostHref(c.host), text: c.host }),
          h("span", { class: "cost-value", text: describe(c) }),
        ),
      ),
    ),
  );
}

export class CostPanel {
  constructor(el) {
    this.el = el;
    this.bodyEl = h("div", { class: "cost-body" });
    this.el.append(h("h2", { class: "events-title", id: "costs-title", text: "Cost" }), this.bodyEl);
    this.onRoute = true;
    this.hasAny = false;
  }

  /** Shown on the fleet only, and only once a source has priced some host. */
  setRouteVisible(visible) {
    this.onRoute = visible;
    this.el.hidden = !(visible && this.hasAny);
  }

  /** `costs`: the API's answer, or null when the source has none. */
  load(costs) {
    const fleet = Array.isArray(costs?.fleet) ? costs.fleet.filter((t) => t.hosts > t.hosts_without_facts) : [];
    const hosts = Array.isArray(costs?.hosts) ? costs.hosts : [];
    this.hasAny = fleet.length > 0;
    if (!this.hasAny) {
      this.bodyEl.replaceChildren();
      this.setRouteVisible(this.onRoute);
      return;
    }
    // One line per currency: hubs label their prices and never convert them.
    const totals = fleet.map((t) => {
      const share = t.cost_per_hour > 0 ? Math.round((100 * t.idle_cost_per_hour) / t.cost_per_hour) : 0;
      return h(
        "p",
        { class: "cost-fleet", "data-cost-fleet": t.currency },
        h("strong", { class: "cost-total", text: describeRate(t.cost_per_hour, t.currency) }),
        h("span", {
          class: "cost-detail",
          text: ` · idle ${formatMoney(t.idle_cost_per_hour, t.currency)}/h (${share} %) · ${t.hosts} hosts`,
        }),
      );
    });
    const sites = (Array.isArray(costs.sites) ? costs.sites : [])
      .filter((s) => s.cost_per_hour > 0)
      .sort((a, b) => b.cost_per_hour - a.cost_per_hour)
      .map((s) =>
        h("li", {
          class: "cost-site",
          "data-cost-site": s.site,
          text: `${s.site} ${formatMoney(s.cost_per_hour, s.currency)}/h · idle ${formatMoney(s.idle_cost_per_hour, s.currency)}/h`,
        }),
      );
    const unpriced = fleet.reduce((n, t) => n + t.hosts_without_facts, 0);
    this.bodyEl.replaceChildren(
      ...totals,
      h("ul", { class: "cost-sites", "aria-label": "Per site" }, ...sites),
      h(
        "div",
        { class: "cost-tops" },
        hostList("Most expensive", top(hosts, "cost_per_hour", SHOWN), (c) => `${formatMoney(c.cost_per_hour, c.currency)}/h`),
        hostList("Most idle", top(hosts, "idle_cost_per_hour", SHOWN), (c) => {
          const share = Math.round((100 * c.idle_cost_per_hour) / c.cost_per_hour);
          return `${formatMoney(c.idle_cost_per_hour, c.currency)}/h unused (${share} %)`;
        }),
      ),
      unpriced > 0
        ? h("p", { class: "cost-note", text: `${unpriced} ${unpriced === 1 ? "host" : "hosts"} without CPU or memory facts, not priced` })
        : "",
    );
    this.setRouteVisible(this.onRoute);
  }
}
