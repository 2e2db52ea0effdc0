#!/usr/bin/env node
// Headless-Chromium check of the hostwatch dashboard against a running server.
//
//   node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N]
//                                      [--viewport WxH] [--dark] [--static DIR]
//
// Loads the page and checks, in order: it loads; at least N host cards are visible;
// a displayed live value (a card's CPU/memory/disk text) changes within 15 s, which
// only happens if the WebSocket delivers data; a uPlot chart canvas has been drawn;
// the anomaly feed is visible and shows either events or its empty state (whether
// the demo produced an anomaly is up to the simulated data, so neither is required).
// Then the host page: clicking a simulated host's card opens #/host/NAME; its charts
// render (uPlot canvases with a non-zero size); a live value in its header changes;
// in live mode it asks /api/v1/series only for the span after its newest point;
// choosing 24 h issues /api/v1/series requests spanning about a day and the charts
// draw again; the top-processes table has rows; browser "back" shows the fleet again.
// With --screenshot PATH the fleet goes to PATH and the host page to PATH-host.png
// (desktop viewport) and PATH-host-phone.png (400 px wide).
// --static DIR serves the page's own files from DIR instead of the server, so the
// dashboard can be checked while editing gateway/static without rebuilding.
// Any console error or uncaught page error during the run fails the check. Prints one
// line per check and a closing `browser-check: N passed, M failed`; exits 1 on failure.
//
// Uses Debian's /usr/bin/chromium through playwright-core, which downloads no browser.

import { chromium } from "playwright-core";

const LIVE_TIMEOUT_MS = 15_000;
const CARDS_TIMEOUT_MS = 15_000;
const CHART_TIMEOUT_MS = 10_000;
const EVENTS_TIMEOUT_MS = 10_000;
const HOST_PAGE_TIMEOUT_MS = 15_000;
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
  console.error("usage: node scripts/browser-check.mjs URL [--screenshot PATH] [--min-hosts N] [--viewport WxH] [--dark] [--static DIR]");
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

/** The number of host page charts once every family has a canvas of non-zero size. */
function hostChartsSized() {
  const families = document.querySelectorAll("#host [data-family]").length;
  const canvases = [...document.querySelectorAll("#host .family .uplot canvas")];
  const sized = canvases.length > 0 && canvases.length === families && canvases.every((c) => c.width > 0 && c.height > 0);
  return sized ? canvases.length : false;
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

  // Click the card's body, not its link: the whole card opens the page.
  await card.locator(".facts").click();
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
      if (msg.type() === "error") errors.push(`console error: ${msg.text()}`);
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

      await checkHostPage(page, opts, record);
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
