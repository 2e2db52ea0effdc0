#!/usr/bin/env node
// Headless-Chromium check of the hostwatch dashboard against a running server.
//
//   node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N]
//                                      [--viewport WxH] [--dark]
//
// Loads the page and checks, in order: it loads; at least N host cards are visible;
// a displayed live value (a card's CPU/memory/disk text) changes within 15 s, which
// only happens if the WebSocket delivers data; a uPlot chart canvas has been drawn;
// the anomaly feed is visible and shows either events or its empty state (whether
// the demo produced an anomaly is up to the simulated data, so neither is required).
// Any console error or uncaught page error during the run fails the check. Prints one
// line per check and a closing `browser-check: N passed, M failed`; exits 1 on failure.
//
// Uses Debian's /usr/bin/chromium through playwright-core, which downloads no browser.

import { chromium } from "playwright-core";

const LIVE_TIMEOUT_MS = 15_000;
const CARDS_TIMEOUT_MS = 15_000;
const CHART_TIMEOUT_MS = 10_000;
const EVENTS_TIMEOUT_MS = 10_000;
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
  console.error("usage: node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N] [--viewport WxH] [--dark]");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    url: null,
    screenshot: null,
    minHosts: 1,
    viewport: { width: 1280, height: 900 },
    colorScheme: "light",
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
    else if (a === "-h" || a === "--help") usage();
    else if (a.startsWith("--")) usage(`unknown option ${a}`);
    else if (opts.url) usage(`unexpected argument ${a}`);
    else opts.url = a;
  }
  if (!opts.url) usage("missing URL");
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

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const results = [];
  const record = (ok, name, detail = "") => {
    results.push(ok);
    console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? `: ${detail}` : ""}`);
    return ok;
  };
  const errors = [];

  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: LAUNCH_ARGS });
  try {
    const page = await browser.newPage({ viewport: opts.viewport, colorScheme: opts.colorScheme });
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`console error: ${msg.text()}`);
    });
    page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));

    const response = await page.goto(opts.url, { waitUntil: "load" }).catch((err) => err);
    const loaded = !(response instanceof Error) && response !== null && response.ok();
    record(loaded, "page loads", response instanceof Error ? response.message.split("\n")[0] : `HTTP ${response?.status()}`);

    if (loaded) {
      const cards = page.locator("[data-host]");
      const cardsOk = await page
        .waitForFunction(
          (n) => [...document.querySelectorAll("[data-host]")].filter((el) => el.checkVisibility()).length >= n,
          opts.minHosts,
          { timeout: CARDS_TIMEOUT_MS },
        )
        .then(() => true, () => false);
      record(cardsOk, `at least ${opts.minHosts} host card(s) visible`, `${await cards.count()} card(s) on the page`);

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

      if (opts.screenshot) {
        await page.screenshot({ path: opts.screenshot });
        console.log(`screenshot saved to ${opts.screenshot}`);
      }
    }

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
