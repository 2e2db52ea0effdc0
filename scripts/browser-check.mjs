#!/usr/bin/env node
// Headless-Chromium check of the hostwatch dashboard against a running server.
//
//   node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N]
//                                      [--viewport WxH] [--dark] [--static DIR]
//                                      [--alerts ALERTS_URL]
//                                      [--login USER --password-file FILE]
//                                      [--anomaly-host HOST [--anomaly-since TIME]
//                                       [--anomaly-metric NAME]]
//
// Loads the page and checks, in order: it loads; at least N host cards are visible;
// a displayed live value (a card's CPU/memory/disk text) changes within 15 s, which
// only happens if the WebSocket delivers data; a uPlot chart canvas has been drawn;
// the anomaly feed is visible and shows either events or its empty state; with
// --anomaly-host HOST (an incident injected with `hostwatch demo --inject`), within
// 90 s the feed shows an event for HOST, open or last seen at or after
// --anomaly-since TIME (RFC 3339 or unix ms: when the incident started), whose
// evidence names --anomaly-metric NAME (default system.cpu.utilization), the same
// event /api/v1/events returns; in demo mode, the cost panel shows a fleet total per
// hour and per month, each site header says how fresh its newest data is ("newest data
// 2 s ago"), and within 90 s the "Anomalies vs load" panel shows the hub's Pearson r,
// Spearman ρ and sample size (the demo's hub runs its first analysis 60 s after start;
// the panel asks again 30 s after a "pending" answer).
// Then the fleet, a virtual list: "Showing M of M hosts" counts every host of
// /api/v1/hosts; scrolling from top to bottom renders every host's card exactly
// once, in its site's section, while the document never holds many more cards than
// fit on two screens (at 400 px wide, where the fleet is longer than the screen,
// the first card has left the document at the bottom and the last one was not in it
// at the top); every rendered card shows "N % complete". The filter: typing in the
// search box narrows the cards (all of them, scrolled through) to those whose name
// or site contains the query, and "Showing N of M hosts" says so; a card it hides
// is not in the document while hidden (so none of its live updates is written) and
// is fresh once shown; the query is in the URL (#/?q=…) and survives a reload; Clear
// shows every card; the site select shows only that site's cards; the severity
// select ("high or worse") only hosts with an open high or critical item in the feed
// (or "No host matches"); the fleet fits 400 px.
// Then the host page: clicking a simulated host's card opens #/host/NAME; its charts
// render (uPlot canvases with a non-zero size); a live value in its header changes;
// in live mode it asks /api/v1/series only for the span after its newest point;
// choosing 24 h issues /api/v1/series requests spanning about a day and the charts
// draw again; the top-processes table has rows; browser "back" shows the fleet again.
// The host is opened from the fleet searched for its name, and "← Fleet" links back
// to that search; when /api/v1/costs prices the host, its Cost panel shows "…/h";
// with --bands (detectors warm, as after the demo's --backfill) the CPU chart
// shades the detector's expected band.
// Then the alerts page, when there is an alert service (/api/v1/info's alerts_url,
// else --alerts ALERTS_URL, which the page is then given as `?alerts=` — its
// development aid for a server that does not name one yet): the header's "Alerts"
// link opens #/alerts; subscriptions are listed and the live socket connects; the
// channel select shows a URL field for a webhook; an invalid match shows the
// service's error inline; the form creates a subscription (alertname=BrowserCheck,
// dashboard live feed) that appears in the table; an alert POSTed from here to
// ALERTS_URL/api/v2/alerts comes back within 30 s as a live notification for that
// subscription and shows in "Alerts now", and its delivery in "Recent deliveries";
// Delete removes the subscription (from the table and from the service); the
// "Fleet" link returns to the fleet. The test alert is resolved at the end.
// With --screenshot PATH the fleet goes to PATH, a search to PATH-fleet-search.png,
// the fleet at 400 px to PATH-fleet-phone.png and in the other colour scheme to
// PATH-fleet-dark.png (or -fleet-light.png with --dark), the host page to PATH-host.png
// (desktop viewport) and PATH-host-phone.png (400 px wide), the alerts page to
// PATH-alerts.png and PATH-alerts-phone.png.
// --static DIR serves the page's own files from DIR instead of the server, so the
// dashboard can be checked while editing gateway/static without rebuilding.
// --login USER (a server outside demo mode): before the checks above, the page must
// show its sign-in form and no host, the API must answer 401 without a session, a
// wrong password must be refused on the form, and the password in FILE must sign
// in; screenshots PATH-login.png and PATH-login-failed.png.
// Any console error or uncaught page error during the run fails the check. Prints one
// line per check and a closing `browser-check: N passed, M failed`; exits 1 on failure.
//
// Uses Debian's /usr/bin/chromium through playwright-core, which downloads no browser.

import { chromium } from "playwright-core";

const LIVE_TIMEOUT_MS = 15_000;
const CARDS_TIMEOUT_MS = 15_000;
const CHART_TIMEOUT_MS = 10_000;
const EVENTS_TIMEOUT_MS = 10_000;
/** The demo's first correlation is 60 s after start; a page that saw none asks again in 30 s. */
const CORRELATIONS_TIMEOUT_MS = 90_000;
const HOST_PAGE_TIMEOUT_MS = 15_000;
const ALERTS_PAGE_TIMEOUT_MS = 15_000;
/** The demo's group_wait is 5 s; the rest is slack for a loaded CI machine. */
const NOTIFICATION_TIMEOUT_MS = 30_000;
/** An injected incident is in the feed within this (the demo's detectors warm). */
const ANOMALY_TIMEOUT_MS = 90_000;
const TEST_SUBSCRIPTION = "browser test";
const TEST_ALERT = "BrowserCheck";
const PHONE_VIEWPORT = { width: 400, height: 860 };
const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function usage(msg) {
  if (msg) console.error(`browser-check: ${msg}`);
  console.error(
    "usage: node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N] [--viewport WxH] [--dark] [--static DIR] [--alerts ALERTS_URL] [--login USER --password-file FILE] [--anomaly-host HOST [--anomaly-since TIME] [--anomaly-metric NAME]] [--bands]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    url: null,
    screenshot: null,
    minHosts: 1,
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
    staticDir: null,
    alerts: null,
    login: null,
    passwordFile: null,
    anomalyHost: null,
    anomalySince: 0,
    anomalyMetric: "system.cpu.utilization",
    bands: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const value = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === "--screenshot") opts.screenshot = value();
    else if (a === "--min-hosts") {
      opts.minHosts = Number.parseInt(value(), 10);
      if (!(opts.minHosts >= 0)) usage("--min-hosts must be a number ≥ 0");
    } else if (a === "--viewport") {
      const m = /^(\d+)x(\d+)$/.exec(value());
      if (!m) usage("--viewport must look like 390x844");
      opts.viewport = { width: Number(m[1]), height: Number(m[2]) };
    } else if (a === "--dark") opts.colorScheme = "dark";
    else if (a === "--static") opts.staticDir = value();
    else if (a === "--alerts") opts.alerts = value();
    else if (a === "--login") opts.login = value();
    else if (a === "--password-file") opts.passwordFile = value();
    else if (a === "--anomaly-host") opts.anomalyHost = value();
    else if (a === "--anomaly-since") {
      const v = value();
      opts.anomalySince = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
      if (!Number.isFinite(opts.anomalySince)) usage("--anomaly-since must be RFC 3339 or unix ms");
    } else if (a === "--anomaly-metric") opts.anomalyMetric = value();
    else if (a === "--bands") opts.bands = true;
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (opts.url) usage(`unexpected argument ${a}`);
    else opts.url = a;
  }
  if (!opts.url) usage("missing URL");
  if (Boolean(opts.login) !== Boolean(opts.passwordFile)) usage("--login and --password-file go together");
  return opts;
}

