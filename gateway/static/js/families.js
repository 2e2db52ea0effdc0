// The host page's chart families: which metric names each chart reads, which of their
// series it keeps, how a series is labelled and how values are scaled and formatted.
// A family is drawn only when the host has at least one of its metric names, so a
// host without sensors or without an app simply shows fewer charts.

import { formatBytes } from "./format.js";

const l = (s, key) => s.labels?.[key] ?? "";
const last = (name) => name.slice(name.lastIndexOf(".") + 1);
const join = (...parts) => parts.filter(Boolean).join(" ");

/** Short numbers for axes: 1.2k, 3.4M. */
function shortNumber(v) {
  if (v == null || !Number.isFinite(v)) return "";
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (abs === 0) return "0";
  return String(+v.toPrecision(3));
}

/** Value formatters by unit; used for the axis labels and the legend's values. */
export const UNITS = {
  percent: (v) => (v == null ? "—" : `${+v.toFixed(1)} %`),
  bytes: (v) => (v == null ? "—" : formatBytes(v)),
  bytesPerSec: (v) => (v == null ? "—" : `${formatBytes(v)}/s`),
  perSec: (v) => (v == null ? "—" : `${shortNumber(v)}/s`),
  count: (v) => (v == null ? "—" : shortNumber(v)),
  celsius: (v) => (v == null ? "—" : `${+v.toFixed(1)} °C`),
  seconds: (v) => (v == null ? "—" : v < 1 ? `${+(v * 1000).toPrecision(3)} ms` : `${+v.toPrecision(3)} s`),
};

/**
 * `metrics`: names requested (one /api/v1/series request each, host-filtered).
 * `keep(series)`: which returned series are drawn. `label(series)`: legend text.
 * `scale`: multiplier from the stored value (ratios are stored 0–1).
 * `max`: fixed top of the y axis, or undefined to fit the data.
 */
export const FAMILIES = [
  {
    id: "cpu",
    title: "CPU utilization",
    metrics: ["system.cpu.utilization"],
    unit: "percent",
    scale: 100,
    max: 100,
    label: (s) => l(s, "cpu") || "total",
    // The total first and drawn thicker: it is what one reads; cores are context.
    emphasise: (s) => !l(s, "cpu"),
  },
  {
    id: "load",
    title: "Load average",
    metrics: ["system.cpu.load_average.1m", "system.cpu.load_average.5m", "system.cpu.load_average.15m"],
    unit: "count",
    label: (s) => last(s.name),
  },
  {
    id: "memory",
    title: "Memory",
    metrics: ["system.memory.usage"],
    unit: "bytes",
    keep: (s) => ["used", "cached", "available", "buffers"].includes(l(s, "state")),
    label: (s) => l(s, "state"),
  },
  {
    id: "paging",
    title: "Paging (swap) operations",
    metrics: ["system.paging.operations.rate"],
    unit: "perSec",
    label: (s) => `pages ${l(s, "direction")}`,
  },
  {
    id: "disk-io",
    title: "Disk I/O",
    metrics: ["system.disk.io.rate"],
    unit: "bytesPerSec",
    label: (s) => join(l(s, "device"), l(s, "direction")),
  },
  {
    id: "disk-util",
    title: "Disk utilization (busy time)",
    metrics: ["system.disk.utilization"],
    unit: "percent",
    scale: 100,
    max: 100,
    label: (s) => l(s, "device"),
  },
  {
    id: "filesystem",
    title: "Filesystem used",
    metrics: ["system.filesystem.utilization"],
    unit: "percent",
    scale: 100,
    max: 100,
    label: (s) => l(s, "mountpoint") || l(s, "device"),
  },
  {
    id: "net-io",
    title: "Network I/O",
    metrics: ["system.network.io.rate"],
    unit: "bytesPerSec",
    label: (s) => join(l(s, "device"), l(s, "direction")),
  },
  {
    id: "net-errors",
    title: "Network errors and drops",
    metrics: ["system.network.errors.rate", "system.network.dropped.rate"],
    unit: "perSec",
    label: (s) => join(s.name.includes("dropped") ? "dropped" : "errors", l(s, "device"), l(s, "direction")),
  },
  {
    id: "tcp",
    title: "TCP retransmits and resets",
    metrics: ["system.network.tcp.retransmits.rate", "system.network.tcp.resets.rate"],
    unit: "perSec",
    label: (s) => (s.name.includes("resets") ? "resets sent" : "retransmits"),
  },
  {
    id: "connections",
    title: "Connections by state",
    metrics: ["system.network.connections"],
    unit: "count",
    label: (s) => join(l(s, "protocol"), l(s, "state")),
  },
  {
    id: "processes",
    title: "Processes by status",
    metrics: ["system.processes.count"],
    unit: "count",
    label: (s) => l(s, "status"),
  },
  {
    id: "temperature",
    title: "Temperature",
    metrics: ["hw.temperature"],
    unit: "celsius",
    label: (s) => join(l(s, "chip"), l(s, "sensor")),
  },
  {
    id: "app-latency",
    title: "App request latency (p95)",
    metrics: ["app.request.latency"],
    unit: "seconds",
    label: (s) => join(l(s, "service"), "p95") || "p95",
  },
  {
    id: "app-errors",
    title: "App error ratio",
    metrics: ["app.request.error_ratio"],
    unit: "percent",
    scale: 100,
    label: (s) => join(l(s, "service"), "errors") || "errors",
  },
];

/** The families the host has, each with only the metric names it has. */
export function familiesFor(seriesList) {
  const names = new Set(seriesList.map((s) => s.name));
  return FAMILIES.map((f) => ({ ...f, metrics: f.metrics.filter((m) => names.has(m)) })).filter(
    (f) => f.metrics.length > 0,
  );
}

/** "step ~1 s", "step ~60 s", "step ~1 h" from the median spacing of the timestamps. */
export function describeStep(xs) {
  if (!xs || xs.length < 2) return "";
  const gaps = [];
  for (let i = 1; i < xs.length; i += 1) gaps.push(xs[i] - xs[i - 1]);
  gaps.sort((a, b) => a - b);
  const s = gaps[gaps.length >> 1];
  if (s < 90) return `step ~${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `step ~${Math.round(s / 60)} min`;
  return `step ~${Math.round(s / 3600)} h`;
}
