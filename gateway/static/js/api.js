// REST calls to the gateway (same origin). The fleet view uses them only for the
// initial load and for seeding charts, then lives on the WebSocket; the host page
// also reads history ranges and the top-process list from here.

/** The total CPU series; per-core series carry a `cpu` label and are skipped. */
const CPU_SERIES = "system.cpu.utilization";

/** An HTTP failure the page can explain to the user (e.g. 401 → sign in). */
export class ApiError extends Error {
  constructor(path, status, statusText) {
    super(`${path}: HTTP ${status} ${statusText}`.trim());
    this.status = status;
  }
}

async function getJson(path) {
  // credentials: "same-origin" so the session cookie is sent outside demo mode.
  const res = await fetch(path, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!res.ok) throw new ApiError(path, res.status, res.statusText);
  return res.json();
}

/** → {mode: "demo" | "edge" | "gateway", version} */
export const fetchInfo = () => getJson("/api/v1/info");

/** → [host object] */
export const fetchHosts = () => getJson("/api/v1/hosts");

/** → [event], newest first. The feed shows at most 200, so a bounded first page. */
export const fetchEvents = (limit = 100, host = null) =>
  getJson(`/api/v1/events?${new URLSearchParams(host ? { limit: String(limit), host } : { limit: String(limit) })}`);

/** → [forecast], soonest exhaustion first (flat and falling ones after). */
export const fetchForecasts = (limit = 50) => getJson(`/api/v1/forecasts?limit=${limit}`);

/** → {computed_ms, fleet: [total per currency], sites: [total], hosts: [cost row]} */
export const fetchCosts = () => getJson("/api/v1/costs");

/** → {computed_ms, hubs: [{hub, site, every_s, window_s, report}], top_per_load: [host row]} */
export const fetchCorrelations = () => getJson("/api/v1/correlations");

/** → [{host, name, labels, last_ms, last_value}]: every series the host has sent. */
export const fetchHostSeries = (host) => getJson(`/api/v1/hosts/${encodeURIComponent(host)}/series`);

/** → {timestamp_ms, processes: [{pid, name, user, cpu_utilization, memory_bytes}]} */
export const fetchProcesses = (host) => getJson(`/api/v1/hosts/${encodeURIComponent(host)}/processes`);

/**
 * Every series of one metric name on one host, thinned by the server to about
 * `maxPoints` per series: → [{host, name, labels, points: [{t, v}]}].
 */
export function fetchSeries(host, name, fromMs, toMs, maxPoints) {
  const q = new URLSearchParams({
    host,
    name,
    from: String(Math.floor(fromMs)),
    to: String(Math.ceil(toMs)),
    max_points: String(Math.max(10, Math.round(maxPoints))),
  });
  return getJson(`/api/v1/series?${q}`);
}

/**
 * The detector's expected band behind each series of `name` on `host`
 * (`[{labels, band: [{t, lo, hi, expected}]}]`), each point holding until the next.
 */
export function fetchBands(host, name, fromMs, toMs) {
  const q = new URLSearchParams({ host, name, from: String(Math.floor(fromMs)), to: String(Math.ceil(toMs)) });
  return getJson(`/api/v1/bands?${q}`);
}

/** One host's hourly cost estimate (`{hosts: [row], …}`; the row is absent when unknown). */
export const fetchHostCost = (host) => getJson(`/api/v1/costs?host=${encodeURIComponent(host)}`);

/**
 * CPU % history of one host as `[seconds[], percent[]]` (uPlot's column layout).
 * `toMs` is passed in rather than taken from Date.now() so the window can follow the
 * host's own clock (its last_seen_ms) when the browser's clock disagrees.
 */
export async function fetchCpuHistory(host, fromMs, toMs, maxPoints) {
  const q = new URLSearchParams({
    host,
    name: CPU_SERIES,
    from: String(Math.floor(fromMs)),
    to: String(Math.ceil(toMs)),
    max_points: String(maxPoints),
  });
  const series = await getJson(`/api/v1/series?${q}`);
  // A selector without labels matches every series of that name, per-core ones
  // included: the total is the one whose labels object is empty.
  const total = series.find((s) => !s.labels || Object.keys(s.labels).length === 0);
  const xs = [];
  const ys = [];
  for (const p of total?.points ?? []) {
    xs.push(p.t / 1000);
    ys.push(p.v == null ? null : p.v * 100);
  }
  return [xs, ys];
}