/** Text of every [data-metric] element, keyed by host and metric. */
function readLiveValues() {
  const out = {};
  for (const el of document.querySelectorAll("[data-host] [data-metric]")) {
    out[`${el.closest("[data-host]").dataset.host}/${el.dataset.metric}`] = el.textContent;
  }
  return out;
}

/**
 * "N event(s)" or "empty state", once the feed panel is visible and has settled into
 * one of the two; false while it is missing, hidden or shows neither.
 */
function eventsPanelState() {
  const panel = document.querySelector('[data-panel="events"]');
  if (!panel || !panel.checkVisibility()) return false;
  const items = panel.querySelectorAll("[data-event][data-severity]").length;
  if (items > 0) return `${items} event(s)`;
  const empty = panel.querySelector("[data-events-empty]");
  return empty && empty.checkVisibility() && /no anomalies/i.test(empty.textContent) ? "empty state" : false;
}

/** True when some uPlot canvas has a non-zero size and at least one painted pixel. */
function someChartDrawn() {
  for (const canvas of document.querySelectorAll(".uplot canvas")) {
    if (canvas.width === 0 || canvas.height === 0) continue;
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true;
  }
  return false;
}

/** The number of host page charts once every family has a canvas of non-zero size. */
function hostChartsSized() {
  const families = document.querySelectorAll("#host [data-family]").length;
  const canvases = [...document.querySelectorAll("#host .family .uplot canvas")];
  const sized = canvases.length > 0 && canvases.length === families && canvases.every((c) => c.width > 0 && c.height > 0);
  return sized ? canvases.length : false;
}

/**
 * In the page: the events of /api/v1/events for `host` seen at or after `since` whose
 * evidence names `metric`, and whether the feed shows one of them (its host, badge
 * and that evidence line). → {ok, detail}.
 */
async function injectedAnomalyState([host, since, metric]) {
  const names = (line) => line.startsWith(`${metric}{`) || line.startsWith(`${metric}:`);
  const events = await fetch("/api/v1/events", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : []))
    .catch(() => []);
  const candidates = (Array.isArray(events) ? events : []).filter(
    (e) => e.host === host && (e.last_ms ?? e.start_ms) >= since && Array.isArray(e.evidence) && e.evidence.some(names),
  );
  for (const e of candidates) {
    const item = document.querySelector(`#events [data-event="${CSS.escape(`${e.host}:${e.id}`)}"]`);
    if (!item || !item.checkVisibility()) continue;
    const shownHost = item.querySelector(".event-host")?.textContent;
    const line = [...item.querySelectorAll(".event-evidence li")].map((li) => li.textContent).find(names);
    if (shownHost === host && item.dataset.severity && line) {
      return { ok: true, detail: `${item.dataset.severity} ${item.querySelector(".event-metric")?.textContent}, ${e.evidence.length} evidence line(s), e.g. ${line}` };
    }
  }
  const other = (Array.isArray(events) ? events : []).filter((e) => e.host === host).length;
  return { ok: false, detail: `${candidates.length} matching event(s) in the API, none shown in the feed; ${other} event(s) for ${host} in all` };
}

/**
 * The injected incident (--anomaly-host): its event reaches the feed within
 * ANOMALY_TIMEOUT_MS. `record` as in main.
 */
async function checkInjectedAnomaly(page, opts, record) {
  const started = Date.now();
  let state = { ok: false, detail: "not asked" };
  while (Date.now() - started < ANOMALY_TIMEOUT_MS) {
    state = await page.evaluate(injectedAnomalyState, [opts.anomalyHost, opts.anomalySince, opts.anomalyMetric]).catch((err) => ({ ok: false, detail: err.message }));
    if (state.ok) break;
    await page.waitForTimeout(1000);
  }
  const since = opts.anomalySince ? ` since ${new Date(opts.anomalySince).toISOString()}` : "";
  record(
    state.ok,
    `the feed shows the injected anomaly on ${opts.anomalyHost}`,
    `${state.ok ? `after ${((Date.now() - started) / 1000).toFixed(1)} s` : `not within ${ANOMALY_TIMEOUT_MS / 1000} s`}${since}: ${state.detail}`,
  );
}

/** "base-host.png" next to "base.png". */
function derivedPath(path, suffix) {
  return path.replace(/(\.png)?$/i, `-${suffix}.png`);
}

/** The [from, to] span in ms of a /api/v1/series request URL, or 0. */
function requestSpan(url) {
  const q = new URL(url).searchParams;
  return Number(q.get("to")) - Number(q.get("from")) || 0;
}

/** Host names of the fleet's cards in the document (and not hidden), in page order. */
function shownCards() {
  return [...document.querySelectorAll("#fleet [data-host]")].filter((el) => el.checkVisibility()).map((el) => el.dataset.host);
}

/**
 * In the page: scrolls the fleet from its top to the page's bottom a screen at a
 * time and lists every card that came on screen (name, site section, completeness
 * text), with the most cards the document held at once and any host whose card was
 * in the document twice. Ends scrolled back to the top.
 */
async function scrollThroughFleet() {
  const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const seen = new Map();
  let most = 0;
  const twice = new Set();
  const fleet = document.querySelector("#fleet");
  scrollTo(0, Math.max(0, fleet.getBoundingClientRect().top + scrollY - innerHeight / 2));
  for (let step = 0; step < 5000; step += 1) {
    await frames();
    const cards = [...fleet.querySelectorAll("[data-host]")];
    most = Math.max(most, cards.length);
    const names = new Set();
    for (const el of cards) {
      const name = el.dataset.host;
      if (names.has(name)) twice.add(name);
      names.add(name);
      const r = el.getBoundingClientRect();
      if (r.bottom <= 0 || r.top >= innerHeight || !el.checkVisibility() || seen.has(name)) continue;
      seen.set(name, {
        name,
        site: el.closest("[data-site]")?.dataset.site ?? "",
        complete: el.querySelector("[data-complete]")?.textContent ?? "",
      });
    }
    if (innerHeight + scrollY >= document.documentElement.scrollHeight - 2) break;
    scrollBy(0, Math.max(100, innerHeight * 0.7));
  }
  scrollTo(0, 0);
  await frames();
  return { cards: [...seen.values()], most, twice: [...twice] };
}

/** In the page: the fleet's host names from /api/v1/hosts (the page's own session). */
async function apiHostNames() {
  const hosts = await fetch("/api/v1/hosts", { credentials: "same-origin" }).then((r) => r.json());
  return (Array.isArray(hosts) ? hosts : []).map((h) => h.host);
}

/** "a, b, c, … (40 in all)": a long list of names, shortened for a result line. */
const few = (names, n = 8) => (names.length > n ? `${names.slice(0, n).join(", ")}, … (${names.length} in all)` : names.join(", "));
const sameSet = (a, b) => a.length === b.length && new Set([...a, ...b]).size === a.length;
const listDiff = (got, want) => {
  const missing = want.filter((n) => !got.includes(n));
  const extra = got.filter((n) => !want.includes(n));
  return `${missing.length ? `missing ${missing.join(", ")}` : ""}${missing.length && extra.length ? "; " : ""}${extra.length ? `unexpected ${extra.join(", ")}` : ""}`;
};

