// "Runs out first": the fleet's capacity forecasts (GET /api/v1/forecasts),
// soonest exhaustion first. Loaded at start and after every reconnect, like the
// anomaly feed; in between the time left counts down locally from each
// forecast's `exhaustion_ms`, so nothing is polled.

import { h, hostHref } from "./card.js";
import { formatDuration } from "./format.js";

/** Rows shown: the soonest few say what needs doing; the API has the rest. */
export const SHOWN = 8;

/** "filesystem /var", "inodes /", "memory", "file descriptors". */
function describeResource(f) {
  const name = f.resource.replace("_", " ");
  const where = f.labels?.mountpoint;
  return where ? `${name} ${where}` : name;
}

/** Below this confidence a row is shown muted, as an early estimate. */
export const CONFIDENT = 0.5;

/** "3 h 5 min", or whole days past two, since disks fill slowly. */
function formatSpan(ms) {
  const days = Math.floor(ms / 86_400_000);
  return days >= 2 ? `${days} d` : formatDuration(ms);
}

/** "full in 3 d", "full in 2 h 5 min", "full now". */
export function formatTimeLeft(ms) {
  return ms <= 0 ? "full now" : `full in ${formatSpan(ms)}`;
}

/** "2 h – 5 h", or "2 h – never" when the gentlest likely rate never fills it. */
function describeBand(f) {
  const part = (s) => (s == null ? "never" : formatSpan(s * 1000));
  return `likely ${part(f.low_seconds)} – ${part(f.high_seconds)}`;
}

export class ForecastPanel {
  constructor(el) {
    this.el = el;
    this.listEl = h("ol", { class: "forecast-list" });
    this.el.append(h("h2", { class: "events-title", id: "forecasts-title", text: "Runs out first" }), this.listEl);
    this.rows = [];
    this.onRoute = true;
    this.hasAny = false;
  }

  /** The page shows the panel on the fleet only, and only when something fills. */
  setRouteVisible(visible) {
    this.onRoute = visible;
    this.el.hidden = !(visible && this.hasAny);
  }

  /** `list`: the API's answer; flat and falling resources are left out here. */
  load(list, now = Date.now()) {
    const filling = (Array.isArray(list) ? list : []).filter((f) => f.exhaustion_ms != null).slice(0, SHOWN);
    this.rows = filling.map((f) => {
      const left = h("span", { class: "forecast-left" });
      const row = h(
        "li",
        {
          class: "forecast",
          "data-forecast": `${f.host}:${f.resource}:${f.labels?.mountpoint ?? ""}`,
          "data-confident": String(f.confidence >= CONFIDENT),
        },
        h("a", { class: "event-host", href: hostHref(f.host), text: f.host }),
        h("span", { class: "forecast-what", text: describeResource(f) }),
        left,
        h("span", {
          class: "forecast-detail",
          text: `${Math.round((100 * f.used) / f.capacity)} % used · ${describeBand(f)} · confidence ${f.confidence.toFixed(2)}`,
        }),
      );
      return { f, row, left };
    });
    this.listEl.replaceChildren(...this.rows.map((r) => r.row));
    this.hasAny = this.rows.length > 0;
    this.setRouteVisible(this.onRoute);
    this.tick(now);
  }

  /** Re-renders the time left; called every second by the page, reads no server data. */
  tick(now) {
    for (const { f, row, left } of this.rows) {
      const ms = f.exhaustion_ms - now;
      left.textContent = formatTimeLeft(ms);
      row.dataset.soon = ms < 86_400_000 ? "day" : ms < 7 * 86_400_000 ? "week" : "later";
    }
  }
}
