// hostwatch dashboard entry point: wires the REST API, the live socket, the fleet
// view and the header together. Plain ES modules, no build step.

import { AlertsPage } from "./js/alertspage.js";
import { ApiError, fetchCorrelations, fetchCosts, fetchCpuHistory, fetchEvents, fetchForecasts, fetchHosts, fetchInfo } from "./js/api.js";
import { CorrelationPanel } from "./js/correlations.js";
import { CostPanel } from "./js/costs.js";
import { ChartPool, WINDOW_S } from "./js/cpuchart.js";
import { EventFeed } from "./js/events.js";
import { ForecastPanel } from "./js/forecasts.js";
import { FleetView } from "./js/fleet.js";
import { isEmptyFilter, normalizeFilter } from "./js/fleetfilter.js";
import { HostPage } from "./js/hostpage.js";
import { LiveConnection, liveUrl } from "./js/live.js";
import { loginGate, sessionLost } from "./js/login.js";

const $ = (id) => document.getElementById(id);

/** Seed requests in flight at once; a big fleet must not open 100 requests together. */
const SEED_CONCURRENCY = 4;
/** About one point per second over the window, which is what the agents send. */
const SEED_MAX_POINTS = WINDOW_S;
/** A live gap longer than this is refilled from history after reconnecting. */
const RESEED_AFTER_GAP_MS = 5000;

const pool = new ChartPool(requestSeed);
const fleet = new FleetView($("fleet"), pool, {
  // replaceState: typing a search should not add a "back" step per keystroke.
  onFilterChange: (f) => history.replaceState(null, "", fleetHash(f)),
});
const feed = new EventFeed($("events"), { onOpenChange: (worst) => fleet.markEvents(worst) });
let live = null;
/** The newest object of every host, for the host page's header. */
const hosts = new Map();
/** The open host page, or null while the fleet is shown. */
let hostPage = null;
/** The open alerts page, or null. */
let alertsPage = null;
/** {url, demo} of the alert service once /api/v1/info named one, else null. */
let alertService = null;
let snapshots = 0;
let lastMessageAt = 0;

// --- Chart history: a small queue so seeding is bounded and never duplicated. ---

const seedQueue = new Set();
let seedsRunning = 0;

function requestSeed(chart) {
  seedQueue.add(chart);
  pumpSeeds();
}

function pumpSeeds() {
  while (seedsRunning < SEED_CONCURRENCY && seedQueue.size > 0) {
    const chart = seedQueue.values().next().value;
    seedQueue.delete(chart);
    seedsRunning += 1;
    seedOne(chart).finally(() => {
      seedsRunning -= 1;
      pumpSeeds();
    });
  }
}

async function seedOne(chart) {
  const card = fleet.cards.get(chart.host);
  if (!card || card.chart !== chart) return; // the host went away meanwhile
  // End the window at the later of the browser's and the host's clock so a skewed
  // browser still gets the host's latest points.
  const to = Math.max(Date.now(), card.lastSeenMs ?? 0);
  try {
    chart.seed(await fetchCpuHistory(chart.host, to - WINDOW_S * 1000, to, SEED_MAX_POINTS));
  } catch (err) {
    // Not fatal: the chart still fills from live data. Try again when next visible.
    chart.needsSeed = true;
    console.warn(`hostwatch: no CPU history for ${chart.host}: ${err.message}`);
  }
}

// --- Anomaly feed ---

/** The first page of events; the feed keeps up to 200 as live ones arrive. */
const EVENTS_LIMIT = 100;

/**
 * Called at start and after every reconnect, since events that opened or closed
 * while the socket was down were never pushed. Merged, so it cannot undo a live
 * update that arrived while the request was in flight.
 */
async function loadEvents() {
  try {
    feed.load(await fetchEvents(EVENTS_LIMIT));
    feed.showLoadError("");
  } catch (err) {
    // Not fatal: live events still fill the feed.
    console.warn(`hostwatch: no event history: ${err.message}`);
    feed.showLoadError(explain(err, "recent anomalies"));
  }
}

// --- Capacity forecasts ---

const forecasts = new ForecastPanel($("forecasts"));

/** At start and after every reconnect; a source without forecasts hides the panel. */
async function loadForecasts() {
  try {
    forecasts.load(await fetchForecasts());
  } catch (err) {
    forecasts.load([]);
    console.warn(`hostwatch: no forecasts: ${err.message}`);
  }
}

// --- Cost estimate ---

const costs = new CostPanel($("costs"));

/**
 * At start, after every reconnect and when the tab is shown again: the live
 * socket does not carry costs, and a refresh on return (rather than polling)
 * is enough for figures that move only with utilization.
 */
