// The fleet overview: one section per site (sites sorted), host cards sorted inside,
// under a filter bar (search, site, severity; js/fleetfilter.js).
//
// Built for 1,000 hosts, each reporting about once a second. The list is virtual:
// - Every host has a HostCard (its latest message, its chart's buffer), but only the
//   cards in or near the viewport are in the document. Each site's grid is given the
//   height its matching cards would take (rows × the measured card height), so the
//   page scrolls as if every card were there and the site headers stay; scrolling or
//   resizing re-renders the window of rows on screen, in the next animation frame.
// - A live message costs O(1): the card records it (its chart buffers the point). An
//   attached card is written in the next animation frame, once however many messages
//   arrived meanwhile; a card out of the document is not written at all, and catches
//   up when it is attached again. A background tab gets no frames, so it writes nothing.
// - The filter and the host set change only the sorted name lists (cards are inserted
//   at their place, never re-sorted); the layout pass then re-renders what is on screen.
// - Charts off screen are not drawn (ChartPool in js/cpuchart.js).
// - Each site header says how fresh the site's newest data is and how many of its
//   hosts are down (no data for STALE_AFTER_MS, as a stale card), from every host of
//   the site whether shown or not; once a second, O(fleet) arithmetic, written on change.

import { HostCard, h } from "./card.js";
import { EMPTY_FILTER, FilterBar, isEmptyFilter, matchesFilter, sameFilter } from "./fleetfilter.js";
import { STALE_AFTER_MS, compareNames, formatAgo } from "./format.js";

const NO_SITE = "(no site)";
const siteOf = (card) => card.site || NO_SITE;
/** A card's height before one has been measured (style.css gives cards one height). */
const ESTIMATED_CARD_PX = 210;
/** Rows rendered beyond the viewport, in viewport heights, above and below. */
const OVERSCAN_SCREENS = 1;

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

/** Remove `name` from sorted `names` (binary search; names are unique). */
function removeSorted(names, name) {
  const i = insertionIndex(names, name) - 1;
  if (i >= 0 && names[i] === name) names.splice(i, 1);
}

/** Tracks of a laid-out grid ("270px 270px 270px" → 3); 1 when not laid out. */
function columnCount(grid) {
  const tracks = getComputedStyle(grid).gridTemplateColumns;
  if (!tracks || tracks === "none" || tracks.includes("repeat(")) return 1;
  return Math.max(1, tracks.trim().split(/\s+/).length);
}

