// The fleet overview: one section per site (sites sorted), host cards sorted inside.
// Cards are inserted at their sorted place instead of re-rendering the list, so a new
// host or a live update never rebuilds the other cards.

import { HostCard, h } from "./card.js";
import { compareNames } from "./format.js";

const NO_SITE = "(no site)";

/** Index of the first element of sorted `names` that sorts after `name`. */
function insertionIndex(names, name) {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareNames(names[mid], name) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class FleetView {
  constructor(root, pool) {
    this.root = root;
    this.pool = pool;
    this.cards = new Map(); // host name → HostCard
    this.sites = new Map(); // site name → {el, grid, countEl, names}
    this.siteNames = []; // sorted
    this.openEvents = new Map(); // host name → worst open event severity
    this.emptyEl = h("p", { class: "empty", text: "No hosts have reported yet." });
    this.root.append(this.emptyEl);
  }

  get hostCount() {
    return this.cards.size;
  }

  get siteCount() {
    return this.sites.size;
  }

  /** Create or update one host's card; returns true when the host set changed. */
  upsert(host) {
    if (!host || typeof host.host !== "string") return false;
    const site = host.site || NO_SITE;
    let card = this.cards.get(host.host);
    if (card && (card.site || NO_SITE) !== site) {
      // A host that moved site: take it out and place it again below.
      this.remove(host.host);
      card = undefined;
    }
    if (card) {
      card.update(host);
      return false;
    }
    card = new HostCard(host, this.pool);
    // An event may name a host before its first report (or after a site move).
    card.setEventSeverity(this.openEvents.get(host.host) ?? null);
    this.cards.set(host.host, card);
    this.place(card, site);
    return true;
  }

  /** A snapshot is the whole truth: update every host in it and drop the others. */
  replaceAll(hosts) {
    const seen = new Set();
    let changed = false;
    for (const host of hosts) {
      seen.add(host.host);
      if (this.upsert(host)) changed = true;
    }
    for (const name of [...this.cards.keys()]) {
      if (!seen.has(name)) {
        this.remove(name);
        changed = true;
      }
    }
    return changed;
  }

  remove(name) {
    const card = this.cards.get(name);
    if (!card) return;
    this.cards.delete(name);
    const siteName = card.site || NO_SITE;
    const site = this.sites.get(siteName);
    card.destroy();
    if (site) {
      site.names.splice(site.names.indexOf(name), 1);
      if (site.names.length === 0) {
        site.el.remove();
        this.sites.delete(siteName);
        this.siteNames.splice(this.siteNames.indexOf(siteName), 1);
      } else {
        this.updateSiteCount(site);
      }
    }
    this.emptyEl.hidden = this.cards.size > 0;
  }

  /** Mark the cards of hosts with an open anomaly; `worst` is host → severity. */
  markEvents(worst) {
    this.openEvents = worst;
    for (const [name, card] of this.cards) card.setEventSeverity(worst.get(name) ?? null);
  }

  tick(nowMs) {
    for (const card of this.cards.values()) card.tick(nowMs);
  }

  place(card, siteName) {
    const site = this.sites.get(siteName) ?? this.addSite(siteName);
    const i = insertionIndex(site.names, card.name);
    const before = i < site.names.length ? this.cards.get(site.names[i]).el : null;
    site.names.splice(i, 0, card.name);
    site.grid.insertBefore(card.el, before);
    this.updateSiteCount(site);
    this.emptyEl.hidden = true;
  }

  addSite(name) {
    const countEl = h("span", { class: "site-count" });
    const grid = h("div", { class: "cards" });
    const el = h(
      "section",
      { class: "site", "data-site": name },
      h("h2", { class: "site-name" }, h("span", { text: name }), countEl),
      grid,
    );
    const site = { el, grid, countEl, names: [] };
    const i = insertionIndex(this.siteNames, name);
    const before = i < this.siteNames.length ? this.sites.get(this.siteNames[i]).el : null;
    this.siteNames.splice(i, 0, name);
    this.sites.set(name, site);
    this.root.insertBefore(el, before);
    return site;
  }

  updateSiteCount(site) {
    const n = site.names.length;
    site.countEl.textContent = `${n} ${n === 1 ? "host" : "hosts"}`;
  }
}