/**
 * The fleet checks (virtual list and filter); `record` as in main. Starts on the
 * fleet with every card shown and ends there again, with the filter cleared.
 */
async function checkFleetFilter(page, opts, record) {
  const wait = (fn, arg, timeout = CARDS_TIMEOUT_MS) =>
    page.waitForFunction(fn, arg, { timeout, polling: 100 }).then((h) => h.jsonValue(), () => null);
  const countText = () => document.querySelector("[data-fleet-count]")?.textContent ?? "";
  const showing = (n, total) => `Showing ${n} of ${total} ${total === 1 ? "host" : "hosts"}`;
  // Every card the fleet renders while scrolled through, against an expected list.
  const scrolled = async (want) => {
    const r = await page.evaluate(scrollThroughFleet);
    const names = r.cards.map((c) => c.name);
    return { ...r, names, ok: sameSet(names, want) && r.twice.length === 0, diff: listDiff(names, want) };
  };

  // The whole fleet, as the API knows it: "Showing M of M", and scrolling through
  // renders each host's card once.
  const known = await page.evaluate(apiHostNames).catch(() => []);
  const total = known.length;
  const counted = await wait((text) => document.querySelector("[data-fleet-count]")?.textContent === text, showing(total, total));
  const first = await scrolled(known);
  record(
    total > 0 && counted !== null && first.ok,
    "scrolling through the fleet renders every host's card once",
    `${first.names.length} of ${total} host(s) from /api/v1/hosts, at most ${first.most} card(s) in the document at once; says "${await page.evaluate(countText)}"${first.ok ? "" : `; ${first.diff}${first.twice.length ? `; twice: ${first.twice.join(", ")}` : ""}`}`,
  );
  const all = first.cards;
  // "99.8 % complete", or "— complete" before the hub has stored a batch.
  const badComplete = all.filter((c) => !/^(\d+(\.\d)? %|—) complete$/.test(c.complete));
  record(
    all.length > 0 && badComplete.length === 0,
    "completeness % is shown on every card",
    badComplete.length ? `missing on ${badComplete.map((c) => `${c.name} (${c.complete || "nothing"})`).join(", ")}` : `${[...new Set(all.map((c) => c.complete))].join(", ")} on ${all.length} card(s)`,
  );

  // Virtual: on a short phone screen the fleet is longer than the rendered window, so
  // at the top the last card is not in the document, and at the bottom the first.
  await page.setViewportSize({ width: PHONE_VIEWPORT.width, height: 500 });
  const ends = await page.evaluate(async () => {
    const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const has = (name) => document.querySelector(`#fleet [data-host="${CSS.escape(name)}"]`) !== null;
    const fleet = document.querySelector("#fleet");
    scrollTo(0, fleet.getBoundingClientRect().top + scrollY);
    await frames();
    await frames();
    const sections = [...fleet.querySelectorAll("[data-site]")].filter((s) => !s.hidden);
    const firstName = sections[0]?.querySelector("[data-host]")?.dataset.host;
    const tall = fleet.getBoundingClientRect().height > 4 * innerHeight;
    const top = { cards: fleet.querySelectorAll("[data-host]").length };
    scrollTo(0, document.documentElement.scrollHeight);
    await frames();
    await frames();
    const lastCards = [...(sections.at(-1)?.querySelectorAll("[data-host]") ?? [])];
    const lastName = lastCards.at(-1)?.dataset.host;
    const bottom = { cards: fleet.querySelectorAll("[data-host]").length, firstThere: firstName ? has(firstName) : null };
    scrollTo(0, fleet.getBoundingClientRect().top + scrollY);
    await frames();
    await frames();
    top.lastThere = lastName ? has(lastName) : null;
    scrollTo(0, 0);
    return { tall, firstName, lastName, top, bottom };
  });
  await page.setViewportSize(opts.viewport);
  const virtualOk = ends.tall ? ends.bottom.firstThere === false && ends.top.lastThere === false : ends.firstName != null;
  record(
    virtualOk,
    "cards far off screen are not in the document",
    ends.tall
      ? `400×500: at the fleet's top ${ends.top.cards} card(s) in the document, ${ends.lastName} ${ends.top.lastThere ? "among them" : "not"}; at the bottom ${ends.bottom.cards}, ${ends.firstName} ${ends.bottom.firstThere ? "among them" : "not"}`
      : `the fleet is no taller than four 400×500 screens (${total} host(s)): nothing to leave out`,
  );

  // A query that matches some cards but not all: the middle word of a host name
  // ("db" of "sim-db-004"), else a whole name.
  const matching = (q) => all.filter((c) => `${c.name}\n${c.site}`.toLowerCase().includes(q.toLowerCase()));
  const candidates = all.flatMap((c) => [c.name.split("-")[1], c.name]).filter(Boolean);
  const query = candidates.find((q) => matching(q).length > 0 && matching(q).length < all.length) ?? all[0]?.name ?? "";
  const expected = matching(query).map((c) => c.name);
  const search = page.locator("[data-fleet-search]");
  await search.pressSequentially(query, { delay: 40 });
  const want = showing(expected.length, total);
  const said = await wait((text) => (document.querySelector("[data-fleet-count]")?.textContent === text ? text : false), want);
  const narrowed = await scrolled(expected);
  record(
    said !== null && narrowed.ok,
    "typing in search narrows the cards",
    `"${query}": ${said !== null && narrowed.ok ? `${few(expected)}; says "${said}"` : `expected ${few(expected)} and "${want}", rendered ${few(narrowed.names)} (${narrowed.diff}), says "${await page.evaluate(countText)}"`}`,
  );

  // A card the filter hides is not in the document while hidden, so its live
  // messages (one a second on a simulated host) write nothing; shown again it has
  // caught up.
  const hidden = all.find((c) => !expected.includes(c.name));
  if (hidden) {
    const inDocument = () => page.locator(`#fleet [data-host="${hidden.name}"]`).count();
    const before = await inDocument();
    await page.waitForTimeout(3000);
    const after = await inDocument();
    record(before === 0 && after === 0, "a hidden card is not in the document while hidden", `${hidden.name}: ${before} → ${after} element(s) over 3 s`);
  }

  const hash = await page.evaluate(() => location.hash);
  record(new URLSearchParams(hash.replace(/^#\/?\?/, "")).get("q") === query, "the search is kept in the URL", hash);
  await page.reload({ waitUntil: "load" });
  const restoredText = await wait(
    ([q, text]) => document.querySelector("[data-fleet-search]")?.value === q && document.querySelector("[data-fleet-count]")?.textContent === text,
    [query, want],
  );
  const restored = await scrolled(expected);
  record(
    restoredText !== null && restored.ok,
    "the filter survives a reload",
    `search "${await search.inputValue()}", ${restored.ok ? `${restored.names.length} card(s)` : `rendered ${restored.names.join(", ")} (${restored.diff})`}, says "${await page.evaluate(countText)}"`,
  );

  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "fleet-search");
    await page.screenshot({ path });
    console.log(`screenshot saved to ${path}`);
  }

  await page.locator("[data-fleet-clear]").click();
  const clearedText = await wait(
    (text) => document.querySelector("[data-fleet-count]")?.textContent === text && document.querySelector("[data-fleet-search]").value === "" && !location.hash.includes("q="),
    showing(total, total),
  );
  if (hidden) {
    // Scrolled to: with a big fleet it may be far down.
    const fresh = await page.evaluate(async (name) => {
      const frames = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      scrollTo(0, 0);
      for (let step = 0; step < 5000; step += 1) {
        await frames();
        const el = document.querySelector(`#fleet [data-host="${CSS.escape(name)}"]`);
        if (el) {
          el.scrollIntoView({ block: "center" });
          await frames();
          const text = el.querySelector(".fresh")?.textContent ?? "";
          scrollTo(0, 0);
          // What the card should say: the age of the host's newest data per the API.
          const hosts = await fetch("/api/v1/hosts", { credentials: "same-origin" }).then((r) => r.json(), () => []);
          const seen = (Array.isArray(hosts) ? hosts : []).find((h) => h.host === name)?.last_seen_ms;
          return { text, apiAgeS: seen ? Math.max(0, (Date.now() - seen) / 1000) : null };
        }
        if (innerHeight + scrollY >= document.documentElement.scrollHeight - 2) break;
        scrollBy(0, innerHeight * 0.7);
      }
      scrollTo(0, 0);
      return { text: "never rendered", apiAgeS: null };
    }, hidden.name);
    // "just now" is under 5 s; a host whose data is late (a simulated crash, a busy
    // hub) is current when the card says what the API says, give or take 3 s.
    const m = /^(?:(just now)|(\d+) s ago|(\d+) min ago)$/.exec(fresh.text);
    const [cardAgeS, slackS] = !m ? [null, 0] : m[1] ? [0.5, 3.5] : m[2] ? [Number(m[2]) + 0.5, 3.5] : [Number(m[3]) * 60 + 30, 60];
    const current = cardAgeS !== null && fresh.apiAgeS !== null && Math.abs(cardAgeS - fresh.apiAgeS) <= slackS;
    record(
      current,
      "a hidden card catches up when shown",
      `${hidden.name}: "${fresh.text}", the API's newest data is ${fresh.apiAgeS === null ? "unknown" : `${fresh.apiAgeS.toFixed(1)} s old`}`,
    );
  }
  const cleared = await scrolled(all.map((c) => c.name));
  record(
    clearedText !== null && cleared.ok,
    "clearing the filter restores all cards",
    `${cleared.names.length} of ${total}${cleared.ok ? "" : ` (${cleared.diff})`}, ${await page.evaluate(() => location.hash || "(no hash)")}`,
  );

  // The site filter: only that site's cards, and its section alone.
  const sites = [...new Set(all.map((c) => c.site))];
  const site = sites.find((s) => all.filter((c) => c.site === s).length < all.length) ?? sites[0];
  const inSite = all.filter((c) => c.site === site).map((c) => c.name);
  await page.locator("[data-fleet-site]").selectOption(site);
  const siteText = await wait(
    ([s, text]) =>
      document.querySelector("[data-fleet-count]")?.textContent === text && new URLSearchParams(location.hash.replace(/^#\/?\?/, "")).get("site") === s,
    [site, showing(inSite.length, total)],
  );
  const bySite = await scrolled(inSite);
  const wrongSection = bySite.cards.filter((c) => c.site !== site).map((c) => c.name);
  record(
    siteText !== null && bySite.ok && wrongSection.length === 0,
    "the site filter shows only that site's cards",
    `${site}: ${bySite.names.length} card(s)${bySite.ok ? "" : ` (${bySite.diff})`}${wrongSection.length ? `, outside its section: ${wrongSection.join(", ")}` : ""}, ${await page.evaluate(() => location.hash)}`,
  );

  // The severity filter: hosts with an open anomaly of high or critical severity.
  // The feed's open items say which hosts those are (the demo may have none): the
  // count says how many, and every card in the document is one of them.
  await page.locator("[data-fleet-site]").selectOption("");
  await page.locator("[data-fleet-severity]").selectOption("high");
  const bySeverity = await wait((names) => {
    const open = new Set(
      [...document.querySelectorAll("#events .event.open")]
        .filter((el) => el.dataset.severity === "high" || el.dataset.severity === "critical")
        .map((el) => el.querySelector(".event-host").textContent),
    );
    const expected = names.filter((n) => open.has(n));
    const shown = [...document.querySelectorAll("#fleet [data-host]")].filter((el) => el.checkVisibility()).map((el) => el.dataset.host);
    const text = `Showing ${expected.length} of ${names.length} ${names.length === 1 ? "host" : "hosts"}`;
    const ok = document.querySelector("[data-fleet-count]")?.textContent === text && shown.every((n) => open.has(n)) && shown.length <= expected.length;
    const none = document.querySelector("[data-fleet-nomatch]")?.checkVisibility();
    return ok && (shown.length > 0 || (expected.length === 0 && none)) ? `${expected.length} of ${names.length} host(s), ${shown.length} rendered${shown.length ? "" : ', "No host matches"'}` : false;
  }, known);
  record(bySeverity !== null, "the severity filter shows hosts with an open high or critical anomaly", bySeverity ?? `rendered ${(await page.evaluate(shownCards)).join(", ")}, says "${await page.evaluate(countText)}"`);

  if (opts.screenshot) {
    // The filter bar on a phone and in the dark scheme, with a search typed in.
    await page.locator("[data-fleet-severity]").selectOption("");
    await search.fill(query);
    await search.press("Enter");
    await page.setViewportSize(PHONE_VIEWPORT);
    await page.waitForTimeout(300);
    // On a phone the forecasts and the feed come first; show the filter bar.
    await page.evaluate(() => {
      const bar = document.querySelector(".fleet-filter");
      scrollTo(0, bar.getBoundingClientRect().top + scrollY - document.querySelector(".top").offsetHeight - 8);
    });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    record(overflow <= 0, "the fleet and its filter fit a 400 px wide screen", overflow > 0 ? `${overflow} px too wide` : "no horizontal scroll");
    const phone = derivedPath(opts.screenshot, "fleet-phone");
    await page.screenshot({ path: phone });
    console.log(`screenshot saved to ${phone}`);
    await page.setViewportSize(opts.viewport);
    const other = opts.colorScheme === "dark" ? "light" : "dark";
    await page.emulateMedia({ colorScheme: other });
    await page.evaluate(() => scrollTo(0, 0));
    await page.waitForTimeout(300);
    const themed = derivedPath(opts.screenshot, `fleet-${other}`);
    await page.screenshot({ path: themed });
    console.log(`screenshot saved to ${themed}`);
    await page.emulateMedia({ colorScheme: opts.colorScheme });
  }
  await page.locator("[data-fleet-clear]").click();
  await wait((text) => document.querySelector("[data-fleet-count]")?.textContent === text, showing(total, total));
  await page.evaluate(() => scrollTo(0, 0));
}

/**
 * The host page checks; `record` as in main. Starts on the fleet view with cards
 * shown and ends there again.
 */
async function checkHostPage(page, opts, record) {
  // A simulated host: it always has a process list and every metric family.
  const card = page.locator("[data-host]:has(.sim-mark:not([hidden]))").first();
  const host = (await card.count()) ? await card.getAttribute("data-host") : null;
  if (!record(host !== null, "a simulated host's card to open", host ?? "no card marked sim")) return;

  // Live mode follows the socket by asking only for the span after its newest
  // point: a series request of under a minute, some seconds after the page opened.
  const incremental = page
    .waitForRequest((r) => r.url().includes("/api/v1/series?") && requestSpan(r.url()) < 60_000, {
      timeout: HOST_PAGE_TIMEOUT_MS + LIVE_TIMEOUT_MS,
    })
    .catch(() => null);

  // Opened from a filtered fleet (the search for its name): "← Fleet" must return
  // to that view, not to the whole fleet.
  const fleetHash = `#/?q=${encodeURIComponent(host)}`;
  await page.evaluate((hash) => {
    location.hash = hash;
  }, fleetHash);
  await page.waitForFunction((name) => document.querySelector(`[data-host="${CSS.escape(name)}"]`)?.checkVisibility(), host, {
    timeout: HOST_PAGE_TIMEOUT_MS,
  });
  // Click the card's body, not its link: the whole card opens the page.
  await page.locator(`[data-host="${host}"] .facts`).click();
  const opened = await page
    .waitForFunction(
      (name) => location.hash.startsWith(`#/host/${encodeURIComponent(name)}`) && document.querySelector("#host")?.checkVisibility(),
      host,
      { timeout: HOST_PAGE_TIMEOUT_MS },
    )
    .then(() => true, () => false);
  record(opened, "clicking a card opens its host page", await page.evaluate(() => location.hash));
  if (!opened) return;

  const charts = await page
    .waitForFunction(hostChartsSized, null, { timeout: HOST_PAGE_TIMEOUT_MS, polling: 250 })
    .then((h) => h.jsonValue(), () => null);
  const families = await page.locator("#host [data-family]").evaluateAll((els) => els.map((e) => e.dataset.family));
  record(charts !== null, "host page charts render", `${charts ?? 0} canvas(es) in ${families.length} families: ${families.join(", ")}`);

  const before = await page.locator("#host [data-live]").evaluateAll((els) => els.map((e) => e.textContent));
  const changed = await page
    .waitForFunction(
      (prev) => {
        const now = [...document.querySelectorAll("#host [data-live]")].map((e) => e.textContent);
        return now.some((t, i) => t !== prev[i] && t !== "—") ? now : false;
      },
      before,
      { timeout: LIVE_TIMEOUT_MS, polling: 250 },
    )
    .then((h) => h.jsonValue(), () => null);
  record(changed !== null, "a live value on the host page changes", `${before.join(" / ")} → ${changed ? changed.join(" / ") : "(unchanged)"}`);

  const rows = await page
    .waitForFunction(() => document.querySelectorAll("#host [data-processes] tbody tr").length || false, null, {
      timeout: HOST_PAGE_TIMEOUT_MS,
      polling: 250,
    })
    .then((h) => h.jsonValue(), () => 0);
  const firstRow = rows ? await page.locator("#host [data-processes] tbody tr").first().innerText() : "";
  record(rows > 0, "the top-processes table has rows", `${rows} row(s)${firstRow ? `, first: ${firstRow.replace(/\s+/g, " ")}` : ""}`);

  const backHref = await page.locator("#host .back").getAttribute("href");
  record(backHref === fleetHash, "“← Fleet” returns to the filtered fleet it came from", `href ${backHref}, opened from ${fleetHash}`);

  if (opts.bands) {
    // The demo's backfill warmed the detectors: the CPU total has a band.
    const banded = await page
      .waitForFunction(
        () => {
          const list = [...document.querySelectorAll("#host [data-family]")]
            .filter((el) => Number(el.dataset.bandSteps) > 0 && el.querySelector(".chart-band-key")?.checkVisibility())
            .map((el) => `${el.dataset.family} ${el.dataset.bandSteps}`);
          return list.some((f) => f.startsWith("cpu ")) ? list : false;
        },
        null,
        { timeout: HOST_PAGE_TIMEOUT_MS, polling: 250 },
      )
      .then((h) => h.jsonValue(), () => null);
    record(banded !== null, "charts shade the detector's expected band (CPU total among them)", banded ? `band steps per family: ${banded.join(", ")}` : "no band drawn on the CPU chart");
  }

  // When the API prices this host, the side panel shows it.
  const priced = await page.evaluate(async (name) => {
    const r = await fetch(`/api/v1/costs?host=${encodeURIComponent(name)}`).catch(() => null);
    const row = r?.ok ? (await r.json()).hosts?.find((c) => c.host === name) : null;
    return typeof row?.cost_per_hour === "number";
  }, host);
  if (priced) {
    const cost = await page
      .waitForFunction(() => {
        const el = document.querySelector('#host [data-panel="host-cost"]');
        return el?.checkVisibility() && /\/h/.test(el.textContent) ? el.innerText.replace(/\s+/g, " ") : false;
      }, null, { timeout: HOST_PAGE_TIMEOUT_MS, polling: 250 })
      .then((h) => h.jsonValue(), () => null);
    record(cost !== null, "the host page shows the host's cost", cost ?? "no cost panel");
  }

  const small = await incremental;
  record(
    small !== null,
    "live mode fetches only the new span",
    small ? `${new URL(small.url()).searchParams.get("name")}: ${(requestSpan(small.url()) / 1000).toFixed(1)} s` : "no series request under 60 s",
  );

  const steps = await page.locator("#host [data-step]").evaluateAll((els) => [...new Set(els.map((e) => e.dataset.step))]);
  console.log(`     live resolution: ${steps.join(", ") || "(none shown)"}`);
  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "host");
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot saved to ${path}`);
  }

  // 24 h: every series request must now span about a day, and the charts draw again.
  const DAY = 86_400_000;
  const wide = page.waitForRequest((r) => r.url().includes("/api/v1/series?") && requestSpan(r.url()) >= DAY * 0.99, {
    timeout: HOST_PAGE_TIMEOUT_MS,
  });
  await page.locator('#host [data-range="24h"]').click();
  const request = await wide.catch(() => null);
  const redrawn = request
    ? await page
        .waitForFunction(
          () =>
            !/loading/.test(document.querySelector("#host .range-status")?.textContent ?? "loading") &&
            document.querySelectorAll("#host .family .uplot canvas").length > 0 &&
            [...document.querySelectorAll("#host .family .uplot canvas")].every((c) => c.width > 0),
          null,
          { timeout: HOST_PAGE_TIMEOUT_MS, polling: 250 },
        )
        .then(() => true, () => false)
    : false;
  const q = request ? new URL(request.url()).searchParams : null;
  const steps24 = await page.locator("#host [data-step]").evaluateAll((els) => [...new Set(els.map((e) => e.dataset.step))]);
  record(
    request !== null && redrawn,
    "24 h asks for a day of data and renders",
    request
      ? `span ${(requestSpan(request.url()) / 3_600_000).toFixed(1)} h, max_points ${q.get("max_points")}, ${steps24.join(", ") || "no step shown"}${redrawn ? "" : ", charts not redrawn"}`
      : "no /api/v1/series request spanning 24 h",
  );

  if (opts.screenshot) {
    // The phone layout, back on the live range.
    await page.locator('#host [data-range="live"]').click();
    await page.setViewportSize(PHONE_VIEWPORT);
    await page
      .waitForFunction(() => !/loading/.test(document.querySelector("#host .range-status")?.textContent ?? "loading"), null, {
        timeout: HOST_PAGE_TIMEOUT_MS,
      })
      .catch(() => {});
    await page.waitForFunction(hostChartsSized, null, { timeout: HOST_PAGE_TIMEOUT_MS }).catch(() => {});
    await page.waitForTimeout(500); // let the resize observers settle the chart widths
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    record(overflow <= 0, "host page fits a 400 px wide screen", overflow > 0 ? `${overflow} px too wide` : "no horizontal scroll");
    const path = derivedPath(opts.screenshot, "host-phone");
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot saved to ${path}`);
    await page.setViewportSize(opts.viewport);
  }

  await page.goBack();
  const back = await page
    .waitForFunction(
      () =>
        !document.querySelector("#host")?.checkVisibility() &&
        [...document.querySelectorAll("[data-host]")].some((el) => el.checkVisibility()),
      null,
      { timeout: HOST_PAGE_TIMEOUT_MS },
    )
    .then(() => true, () => false);
  record(back, "back returns to the fleet", await page.evaluate(() => location.hash || "(no hash)"));
  // The checks after this one start from the whole fleet.
  await page.evaluate(() => {
    location.hash = "#/";
  });
  await page.waitForFunction(() => !/^#\/\?/.test(location.hash), null, { timeout: HOST_PAGE_TIMEOUT_MS }).catch(() => {});
}

/**
 * Console errors a step provokes on purpose, each forgiven once: Chromium logs every
 * HTTP error response ("Failed to load resource: … 400"), including the 400 the
 * alerts form is meant to show inline. `{ why, test(text, url) }`.
 */
const expectedErrors = [];

/** `path` under the alert service's base URL (with or without a trailing slash). */
const alertsApi = (base, path) => `${base.replace(/\/+$/, "")}${path}`;

/** POSTs Alertmanager-style alerts to the alert service; → the HTTP status, or an error text. */
async function postAlerts(base, alerts) {
  try {
    const res = await fetch(alertsApi(base, "/api/v2/alerts"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(alerts),
    });
    return res.ok ? res.status : `HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`;
  } catch (err) {
    return err.message;
  }
}

/**
 * The alerts page checks; `record` as in main. Starts on the fleet with the
 * header's Alerts link shown and ends on the fleet again.
 */
async function checkAlertsPage(page, opts, alertsUrl, record) {
  const wait = (fn, arg, timeout = ALERTS_PAGE_TIMEOUT_MS) =>
    page.waitForFunction(fn, arg, { timeout, polling: 250 }).then((h) => h.jsonValue(), () => null);

  const link = page.locator('#nav [data-nav="alerts"]');
  const linkShown = await link.isVisible();
  if (!record(linkShown, "the header shows an Alerts link", linkShown ? "" : "#nav hidden: the page found no alert service")) return;
  await link.click();
  const opened = await wait(() => location.hash === "#/alerts" && document.querySelector("#alerts [data-alerts-form]")?.checkVisibility());
  record(opened !== null, "the Alerts link opens #/alerts", await page.evaluate(() => location.hash));
  if (opened === null) return;

  // The demo has its own subscription, so the list is never empty there.
  const listed = await wait(() => {
    const rows = [...document.querySelectorAll("#alerts [data-subscriptions] tbody tr")].map((r) => r.dataset.name);
    return rows.length ? rows : false;
  });
  const status = await page.locator("#alerts [data-alerts-status]").textContent();
  record(listed !== null, "the alerts page lists subscriptions", listed ? listed.join(", ") : `none listed${status ? `; page says: ${status}` : ""}`);

  // Connected before anything fires: a notification sent earlier is not replayed.
  const connected = await wait(() => document.querySelector("#alerts .alerts-live .conn")?.dataset.state === "live");
  record(connected !== null, "the live notification socket connects", await page.locator("#alerts .alerts-live .conn").textContent());

  const form = page.locator("#alerts [data-alerts-form]");
  const target = form.locator('[name="target"]');
  await form.locator('[name="channel"]').selectOption("webhook");
  const webhookFields = (await target.isVisible()) && (await form.locator('[name="secret"]').isVisible());
  await form.locator('[name="channel"]').selectOption("live");
  const liveFields = !(await target.isVisible());
  record(webhookFields && liveFields, "the channel select shows the fields it needs", `webhook: URL + secret ${webhookFields ? "shown" : "missing"}; live: URL ${liveFields ? "hidden" : "still shown"}`);

  await form.locator('[name="name"]').fill(TEST_SUBSCRIPTION);
  await form.locator('[name="match"]').fill("severity>>high");
  const subscriptionsUrl = alertsApi(alertsUrl, "/api/v1/subscriptions");
  expectedErrors.push({
    why: "the 400 answering an invalid match",
    test: (text, url) => url === subscriptionsUrl && /status of 400/.test(text),
  });
  await form.getByRole("button", { name: "Subscribe" }).click();
  const invalid = await wait(() => {
    const el = document.querySelector("#alerts [data-form-error]");
    return el?.checkVisibility() && el.textContent ? el.textContent : false;
  });
  record(invalid !== null, "an invalid match shows the service's error inline", invalid ?? "no error shown");

  await form.locator('[name="match"]').fill(`alertname=${TEST_ALERT}`);
  await form.getByRole("button", { name: "Subscribe" }).click();
  const created = await wait(
    (name) => document.querySelector(`#alerts [data-subscriptions] tr[data-name="${name}"]`)?.dataset.subscription ?? false,
    TEST_SUBSCRIPTION,
  );
  const rowText = created ? (await page.locator(`#alerts tr[data-subscription="${created}"]`).innerText()).replace(/\s+/g, " ").trim() : "";
  const formError = await page.locator("#alerts [data-form-error]").textContent();
  record(created !== null, "the form creates a subscription shown in the table", created ? rowText : `no row "${TEST_SUBSCRIPTION}"${formError ? `; form says: ${formError}` : ""}`);
  if (created === null) return;

  const started = Date.now();
  const posted = await postAlerts(alertsUrl, [
    {
      labels: { alertname: TEST_ALERT, severity: "high", host: "browser" },
      annotations: { summary: "fired by scripts/browser-check.mjs" },
    },
  ]);
  record(posted === 200, "the alert service accepts a test alert", `POST ${alertsApi(alertsUrl, "/api/v2/alerts")}: ${posted}`);

  const notified = await wait(
    ([alertname, receiver]) => {
      const item = [...document.querySelectorAll("#alerts [data-notification]")].find(
        (el) => el.textContent.includes(alertname) && el.querySelector(".event-host")?.textContent === receiver,
      );
      return item ? item.innerText : false;
    },
    [TEST_ALERT, TEST_SUBSCRIPTION],
    NOTIFICATION_TIMEOUT_MS,
  );
  record(
    notified !== null,
    "a live notification for the test alert appears",
    notified !== null
      ? `after ${((Date.now() - started) / 1000).toFixed(1)} s: ${notified.replace(/\s+/g, " ").trim()}`
      : `none for "${TEST_SUBSCRIPTION}" mentioning ${TEST_ALERT} in ${NOTIFICATION_TIMEOUT_MS / 1000} s (${await page.locator("#alerts [data-notification]").count()} other(s))`,
  );

  // Active, not merely listed: an earlier run's resolved BrowserCheck may still be there.
  const listedAlert = await wait((name) => {
    const item = [...document.querySelectorAll("#alerts [data-alerts] [data-alert]")].find(
      (el) => el.dataset.state === "active" && el.querySelector(".event-host")?.textContent === name,
    );
    return item ? item.innerText : false;
  }, TEST_ALERT);
  const shown = await page.locator("#alerts [data-alerts] [data-alert]").evaluateAll((els) =>
    els.map((el) => `${el.querySelector(".event-host")?.textContent} (${el.dataset.state})`).join(", "),
  );
  record(
    listedAlert !== null,
    "the test alert shows as active in Alerts now",
    listedAlert !== null ? listedAlert.replace(/\s+/g, " ").trim() : `not active there; listed: ${shown || "nothing"}`,
  );

  const delivery = await wait((name) => {
    const row = [...document.querySelectorAll("#alerts [data-deliveries] tbody tr")].find((r) => r.textContent.includes(name));
    return row ? row.innerText : false;
  }, TEST_SUBSCRIPTION);
  record(delivery !== null, "its delivery shows in Recent deliveries", (delivery ?? "no row").replace(/\s+/g, " ").trim());

  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "alerts");
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot saved to ${path}`);
    await page.setViewportSize(PHONE_VIEWPORT);
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    record(overflow <= 0, "alerts page fits a 400 px wide screen", overflow > 0 ? `${overflow} px too wide` : "no horizontal scroll");
    const phone = derivedPath(opts.screenshot, "alerts-phone");
    await page.screenshot({ path: phone, fullPage: true });
    console.log(`screenshot saved to ${phone}`);
    await page.setViewportSize(opts.viewport);
  }

  await page.locator(`#alerts tr[data-subscription="${created}"]`).getByRole("button", { name: "Delete" }).click();
  const gone = await wait((id) => !document.querySelector(`#alerts tr[data-subscription="${id}"]`), created);
  const remaining = await fetch(alertsApi(alertsUrl, "/api/v1/subscriptions"))
    .then((r) => r.json())
    .then((subs) => (Array.isArray(subs) ? subs.filter((x) => x.id === created).length : -1), () => -1);
  record(
    gone !== null && remaining === 0,
    "Delete removes the subscription",
    `${gone !== null ? "row gone" : "row still shown"}; the service ${remaining === 0 ? "no longer has it" : remaining > 0 ? "still has it" : "could not be asked"}`,
  );

  // Leave nothing firing behind: an alert with an end in the past is resolved.
  await postAlerts(alertsUrl, [
    { labels: { alertname: TEST_ALERT, severity: "high", host: "browser" }, endsAt: new Date().toISOString() },
  ]);

  await page.locator('#nav [data-nav="fleet"]').click();
  const back = await wait(
    () => !document.querySelector("#alerts")?.checkVisibility() && [...document.querySelectorAll("[data-host]")].some((el) => el.checkVisibility()),
  );
  record(back !== null, "the Fleet link returns to the fleet", await page.evaluate(() => location.hash || "(no hash)"));
}

