// The fleet's filter: a search box, a site and a severity select, a Clear button and
// "Showing N of M hosts". The filter itself is a plain value ({q, site, sev}) so
// app.js can keep it in the URL (#/?q=web&site=eu&sev=high) and FleetView can test
// cards against it; this module only owns the controls.

import { h } from "./card.js";
import { SEVERITIES } from "./events.js";

/** Typing re-filters after this pause, so a 1,000-host fleet is walked once per word. */
const INPUT_DEBOUNCE_MS = 120;

export const EMPTY_FILTER = Object.freeze({ q: "", site: "", sev: "" });

/** Severity filter choices: an open anomaly of at least this severity. */
const SEV_CHOICES = [
  ["", "All severities"],
  ["low", "Open anomaly (any)"],
  ["medium", "Medium or worse"],
  ["high", "High or worse"],
  ["critical", "Critical"],
];

const rank = (sev) => SEVERITIES.indexOf(sev);

/** A filter from untrusted text (the URL): unknown severities are dropped. */
export function normalizeFilter({ q, site, sev } = {}) {
  return {
    q: typeof q === "string" ? q.trim() : "",
    site: typeof site === "string" ? site : "",
    sev: SEVERITIES.includes(sev) ? sev : "",
  };
}

export const isEmptyFilter = (f) => !f.q && !f.site && !f.sev;
export const sameFilter = (a, b) => a.q === b.q && a.site === b.site && a.sev === b.sev;

/**
 * Does a host pass? `searchKey` is "name\nsite" lower-cased (the newline keeps a
 * query from matching across the two), `site` the site shown, `eventSeverity` the
 * worst open anomaly or null.
 */
export function matchesFilter(f, { searchKey, site, eventSeverity }) {
  if (f.site && site !== f.site) return false;
  if (f.sev && (eventSeverity == null || rank(eventSeverity) < rank(f.sev))) return false;
  return !f.q || searchKey.includes(f.q.toLowerCase());
}

export class FilterBar {
  /** `onInput(filter)` is called when the person changes a control. */
  constructor({ onInput }) {
    this.onInput = onInput;
    this.timer = null;
    this.searchEl = h("input", {
      type: "search",
      class: "fleet-search",
      placeholder: "Search hosts or sites",
      "aria-label": "Search hosts by name or site",
      autocomplete: "off",
      spellcheck: "false",
      "data-fleet-search": "",
    });
    this.siteEl = h("select", { class: "fleet-select", "aria-label": "Site", "data-fleet-site": "" });
    this.sevEl = h(
      "select",
      { class: "fleet-select", "aria-label": "Open anomaly severity", "data-fleet-severity": "" },
      ...SEV_CHOICES.map(([value, text]) => h("option", { value, text })),
    );
    this.clearEl = h("button", { type: "button", class: "range-button fleet-clear", text: "Clear", "data-fleet-clear": "" });
    this.countEl = h("span", { class: "fleet-count", role: "status", "data-fleet-count": "" });
    this.el = h(
      "div",
      { class: "fleet-filter", role: "search", "aria-label": "Filter the fleet" },
      this.searchEl,
      this.siteEl,
      this.sevEl,
      this.clearEl,
      this.countEl,
    );
    this.sites = [];
    this.selectedSite = "";
    this.setSites([]);

    this.searchEl.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.emit(), INPUT_DEBOUNCE_MS);
    });
    // Enter applies at once instead of waiting for the pause.
    this.searchEl.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.emit();
    });
    this.siteEl.addEventListener("change", () => {
      this.selectedSite = this.siteEl.value;
      this.emit();
    });
    this.sevEl.addEventListener("change", () => this.emit());
    this.clearEl.addEventListener("click", () => {
      this.show(EMPTY_FILTER);
      this.emit();
    });
  }

  read() {
    return normalizeFilter({ q: this.searchEl.value, site: this.siteEl.value, sev: this.sevEl.value });
  }

  emit() {
    clearTimeout(this.timer);
    this.timer = null;
    this.onInput(this.read());
  }

  /** Put a filter (from the URL) into the controls without reporting it back. */
  show(f) {
    if (this.searchEl.value.trim() !== f.q) this.searchEl.value = f.q;
    this.selectedSite = f.site;
    this.setSites(this.sites);
    this.sevEl.value = f.sev;
    this.clearEl.disabled = isEmptyFilter(f);
  }

  /**
   * The site choices, sorted; called when a site appears or goes. A site named by
   * the URL but not (yet) reporting stays selectable, so a shared link survives the
   * moment before the first host arrives.
   */
  setSites(names) {
    this.sites = names;
    const selected = this.selectedSite;
    const choices = selected && !names.includes(selected) ? [...names, selected] : names;
    this.siteEl.replaceChildren(
      h("option", { value: "", text: "All sites" }),
      ...choices.map((name) => h("option", { value: name, text: name })),
    );
    this.siteEl.value = selected;
  }

  setCount(shown, total) {
    const text = `Showing ${shown} of ${total} ${total === 1 ? "host" : "hosts"}`;
    if (this.countEl.textContent !== text) this.countEl.textContent = text;
  }
}