export class FleetView {
  /** `onFilterChange(filter)` is told when the person changes the filter (for the URL). */
  constructor(root, pool, { onFilterChange = () => {} } = {}) {
    this.root = root;
    this.pool = pool;
    this.cards = new Map(); // host name → HostCard
    // site name → {el, grid, countEl, names (sorted), shownNames (sorted, matching the filter)}
    this.sites = new Map();
    this.siteNames = []; // sorted
    this.openEvents = new Map(); // host name → worst open event severity
    this.filter = EMPTY_FILTER;
    this.shownCount = 0;
    this.attached = new Set(); // cards in the document
    this.toRender = new Set(); // attached cards with a message not yet written
    this.frame = null;
    this.layoutFrame = null;
    this.cardPx = ESTIMATED_CARD_PX;
    this.touchedSites = new Set(); // sites whose count text is out of date

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

    // Which rows are on screen changes with scrolling, the window's size, the fleet's
    // width (a column more or less) and the fleet being shown again after a host page.
    const relayout = () => this.layoutSoon();
    addEventListener("scroll", relayout, { passive: true });
    addEventListener("resize", relayout, { passive: true });
    this.sizes = new ResizeObserver(relayout);
    this.sizes.observe(this.sitesEl);
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
      if (card.attached) this.renderSoon(card);
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
    this.detach(card);
    const siteName = siteOf(card);
    const site = this.sites.get(siteName);
    if (card.shown) this.shownCount -= 1;
    card.destroy();
    if (site) {
      removeSorted(site.names, name);
      if (card.shown) removeSorted(site.shownNames, name);
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
    this.layoutSoon();
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
    let moved = false;
    for (const card of this.cards.values()) moved = this.applyFilterTo(card, false) || moved;
    if (moved) {
      // Rebuilt in one pass per site rather than one sorted insert per card.
      for (const site of this.sites.values()) site.shownNames = site.names.filter((n) => this.cards.get(n).shown);
    }
    // "5 hosts" becomes "2 of 5 hosts" (and back) even where nothing was hidden.
    for (const site of this.sites.values()) this.touchedSites.add(site);
    this.layoutSoon();
    this.finish();
  }

  tick(nowMs) {
    // Only the cards in the document; the others render their age when attached.
    for (const card of this.attached) card.tick(nowMs);
    for (const site of this.sites.values()) this.tickSite(site, nowMs);
  }

  // --- internals ---

  matches(card) {
    return matchesFilter(this.filter, { searchKey: card.searchKey, site: siteOf(card), eventSeverity: card.eventSeverity });
  }

  /**
   * Re-test one card. `keepLists` false: the caller rebuilds the sites' shown lists.
   * → whether the card's shown state changed.
   */
  applyFilterTo(card, keepLists = true) {
    const shown = this.matches(card);
    if (shown === card.shown) return false;
    card.shown = shown;
    const site = this.sites.get(siteOf(card));
    this.shownCount += shown ? 1 : -1;
    if (site) {
      if (keepLists) {
        if (shown) site.shownNames.splice(insertionIndex(site.shownNames, card.name), 0, card.name);
        else removeSorted(site.shownNames, card.name);
      }
      this.touchedSites.add(site);
    }
    this.layoutSoon();
    return true;
  }

  renderSoon(card) {
    this.toRender.add(card);
    if (this.frame === null) this.frame = requestAnimationFrame(() => this.renderFrame());
  }

  renderFrame() {
    this.frame = null;
    for (const card of this.toRender) {
      if (card.attached) card.render();
    }
    this.toRender.clear();
  }

  layoutSoon() {
    if (this.layoutFrame === null) this.layoutFrame = requestAnimationFrame(() => this.layout());
  }

  /**
   * Give each site's grid its full height and put in the document exactly the cards
   * of the rows within OVERSCAN_SCREENS of the viewport, in order.
   */
  layout() {
    this.layoutFrame = null;
    // Hidden (a host page is open): nothing to measure; the size observer calls
    // again when the fleet is shown.
    if (this.sitesEl.getClientRects().length === 0) return;
    const sites = this.siteNames.map((n) => this.sites.get(n)).filter((s) => s.shownNames.length > 0);
    // Reads first (one layout), then writes, then reads again: no read after each write.
    const gap = sites.length ? parseFloat(getComputedStyle(sites[0].grid).rowGap) || 0 : 0;
    const rowPx = this.cardPx + gap;
    const cols = sites.map((s) => columnCount(s.grid));
    sites.forEach((s, i) => {
      const rows = Math.ceil(s.shownNames.length / cols[i]);
      const height = `${Math.max(0, rows * rowPx - gap)}px`;
      if (s.grid.style.height !== height) s.grid.style.height = height;
    });
    const tops = sites.map((s) => s.grid.getBoundingClientRect().top);
    const margin = innerHeight * OVERSCAN_SCREENS;
    const wanted = new Set();
    const plans = sites.map((s, i) => {
      const rows = Math.ceil(s.shownNames.length / cols[i]);
      const first = Math.min(rows, Math.max(0, Math.floor((-margin - tops[i]) / rowPx)));
      const last = Math.min(rows, Math.max(first, Math.ceil((innerHeight + margin - tops[i]) / rowPx)));
      const names = s.shownNames.slice(first * cols[i], last * cols[i]);
      const cards = names.map((n) => this.cards.get(n));
      for (const c of cards) wanted.add(c);
      return { site: s, padding: `${first * rowPx}px`, cards };
    });
    for (const card of this.attached) if (!wanted.has(card)) this.detach(card);
    // Sites with nothing shown keep no cards either.
    for (const s of this.sites.values()) {
      if (s.shownNames.length === 0 && s.grid.firstChild) s.grid.replaceChildren();
    }
    for (const { site, padding, cards } of plans) {
      if (site.grid.style.paddingTop !== padding) site.grid.style.paddingTop = padding;
      let next = site.grid.firstChild;
      for (const card of cards) {
        if (next !== null && next === card.el) {
          next = next.nextSibling;
          continue;
        }
        site.grid.insertBefore(card.element(), next);
        if (!card.attached) {
          this.attached.add(card);
          card.attach();
        }
      }
      while (next) {
        const after = next.nextSibling;
        next.remove();
        next = after;
      }
    }
    // Every card has one height (style.css); measure it once there is one to measure,
    // and lay out again if the estimate was off.
    const sample = this.attached.values().next().value;
    if (sample) {
      const px = sample.el.getBoundingClientRect().height;
      if (px > 0 && Math.abs(px - this.cardPx) > 0.5) {
        this.cardPx = px;
        this.layoutSoon();
      }
    }
  }

  detach(card) {
    if (!this.attached.delete(card)) return;
    card.detach();
  }

  place(card, siteName) {
    const site = this.sites.get(siteName) ?? this.addSite(siteName);
    site.names.splice(insertionIndex(site.names, card.name), 0, card.name);
    card.shown = this.matches(card);
    if (card.shown) {
      site.shownNames.splice(insertionIndex(site.shownNames, card.name), 0, card.name);
      this.shownCount += 1;
      this.layoutSoon();
    }
    this.touchedSites.add(site);
  }

  /** A site header's "newest data 2 s ago" and "3 down"; writes only on change. */
  tickSite(site, nowMs) {
    let newest = null;
    let down = 0;
    for (const name of site.names) {
      const seen = this.cards.get(name)?.lastSeenMs ?? null;
      if (seen !== null && (newest === null || seen > newest)) newest = seen;
      if (seen === null || nowMs - seen > STALE_AFTER_MS) down += 1;
    }
    const age = newest === null ? null : nowMs - newest;
    const fresh = `newest data ${formatAgo(age)}`;
    if (site.freshEl.textContent !== fresh) site.freshEl.textContent = fresh;
    const stale = age === null || age > STALE_AFTER_MS;
    if (site.freshEl.classList.contains("stale") !== stale) site.freshEl.classList.toggle("stale", stale);
    const downText = down > 0 ? `${down} down` : "";
    if (site.downEl.textContent !== downText) {
      site.downEl.textContent = downText;
      site.downEl.hidden = down === 0;
    }
  }

  addSite(name) {
    const countEl = h("span", { class: "site-count" });
    const freshEl = h("span", {
      class: "site-fresh",
      "data-site-fresh": "",
      title: "How long ago the newest data of any host of this site arrived",
    });
    const downEl = h("span", {
      class: "site-down",
      "data-site-down": "",
      title: `Hosts of this site with no data for over ${STALE_AFTER_MS / 1000} s`,
    });
    downEl.hidden = true;
    const grid = h("div", { class: "cards" });
    const el = h(
      "section",
      { class: "site", "data-site": name },
      h("h2", { class: "site-name" }, h("span", { text: name }), countEl, freshEl, downEl),
      grid,
    );
    const site = { el, grid, countEl, freshEl, downEl, names: [], shownNames: [] };
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
      const text = filtered ? `${site.shownNames.length} of ${hosts}` : hosts;
      if (site.countEl.textContent !== text) site.countEl.textContent = text;
      const hide = site.shownNames.length === 0;
      if (site.el.hidden !== hide) site.el.hidden = hide;
    }
    this.touchedSites.clear();
    this.bar.setCount(this.shownCount, this.cards.size);
    this.emptyEl.hidden = this.cards.size > 0;
    this.noMatchEl.hidden = this.cards.size === 0 || this.shownCount > 0;
  }
}