async function loadCosts() {
  try {
    costs.load(await fetchCosts());
  } catch (err) {
    costs.load(null);
    console.warn(`hostwatch: no cost estimate: ${err.message}`);
  }
}

// --- Anomalies vs load ---

/**
 * Like the costs, plus once when a hub's next analysis is due (the panel
 * schedules it): the hubs recompute every 10 minutes, and nothing else changes it.
 */
async function loadCorrelations() {
  try {
    correlations.load(await fetchCorrelations());
  } catch (err) {
    correlations.load(null);
    console.warn(`hostwatch: no anomaly/load correlation: ${err.message}`);
  }
}

const correlations = new CorrelationPanel($("correlations"), loadCorrelations);

// --- Routing: "#/" (or nothing) is the fleet, "#/host/NAME?range=24h" a host page,
// "#/alerts" the alerts page ---

const isAlertsRoute = () => /^#\/alerts(?:\?.*)?$/.test(location.hash);

/** → {host, range, from, to} for a host page, or null for the fleet. */
function parseRoute() {
  const m = /^#\/host\/([^?]+)(?:\?(.*))?$/.exec(location.hash);
  if (!m) return null;
  let host;
  try {
    host = decodeURIComponent(m[1]);
  } catch {
    return null; // a mangled link: show the fleet rather than fail
  }
  const q = new URLSearchParams(m[2] ?? "");
  return { host, range: q.get("range") ?? "live", from: Number(q.get("from")), to: Number(q.get("to")) };
}

/** The range is kept in the URL so a reload or a shared link shows the same thing. */
function routeHash(route) {
  const q = new URLSearchParams({ range: route.range });
  if (route.range === "custom") {
    q.set("from", String(route.from));
    q.set("to", String(route.to));
  }
  return `#/host/${encodeURIComponent(route.host)}?${q}`;
}

/** The fleet's filter from "#/?q=web&site=eu&sev=high"; the fleet shows everything without one. */
function parseFleetFilter() {
  const m = /^#\/?\?(.*)$/.exec(location.hash);
  const q = new URLSearchParams(m ? m[1] : "");
  return normalizeFilter({ q: q.get("q") ?? "", site: q.get("site") ?? "", sev: q.get("sev") ?? "" });
}

/** Kept in the URL like the host page's range, so a filtered view can be shared and reloaded. */
function fleetHash(f) {
  if (isEmptyFilter(f)) return "#/";
  const q = new URLSearchParams();
  if (f.q) q.set("q", f.q);
  if (f.site) q.set("site", f.site);
  if (f.sev) q.set("sev", f.sev);
  return `#/?${q}`;
}

/** The fleet view last shown, filter included: where the host page's "← Fleet" returns. */
let lastFleetHash = "#/";

function showRoute() {
  const alerts = isAlertsRoute();
  const route = alerts ? null : parseRoute();
  if (hostPage && (!route || route.host !== hostPage.name)) {
    hostPage.destroy();
    hostPage = null;
  }
  if (alertsPage && !alerts) {
    alertsPage.destroy();
    alertsPage = null;
  }
  $("host").hidden = !route;
  $("alerts").hidden = !alerts;
  document.querySelector(".layout").hidden = Boolean(route) || alerts;
  forecasts.setRouteVisible(!route && !alerts);
  costs.setRouteVisible(!route && !alerts);
  correlations.setRouteVisible(!route && !alerts);
  for (const a of document.querySelectorAll("[data-nav]")) {
    const current = a.dataset.nav === (alerts ? "alerts" : route ? "" : "fleet");
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (alerts) {
    document.title = "Alerts · hostwatch";
    if (!alertsPage && alertService) {
      alertsPage = new AlertsPage($("alerts"), alertService);
      scrollTo(0, 0);
    } else if (!alertService) {
      $("alerts").replaceChildren(
        Object.assign(document.createElement("p"), {
          className: "empty",
          textContent: "This dashboard has no alert service configured.",
        }),
      );
    }
    return;
  }
  if (route && !hostPage) {
    hostPage = new HostPage($("host"), route, hosts.get(route.host) ?? null, {
      fleetHref: lastFleetHash,
      // replaceState: a range change should not need several "back"s to leave.
      onRangeChange: (r) => history.replaceState(null, "", routeHash(r)),
    });
    document.title = `${route.host} · hostwatch`;
    scrollTo(0, 0);
  } else if (route) {
    hostPage.setRange(route);
  } else {
    document.title = "hostwatch";
    const filter = parseFleetFilter();
    lastFleetHash = fleetHash(filter);
    fleet.setFilter(filter);
  }
}

function noteHost(host) {
  if (!host || typeof host.host !== "string") return;
  hosts.set(host.host, host);
  if (hostPage && hostPage.name === host.host) hostPage.update(host);
}

// --- Header ---

function renderCounts() {
  const hosts = fleet.hostCount;
  const sites = fleet.siteCount;
  $("counts").textContent =
    `${hosts} ${hosts === 1 ? "host" : "hosts"} · ${sites} ${sites === 1 ? "site" : "sites"}`;
}

function renderConnection() {
  const el = $("conn");
  const state = live ? live.state : "connecting";
  let text = { connecting: "connecting…", live: "live" }[state];
  if (state === "reconnecting") {
    const s = Math.max(0, Math.ceil((live.retryAt - Date.now()) / 1000));
    text = `offline · retry in ${s} s`;
  }
  el.dataset.state = state;
  if (el.textContent !== text) el.textContent = text;
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = !text;
}

function explain(err, what) {
  if (err instanceof ApiError && err.status === 401) sessionLost();
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    return "Sign in required to see the fleet.";
  }
  return `Could not load ${what}: ${err.message}`;
}