/**
 * The sign-in checks (--login); `record` as in main. Starts on a freshly loaded
 * page and ends signed in, with the fleet about to load.
 */
async function checkLogin(page, opts, record) {
  const { readFile } = await import("node:fs/promises");
  const password = (await readFile(opts.passwordFile, "utf8")).replace(/\r?\n$/, "");
  const form = page.locator("[data-login-form]");
  const shown = await form.waitFor({ state: "visible", timeout: CARDS_TIMEOUT_MS }).then(() => true, () => false);
  const cards = await page.locator("[data-host]").count();
  record(shown && cards === 0, "the page asks for a login and shows no host", `${shown ? "form shown" : "no form"}, ${cards} card(s)`);
  const anonymous = await fetch(new URL("/api/v1/hosts", opts.url)).then((r) => r.status, (e) => e.message);
  record(anonymous === 401, "the API refuses a request without a session", `GET /api/v1/hosts: ${anonymous}`);
  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "login");
    await page.screenshot({ path });
    console.log(`screenshot saved to ${path}`);
  }
  if (!shown) return false;

  const loginUrl = new URL("/api/v1/auth/login", opts.url).toString();
  expectedErrors.push({
    why: "the 401 answering a wrong password",
    test: (text, url) => url === loginUrl && /status of 401/.test(text),
  });
  await form.locator('[name="username"]').fill(opts.login);
  await form.locator('[name="password"]').fill(`${password}-wrong`);
  await form.getByRole("button", { name: "Sign in" }).click();
  const refused = await page
    .waitForFunction(() => {
      const el = document.querySelector("[data-login-error]");
      return el?.checkVisibility() && el.textContent ? el.textContent : false;
    }, null, { timeout: CARDS_TIMEOUT_MS, polling: 250 })
    .then((h) => h.jsonValue(), () => null);
  record(refused !== null && /wrong/i.test(refused), "a wrong password is refused on the form", refused ?? "no error shown");
  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "login-failed");
    await page.screenshot({ path });
    console.log(`screenshot saved to ${path}`);
  }

  await form.locator('[name="password"]').fill(password);
  await form.getByRole("button", { name: "Sign in" }).click();
  const signedIn = await page
    .waitForFunction((user) => !document.querySelector("[data-login-form]") && document.querySelector("[data-user]")?.dataset.user === user, opts.login, {
      timeout: CARDS_TIMEOUT_MS,
      polling: 250,
    })
    .then(() => true, () => false);
  record(signedIn, "the right password signs in", signedIn ? `header shows ${opts.login}` : "the form is still there");
  return signedIn;
}

