// The fleet overview: one section per site (sites sorted), host cards sorted inside,
// under a filter bar (search, site, severity; js/fleetfilter.js).
//
// Built for 1,000 hosts, each reporting about once a second:
// - Cards are inserted at their sorted place instead of re-rendering the list, so a
//   new host or a live update never rebuilds or re-sorts the other cards.
// - A live message costs O(1): the card records it (its chart buffers the point),
//   and its DOM is written in the next animation frame, once however many messages
//   arrived meanwhile. A card the filter hides, or one far off screen, is not
//   written at all; it catches up when it is shown or scrolled to. A background tab
//   gets no frames, so it writes nothing.
// - Off-screen cards cost no rendering (`content-visibility: auto` in style.css),
//   and their charts are not drawn (ChartPool in js/cpuchart.js).

import { HostCard, h } from "./card.js";
import { EMPTY_FILTER, FilterBar, isEmptyFilter, matchesFilter, sameFilter } from "./fleetfilter.js";
import { compareNames } from "./format.js";

const NO_SITE = "(no site)";
const siteOf = (card) => card.site || NO_SITE;

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
  /** `onFilterChange(filter)` is told when the person changes the filter (for the URL). */
  constructor(root, pool, { onFilterChange = () => {} } = {}) {
    this.root = root;
    this.pool = pool;
    this.cards = new Map(); // host name → HostCard
    this.sites = new Map(); // site name → {el, grid, countEl, names, shown}
    this.siteNames = []; // sorted
    this.openEvents = new Map(); // host name → worst open event severity
    this.filter = EMPTY_FILTER;
    this.shownCount = 0;
    this.toRender = new Set(); // shown cards with a message not yet written
    this.frame = null;
    this.touchedSites = new Set(); // sites whose count text is out of date
    // Which cards are on (or near) the screen: only those are written per message.
    this.screen = new IntersectionObserver((entries) => this.onScreenChange(entries), { rootMargin: "300px" });

    this.bar = new FilterBar({
      onInput: (f) => {
        this.setFilter(f);
        onFilterChange(this.filter);
      },
    });
    this.emptyEl = h("p", { class: "empty", text: "No hosts have reported yet." });
    this.noMatchEl = h("p", { class: "empty", "data-fleet-nomatch": "", text: "No host matches this filter." });
    this.noMatchEl.hidden = true;
    this.sitesEl = h("div", { class: "sites" });
    this.root.append(this.bar.el, this.emptyEl, this.noMatchEl, this.sitesEl);
    this.finish();
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
    if (card && siteOf(card) !== site) {
      // A host that moved site: take it out and place it again below.
      this.remove(host.host);
      card = undefined;
    }
    if (card) {
      card.record(host);
      if (card.shown) this.renderSoon(card);
      return false;
    }
    card = new HostCard(host, this.pool);
    // An event may name a host before its first report (or after a site move).
    card.setEventSeverity(this.openEvents.get(host.host) ?? null);
    this.cards.set(host.host, card);
    this.place(card, site);
    this.finish();
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
    this.toRender.delete(card);
    this.screen.unobserve(card.el);
    const siteName = siteOf(card);
    const site = this.sites.get(siteName);
    if (card.shown) this.shownCount -= 1;
    card.destroy();
    if (site) {
      site.names.splice(site.names.indexOf(name), 1);
      if (card.shown) site.shown -= 1;
      if (site.names.length === 0) {
        site.el.remove();
        this.sites.delete(siteName);
        this.touchedSites.delete(site);
        this.siteNames.splice(this.siteNames.indexOf(siteName), 1);
        this.bar.setSites(this.siteNames);
      } else {
        this.touchedSites.add(site);
      }
    }
    this.finish();
  }

  /**
   * Mark the cards of hosts with an open anomaly; `worst` is host → severity. Only
   * hosts whose mark changed are visited, so an event costs O(open events), not
   * O(fleet).
   */
  markEvents(worst) {
    const before = this.openEvents;
    this.openEvents = worst;
    const changed = new Set();
    for (const [name, sev] of worst) if (before.get(name) !== sev) changed.add(name);
    for (const name of before.keys()) if (!worst.has(name)) changed.add(name);
    for (const name of changed) {
      const card = this.cards.get(name);
      if (!card) continue;
      card.setEventSeverity(worst.get(name) ?? null);
      if (this.filter.sev) this.applyFilterTo(card);
    }
    this.finish();
  }

  /** The filter from the URL or the controls; re-tests every card once. */
  setFilter(filter) {
    this.bar.show(filter);
    if (sameFilter(filter, this.filter)) return;
    this.filter = filter;
    for (const card of this.cards.values()) this.applyFilterTo(card);
    // "5 hosts" becomes "2 of 5 hosts" (and back) even where nothing was hidden.
    for (const site of this.sites.values()) this.touchedSites.add(site);
    this.finish();
  }

  tick(nowMs) {
    // Hidden cards return at once; a shown card writes only when its text changes.
    for (const card of this.cards.values()) card.tick(nowMs);
  }

  // --- internals ---

  matches(card) {
    return matchesFilter(this.filter, { searchKey: card.searchKey, site: siteOf(card), eventSeverity: card.eventSeverity });
  }

  applyFilterTo(card) {
    const shown = this.matches(card);
    if (shown === card.shown) return;
    card.setShown(shown);
    const delta = shown ? 1 : -1;
    this.shownCount += delta;
    const site = this.sites.get(siteOf(card));
    if (site) {
      site.shown += delta;
      this.touchedSites.add(site);
    }
  }

  renderSoon(card) {
    this.toRender.add(card);
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.renderFrame());
  }

  renderFrame() {
    this.frame = null;
    for (const card of this.toRender) {
      if (!card.shown) continue;
      if (card.onScreen) card.render();
      else card.behind = true; // written when it scrolls into view
    }
    this.toRender.clear();
  }

  onScreenChange(entries) {
    for (const e of entries) {
      const card = this.cards.get(e.target.dataset.host);
      if (card && card.el === e.target) card.setOnScreen(e.isIntersecting);
    }
  }

  place(card, siteName) {
    const site = this.sites.get(siteName) ?? this.addSite(siteName);
    const i = insertionIndex(site.names, card.name);
    const before = i < site.names.length ? this.cards.get(site.names[i]).el : null;
    site.names.splice(i, 0, card.name);
    // New cards start shown; hide this one before it is inserted if the filter says so.
    const shown = this.matches(card);
    card.setShown(shown);
    if (shown) {
      site.shown += 1;
      this.shownCount += 1;
    }
    site.grid.insertBefore(card.el, before);
    this.screen.observe(card.el);
    this.touchedSites.add(site);
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
    const site = { el, grid, countEl, names: [], shown: 0 };
    const i = insertionIndex(this.siteNames, name);
    const before = i < this.siteNames.length ? this.sites.get(this.siteNames[i]).el : null;
    this.siteNames.splice(i, 0, name);
    this.sites.set(name, site);
    this.sitesEl.insertBefore(el, before);
    this.bar.setSites(this.siteNames);
    return site;
  }

  /** After a change: site counts, "Showing N of M", the empty and no-match texts. */
  finish() {
    const filtered = !isEmptyFilter(this.filter);
    for (const site of this.touchedSites) {
      const n = site.names.length;
      const hosts = `${n} ${n === 1 ? "host" : "hosts"}`;
      const text = filtered ? `${site.shown} of ${hosts}` : hosts;
      if (site.countEl.textContent !== text) site.countEl.textContent = text;
      const hide = site.shown === 0;
      if (site.el.hidden !== hide) site.el.hidden = hide;
    }
    this.touchedSites.clear();
    this.bar.setCount(this.shownCount, this.cards.size);
    this.emptyEl.hidden = this.cards.size > 0;
    this.noMatchEl.hidden = this.cards.size === 0 || this.shownCount > 0;
  }
}
