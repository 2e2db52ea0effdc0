// Pure formatting helpers: no DOM, no state, so every view formats the same way.

/** Thresholds shared by the bars; kept here so the legend and the bars never disagree. */
export const WARN_PERCENT = 70;
export const CRIT_PERCENT = 90;

/** A host is stale after this long without data (the agent reports about every second). */
export const STALE_AFTER_MS = 10_000;

/** "ok" | "warn" | "crit", or "none" when the host has not reported that metric. */
export function severity(percent) {
  if (percent == null || Number.isNaN(percent)) return "none";
  if (percent >= CRIT_PERCENT) return "crit";
  if (percent >= WARN_PERCENT) return "warn";
  return "ok";
}

/** "12.5 %" with one decimal, or an em dash for a missing value. */
export function formatPercent(percent) {
  if (percent == null || Number.isNaN(percent)) return "—";
  return `${percent.toFixed(1)} %`;
}

/** Clamp to 0..100 so a bar never overflows its track. */
export function barWidth(percent) {
  if (percent == null || Number.isNaN(percent)) return 0;
  return Math.min(100, Math.max(0, percent));
}

/**
 * "2 s ago", "4 min ago", "3 h ago", "2 d ago". A small negative age (the agent's
 * clock a little ahead of the browser's) reads as "just now" rather than "-1 s ago".
 */
export function formatAgo(ageMs) {
  if (ageMs == null || !Number.isFinite(ageMs)) return "never";
  const s = Math.max(0, Math.floor(ageMs / 1000));
  if (s < 1) return "just now";
  if (s < 60) return `${s} s ago`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ago`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** An event's length: "12 s", "4 min", "3 h 5 min"; never negative. */
export function formatDuration(ms) {
  if (ms == null || !Number.isFinite(ms)) return "?";
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
}

/**
 * A raw metric value of unknown unit (a 0..1 ratio, bytes, a load average), so four
 * significant digits rather than a fixed number of decimals: 0.9712, 31.4, 1.2e+9.
 */
export function formatValue(v) {
  if (v == null || !Number.isFinite(v)) return "—";
  if (v === 0) return "0";
  const abs = Math.abs(v);
  if (abs >= 1e6 || abs < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

/** Binary units, because memory sizes are powers of two: 17179869184 → "16 GiB". */
export function formatBytes(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** Natural order, so "web-2" sorts before "web-10". */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
export const compareNames = (a, b) => collator.compare(a, b);