// The API description page (/api/docs): public even where the dashboard needs a
// login, and it renders every documented operation from /api/openapi.json.
async function checkApiDocs(page, opts, record) {
  await page.goto(new URL("/api/docs", opts.url).toString(), { waitUntil: "load" });
  const shown = await page
    .waitForFunction(
      () => {
        const ops = document.querySelectorAll("#doc .op .path");
        const paths = [...ops].map((e) => e.textContent);
        return paths.includes("/api/v1/hosts") && paths.includes("/api/v1/forecasts") ? paths.length : false;
      },
      null,
      { timeout: CARDS_TIMEOUT_MS },
    )
    .then((h) => h.jsonValue(), () => null);
  record(shown !== null, "the API page renders the OpenAPI document", shown !== null ? `${shown} operations` : await page.locator("#doc").innerText());
  if (opts.screenshot) {
    const path = derivedPath(opts.screenshot, "api");
    await page.screenshot({ path, fullPage: true });
    console.log(`screenshot saved to ${path}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const results = [];
  const record = (ok, name, detail = "") => {
    results.push(ok);
    console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
    return ok;
  };
  const errors = [];

  // Files answered by page.route count as a public origin to Chromium, which then
  // blocks their WebSocket to loopback; --static turns that check off.
  const args = opts.staticDir ? [...LAUNCH_ARGS, "--disable-features=LocalNetworkAccessChecks"] : LAUNCH_ARGS;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args });
  try {
    const page = await browser.newPage({ viewport: opts.viewport, colorScheme: opts.colorScheme });
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const i = expectedErrors.findIndex((e) => e.test(msg.text(), msg.location().url));
      if (i >= 0) console.log(`     expected console error (${expectedErrors.splice(i, 1)[0].why}): ${msg.text()}`);
      else errors.push(`console error: ${msg.text()}${msg.location().url ? ` (${msg.location().url})` : ""}`);
    });
    page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
    if (opts.staticDir) {
      const { readFile } = await import("node:fs/promises");
      const { extname, join, normalize } = await import("node:path");
      const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
      await page.route(
        (url) => url.origin === new URL(opts.url).origin && !url.pathname.startsWith("/api/"),
        async (route) => {
          const rel = normalize(new URL(route.request().url()).pathname).replace(/^\/+/, "") || "index.html";
          const body = await readFile(join(opts.staticDir, rel)).catch(() => null);
          if (body === null) return route.fulfill({ status: 404, body: "not found" });
          return route.fulfill({ status: 200, body, contentType: types[extname(rel)] ?? "application/octet-stream" });
        },
      );
    }

    // Where the alert service is: the server's own answer first, --alerts when it has none.
    const info = await fetch(new URL("/api/v1/info", opts.url))
      .then((r) => r.json())
      .catch(() => null);
    const alertsUrl = info?.alerts_url || opts.alerts;
    const pageUrl = new URL(opts.url);
    if (!info?.alerts_url && opts.alerts) {
      pageUrl.searchParams.set("alerts", opts.alerts);
      console.log(`     /api/v1/info names no alert service: the page gets ?alerts=${opts.alerts}`);
    }

    const response = await page.goto(pageUrl.toString(), { waitUntil: "load" }).catch((err) => err);
    const loaded = !(response instanceof Error) && response !== null && response.ok();
    record(loaded, "page loads", response instanceof Error ? response.message.split("\n")[0] : `HTTP ${response?.status()}`);

    if (loaded && info?.mode === "demo") {
      const notice = await page
        .waitForFunction(() => document.querySelector("#demo-notice")?.checkVisibility() && document.querySelector("#demo-notice").textContent, null, {
          timeout: CARDS_TIMEOUT_MS,
        })
        .then((h) => h.jsonValue(), () => null);
      record(notice !== null && /no login/i.test(notice), "demo mode says no login is needed", notice ?? "no demo notice shown");
    }
    const signedIn = loaded && opts.login ? await checkLogin(page, opts, record) : loaded;
    if (signedIn) {
      // The list is virtual: the count names every host, the document holds the
      // cards near the screen (all of them when they fit).
      const cards = page.locator("[data-host]");
      const cardsOk = await page
        .waitForFunction(
          (n) => {
            const m = /of (\d+) host/.exec(document.querySelector("[data-fleet-count]")?.textContent ?? "");
            const visible = [...document.querySelectorAll("[data-host]")].filter((el) => el.checkVisibility()).length;
            return m && Number(m[1]) >= n && visible >= Math.min(n, 1);
          },
          opts.minHosts,
          { timeout: CARDS_TIMEOUT_MS },
        )
        .then(() => true, () => false);
      record(
        cardsOk,
        `at least ${opts.minHosts} host(s) in the fleet, cards visible`,
        `${await page.locator("[data-fleet-count]").textContent().catch(() => "no count")}; ${await cards.count()} card(s) in the document`,
      );

      const before = await page.evaluate(readLiveValues);
      const changed = await page
        .waitForFunction(
          // Same walk as readLiveValues, inlined: a page function cannot call ours,
          // and eval would trip a Content-Security-Policy.
          (prev) => {
            for (const el of document.querySelectorAll("[data-host] [data-metric]")) {
              const key = `${el.closest("[data-host]").dataset.host}/${el.dataset.metric}`;
              if (key in prev && el.textContent !== prev[key]) return key;
            }
            return false;
          },
          before,
          { timeout: LIVE_TIMEOUT_MS, polling: 250 },
        )
        .then((h) => h.jsonValue(), () => null);
      const sample = Object.entries(before)[0];
      record(
        changed !== null,
        "a displayed live value changes",
        changed !== null
          ? `${changed}: ${before[changed]} → ${(await page.evaluate(readLiveValues))[changed]}`
          : `nothing changed in ${LIVE_TIMEOUT_MS / 1000} s${sample ? ` (e.g. ${sample[0]} stayed ${sample[1]})` : ", no values shown"}`,
      );

      const drawn = await page
        .waitForFunction(someChartDrawn, null, { timeout: CHART_TIMEOUT_MS, polling: 250 })
        .then(() => true, () => false);
      record(drawn, "a uPlot chart canvas is drawn", `${await page.locator(".uplot canvas").count()} chart canvas(es)`);

      const feed = await page
        .waitForFunction(eventsPanelState, null, { timeout: EVENTS_TIMEOUT_MS, polling: 250 })
        .then((h) => h.jsonValue(), () => null);
      record(
        feed !== null,
        "events panel shows events or its empty state",
        feed ?? `${await page.locator('[data-panel="events"]').count()} panel(s), neither items nor "No anomalies so far"`,
      );

      if (opts.anomalyHost) await checkInjectedAnomaly(page, opts, record);

      // The demo's hosts all send CPUs and memory, so its hub prices every one.
      if (info?.mode === "demo") {
        const cost = await page
          .waitForFunction(() => {
            const el = document.querySelector("#costs [data-cost-fleet]");
            return el?.checkVisibility() && /\/h\b.*\/month/.test(el.textContent) ? el.textContent : false;
          }, null, { timeout: EVENTS_TIMEOUT_MS, polling: 250 })
          .then((h) => h.jsonValue(), () => null);
        record(cost !== null, "the cost panel shows a fleet total", cost ?? "no fleet total in #costs");

        const fresh = await page
          .waitForFunction(() => {
            const el = document.querySelector(".site-name [data-site-fresh]");
            return el?.checkVisibility() && /^newest data (just now|\d+ s ago)$/.test(el.textContent) ? el.textContent : false;
          }, null, { timeout: LIVE_TIMEOUT_MS, polling: 250 })
          .then((h) => h.jsonValue(), () => null);
        record(
          fresh !== null,
          "a site header says how fresh its newest data is",
          fresh ?? (await page.locator(".site-name [data-site-fresh]").first().textContent({ timeout: 1000 }).catch(() => "no [data-site-fresh]")),
        );

        const corr = await page
          .waitForFunction(() => {
            const el = document.querySelector("#correlations [data-corr-fleet]");
            return el?.checkVisibility() && /r (−?\d\.\d\d|–) · ρ (−?\d\.\d\d|–) · n \d+ host/.test(el.textContent) ? el.textContent : false;
          }, null, { timeout: CORRELATIONS_TIMEOUT_MS, polling: 500 })
          .then((h) => h.jsonValue(), () => null);
        record(
          corr !== null,
          "the Anomalies vs load panel shows the hub's correlation and sample size",
          corr ?? `no statistics in #correlations (${(await page.locator("#correlations").textContent().catch(() => "")) || "empty"})`,
        );
      }

      if (opts.screenshot) {
        await page.screenshot({ path: opts.screenshot });
        console.log(`screenshot saved to ${opts.screenshot}`);
      }

      await checkFleetFilter(page, opts, record);
      await checkHostPage(page, opts, record);
      if (alertsUrl) await checkAlertsPage(page, opts, alertsUrl, record);
      else console.log("     skipped the alerts page: /api/v1/info names no alert service and no --alerts given");
    }
    if (loaded) await checkApiDocs(page, opts, record);

    record(errors.length === 0, "no console or page errors", errors.length ? `\n  ${errors.join("\n  ")}` : "");
  } finally {
    await browser.close();
  }

  const failed = results.filter((ok) => !ok).length;
  console.log(`browser-check: ${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(`browser-check: ${err.stack ?? err}`);
  console.log("browser-check: 0 passed, 1 failed");
  process.exit(1);
});