// --- Live messages ---

function onMessage(msg) {
  const gapMs = Date.now() - lastMessageAt;
  lastMessageAt = Date.now();
  switch (msg.type) {
    case "snapshot": {
      snapshots += 1;
      fleet.replaceAll(Array.isArray(msg.hosts) ? msg.hosts : []);
      for (const host of Array.isArray(msg.hosts) ? msg.hosts : []) noteHost(host);
      if (snapshots > 1 && gapMs > RESEED_AFTER_GAP_MS) hostPage?.resync();
      // A later snapshot means the socket was down: refill the charts' gap from
      // history, unless it was so short that a missing point or two does not show.
      if (snapshots > 1 && gapMs > RESEED_AFTER_GAP_MS) pool.reseedAll();
      // Events have no such shortcut: one missed close would leave a host marked.
      if (snapshots > 1) loadEvents();
      if (snapshots > 1) loadForecasts();
      if (snapshots > 1) loadCosts();
      if (snapshots > 1) loadCorrelations();
      showError("");
      renderCounts();
      break;
    }
    case "host":
      if (fleet.upsert(msg.host)) renderCounts();
      noteHost(msg.host);
      break;
    case "event":
      feed.apply(msg.event);
      if (hostPage && msg.event?.host === hostPage.name) hostPage.applyEvent(msg.event);
      break;
    default:
      // Newer servers may send more message types; an older page ignores them.
      break;
  }
}

// --- Boot ---

/**
 * Where the alert service is: /api/v1/info's `alerts_url`. As a development aid
 * (a deployment that does not pass it yet), a demo page honours `?alerts=URL` in
 * its address when info has none; only in demo mode, where no token is ever sent,
 * so a crafted link cannot send someone's token elsewhere.
 */
function alertServiceOf(info) {
  if (!info) return null;
  const demo = info.mode === "demo";
  if (typeof info.alerts_url === "string" && info.alerts_url) return { url: info.alerts_url, demo };
  const dev = new URLSearchParams(location.search).get("alerts");
  return demo && dev && /^https?:\/\//.test(dev) ? { url: dev, demo } : null;
}

async function main() {
  // Outside demo mode: nothing is fetched before the person has signed in.
  await loginGate();
  const [info, hostList] = await Promise.allSettled([fetchInfo(), fetchHosts()]);
  if (info.status === "fulfilled") {
    $("demo-notice").hidden = info.value.mode !== "demo";
    $("version").textContent = `hostwatch ${info.value.version} · ${info.value.mode} mode`;
    alertService = alertServiceOf(info.value);
    $("nav").hidden = !alertService;
  }
  if (hostList.status === "fulfilled") {
    fleet.replaceAll(hostList.value);
    for (const host of hostList.value) noteHost(host);
  } else {
    showError(explain(hostList.reason, "hosts"));
  }
  renderCounts();
  loadEvents();
  loadForecasts();
  loadCosts();
  loadCorrelations();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      loadCosts();
      loadCorrelations();
    }
  });
  addEventListener("hashchange", showRoute);
  showRoute();

  live = new LiveConnection(liveUrl(), {
    onMessage,
    onState: renderConnection,
  });
  live.start();

  // Relative times and the retry countdown are re-rendered locally every second;
  // this reads no server data.
  setInterval(() => {
    fleet.tick(Date.now());
    feed.tick(Date.now());
    forecasts.tick(Date.now());
    renderConnection();
  }, 1000);
}

main();
