// The alerts page (#/alerts): subscribe to alerts, see and delete one's
// subscriptions, watch notifications arrive on the alert service's live socket,
// and see the alerts of the moment and what was delivered.
//
// Data: subscriptions, alerts and deliveries are fetched when the page opens;
// after that the live socket (/api/v1/alerts/live) drives it. The one exception
// to "no polling": alerts and deliveries are re-fetched when a notification (or a
// "lagged" notice) arrives and when the socket reconnects, since that is when they
// changed; subscriptions when the page itself creates or deletes one.

import { AlertsApi, readToken, saveToken } from "./alertsapi.js";
import { h } from "./card.js";
import { formatAgo } from "./format.js";
import { LiveConnection } from "./live.js";

/** The page keeps at most this many notifications; older ones drop off the end. */
const MAX_NOTIFICATIONS = 100;
const DELIVERIES_LIMIT = 50;
/**
 * The service broadcasts a live notification before it marks the delivery done,
 * so an immediate re-fetch would show it pending; a short wait, which also folds a
 * burst of notifications into one round of requests.
 */
const REFRESH_AFTER_NOTIFICATION_MS = 600;

/** The channel select: what each needs typed in, and how its body is built. */
const CHANNELS = [
  { type: "live", label: "Dashboard live feed" },
  { type: "webhook", label: "Webhook", target: "url", input: "url", placeholder: "https://example.com/hook", prompt: "Webhook URL" },
  { type: "slack", label: "Slack", target: "url", input: "url", placeholder: "https://hooks.slack.com/services/…", prompt: "Slack webhook URL" },
  { type: "ntfy", label: "ntfy", target: "url", input: "url", placeholder: "https://ntfy.sh/my-topic", prompt: "ntfy topic URL" },
  { type: "email", label: "Email", target: "to", input: "email", placeholder: "you@example.com", prompt: "Email address" },
];

/** Active first, then held back, then over. */
const STATE_ORDER = { active: 0, suppressed: 1, resolved: 2 };

const labelText = (labels) =>
  Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(" · ");

/** "live", "webhook https://… (signed)", "email a@b". */
function describeChannel(c) {
  if (!c || typeof c.type !== "string") return "?";
  if (c.type === "live") return "dashboard live feed";
  const target = c.url ?? c.to ?? "";
  return `${c.type} ${target}${c.secret ? " (signed)" : ""}`.trim();
}

/** A relative time that the page's tick keeps current. */
const ago = (ms, prefix = "") =>
  h("span", {
    class: "ago",
    "data-ago": String(ms),
    "data-prefix": prefix,
    title: new Date(ms).toLocaleString(),
    text: `${prefix}${formatAgo(Date.now() - ms)}`,
  });

const badge = (kind, value) => h("span", { class: "state-badge", "data-state": value, text: value, title: kind });
const sevBadge = (sev) => h("span", { class: "sev-badge", "data-severity": sev ?? "none", text: sev ?? "—" });

function panel(title, extra, ...body) {
  return h("section", { class: "panel" }, h("h3", { class: "panel-title" }, h("span", { text: title }), ...extra), ...body);
}

export class AlertsPage {
  /** `url`: the alert service's base URL; `demo`: no token needed (and none sent). */
  constructor(root, { url, demo }) {
    this.root = root;
    this.demo = demo;
    this.api = new AlertsApi(url, demo ? "" : readToken());
    this.subs = [];
    this.deliveries = null; // the last list fetched, null before the first
    this.live = null;
    this.connectedOnce = false;
    this.refreshTimer = null;
    this.destroyed = false;
    this.build();
    this.tickTimer = setInterval(() => this.tick(), 1000);
    this.start();
  }

  // --- Layout ---

  build() {
    this.statusEl = h("p", { class: "notice error", role: "alert", "data-alerts-status": "" });
    this.statusEl.hidden = true;

    const tokenInput = h("input", { type: "password", name: "token", autocomplete: "off", spellcheck: "false", placeholder: "paste your API token" });
    tokenInput.value = this.api.token;
    this.tokenForm = h(
      "form",
      { class: "token-row", "data-token-form": "" },
      h("label", {}, h("span", { text: "API token" }), tokenInput),
      h("button", { type: "submit", class: "range-button", text: "Use token" }),
    );
    this.tokenForm.hidden = this.demo;
    this.tokenForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = tokenInput.value.trim();
      saveToken(token);
      this.api.token = token;
      this.restart();
    });

    this.root.replaceChildren(
      h(
        "header",
        { class: "host-head alerts-head" },
        h(
          "div",
          { class: "host-title-row" },
          h("a", { class: "back", href: "#/", text: "← Fleet" }),
          h("h2", { class: "host-title", text: "Alerts" }),
          h("span", { class: "panel-note", text: `alert service ${this.api.base}` }),
        ),
        this.tokenForm,
      ),
      this.statusEl,
      h(
        "div",
        { class: "alerts-grid" },
        h("div", { class: "alerts-subscribe" }, this.buildForm()),
        h("div", { class: "alerts-subs" }, this.buildSubscriptions()),
        h("div", { class: "alerts-live" }, this.buildLive()),
        h("div", { class: "alerts-now" }, this.buildAlerts()),
        h("div", { class: "alerts-deliveries" }, this.buildDeliveries()),
      ),
    );
  }

  buildForm() {
    const field = (label, input, cls = "") => h("label", { class: `field ${cls}`.trim() }, h("span", { text: label }), input);
    this.nameInput = h("input", { name: "name", required: "", maxlength: "200", autocomplete: "off", placeholder: "EU, high and worse" });
    this.matchInput = h("input", { name: "match", autocomplete: "off", spellcheck: "false", placeholder: "site=eu,severity>=high" });
    this.channelSelect = h("select", { name: "channel" }, ...CHANNELS.map((c) => h("option", { value: c.type, text: c.label })));
    this.targetInput = h("input", { name: "target", autocomplete: "off", spellcheck: "false" });
    this.secretInput = h("input", { name: "secret", type: "password", autocomplete: "new-password", placeholder: "optional" });
    this.targetField = field("URL", this.targetInput, "wide");
    this.secretField = field("Signing secret", this.secretInput);
    this.formError = h("p", { class: "form-error", role: "alert", "data-form-error": "" });
    this.formNote = h("p", { class: "panel-note form-note", role: "status" });
    this.submitButton = h("button", { type: "submit", class: "range-button primary", text: "Subscribe" });
    this.form = h(
      "form",
      { class: "sub-form", "data-alerts-form": "", novalidate: "" },
      field("Name", this.nameInput),
      field("Match", this.matchInput),
      field("Channel", this.channelSelect),
      this.targetField,
      this.secretField,
      h("div", { class: "form-actions" }, this.submitButton, this.formNote),
      this.formError,
    );
    this.channelSelect.addEventListener("change", () => this.renderChannelFields());
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.subscribe();
    });
    this.renderChannelFields();
    return panel(
      "Subscribe",
      [h("span", { class: "panel-note", text: "labels: alertname, host, site, severity…" })],
      this.form,
    );
  }

  buildSubscriptions() {
    this.subsBody = h("tbody");
    this.subsStatus = h("p", { class: "panel-note", text: "Loading…" });
    const table = h(
      "table",
      { class: "proc-table alerts-table", "data-subscriptions": "" },
      h("thead", {}, h("tr", {}, ...["Name", "Match", "Channels", ""].map((t) => h("th", { scope: "col", text: t })))),
      this.subsBody,
    );
    return panel("Your subscriptions", [], this.subsStatus, h("div", { class: "table-wrap" }, table));
  }

  buildLive() {
    this.connEl = h("span", { class: "conn", "data-state": "connecting", text: "connecting…" });
    this.notifStatus = h("p", { class: "events-status", text: "Notifications of subscriptions with the dashboard live feed appear here as they are sent." });
    this.notifList = h("ol", { class: "events-list", "data-notifications": "" });
    return panel("Live notifications", [this.connEl], this.notifStatus, h("div", { class: "alerts-scroll" }, this.notifList));
  }

  buildAlerts() {
    this.alertsCount = h("span", { class: "panel-note" });
    this.alertsStatus = h("p", { class: "events-status", text: "Loading…" });
    this.alertsList = h("ol", { class: "events-list", "data-alerts": "" });
    return panel("Alerts now", [this.alertsCount], this.alertsStatus, h("div", { class: "alerts-scroll" }, this.alertsList));
  }

  buildDeliveries() {
    this.delivBody = h("tbody");
    this.delivStatus = h("p", { class: "panel-note", text: "Loading…" });
    const table = h(
      "table",
      { class: "proc-table alerts-table", "data-deliveries": "" },
      h("thead", {}, h("tr", {}, ...["Created", "Subscription", "Channel", "State", "Attempts", "Last error"].map((t) => h("th", { scope: "col", text: t })))),
      this.delivBody,
    );
    return panel("Recent deliveries", [], this.delivStatus, h("div", { class: "table-wrap" }, table));
  }

  renderChannelFields() {
    const c = CHANNELS.find((x) => x.type === this.channelSelect.value) ?? CHANNELS[0];
    this.targetField.hidden = !c.target;
    this.targetField.firstChild.textContent = c.prompt ?? "";
    this.targetInput.type = c.input ?? "text";
    this.targetInput.placeholder = c.placeholder ?? "";
    this.secretField.hidden = c.type !== "webhook";
  }

  // --- Loading ---

  /** First load; the socket opens only once the service accepted us (no 401 loop). */
  async start() {
    if (!this.demo && !this.api.token) {
      // Every call would only come back 401 (and Chromium logs each one).
      for (const el of [this.subsStatus, this.alertsStatus, this.delivStatus]) el.textContent = "Needs an API token.";
      this.showStatus("API token required");
      return;
    }
    const ok = await this.loadAll();
    if (ok && !this.destroyed) this.connect();
  }

  /** A new token: everything again, on a new socket. */
  restart() {
    this.live?.stop();
    this.live = null;
    this.connectedOnce = false;
    this.start();
  }

  async loadAll() {
    const results = await Promise.allSettled([this.loadSubscriptions(), this.loadAlerts(), this.loadDeliveries()]);
    if (this.destroyed) return false;
    const failed = results.find((r) => r.status === "rejected");
    this.showStatus(failed ? this.explain(failed.reason) : "");
    if (failed?.reason?.status === 401 || failed?.reason?.status === 403) {
      this.live?.stop();
      this.live = null;
      return false;
    }
    return true;
  }

  explain(err) {
    if (err?.status === 401 || err?.status === 403) {
      return this.api.token ? `API token required: the service refused this one (${err.message})` : "API token required";
    }
    return `Could not reach the alert service: ${err?.message ?? err}`;
  }

  showStatus(text) {
    this.statusEl.textContent = text;
    this.statusEl.hidden = !text;
    if (text.startsWith("API token required") && !this.demo) this.tokenForm.querySelector("input").focus();
  }

  async loadSubscriptions() {
    try {
      this.renderSubscriptions(await this.api.subscriptions());
    } catch (err) {
      this.subsStatus.textContent = "Could not load subscriptions.";
      throw err;
    }
  }

  async loadAlerts() {
    try {
      this.renderAlerts(await this.api.alerts());
    } catch (err) {
      this.alertsStatus.textContent = "Could not load alerts.";
      throw err;
    }
  }

  async loadDeliveries() {
    try {
      this.renderDeliveries(await this.api.deliveries(DELIVERIES_LIMIT));
    } catch (err) {
      this.delivStatus.textContent = "Could not load deliveries.";
      throw err;
    }
  }

  /** Alerts and deliveries after a notification, folded as REFRESH_AFTER_NOTIFICATION_MS says. */
  scheduleRefresh() {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = setTimeout(async () => {
      this.refreshTimer = null;
      const results = await Promise.allSettled([this.loadAlerts(), this.loadDeliveries()]);
      if (this.destroyed) return;
      const failed = results.find((r) => r.status === "rejected");
      this.showStatus(failed ? this.explain(failed.reason) : "");
    }, REFRESH_AFTER_NOTIFICATION_MS);
  }

  // --- Subscriptions ---

  async subscribe() {
    const c = CHANNELS.find((x) => x.type === this.channelSelect.value) ?? CHANNELS[0];
    const name = this.nameInput.value.trim();
    const target = this.targetInput.value.trim();
    if (!name) return this.formFailed("Give the subscription a name.", this.nameInput);
    if (c.target && !target) return this.formFailed(`${c.prompt} is required for ${c.label}.`, this.targetInput);
    const channel = { type: c.type };
    if (c.target) channel[c.target] = target;
    const secret = this.secretInput.value;
    if (c.type === "webhook" && secret) channel.secret = secret;
    const body = { name, channels: [channel] };
    const match = this.matchInput.value.trim();
    if (match) body.match = match;

    this.submitButton.disabled = true;
    this.formFailed("");
    this.formNote.textContent = "Subscribing…";
    try {
      const sub = await this.api.subscribe(body);
      if (this.destroyed) return;
      this.formNote.textContent = `Subscribed: ${sub?.name ?? name}`;
      for (const input of [this.nameInput, this.matchInput, this.targetInput, this.secretInput]) input.value = "";
      await this.loadSubscriptions().catch((err) => this.showStatus(this.explain(err)));
    } catch (err) {
      if (this.destroyed) return;
      this.formNote.textContent = "";
      if (err.status === 401 || err.status === 403) this.showStatus(this.explain(err));
      this.formFailed(err.message);
    } finally {
      this.submitButton.disabled = false;
    }
  }

  formFailed(text, focus = null) {
    this.formError.textContent = text;
    this.formError.hidden = !text;
    if (text) this.formNote.textContent = "";
    focus?.focus();
  }

  async unsubscribe(sub, button) {
    button.disabled = true;
    try {
      await this.api.unsubscribe(sub.id);
      await this.loadSubscriptions();
    } catch (err) {
      if (this.destroyed) return;
      button.disabled = false;
      this.showStatus(err.status === 401 ? this.explain(err) : `Could not delete “${sub.name}”: ${err.message}`);
    }
  }

  renderSubscriptions(subs) {
    this.subs = Array.isArray(subs) ? subs : [];
    this.subsStatus.textContent = this.subs.length ? "" : "No subscriptions yet: add one above.";
    this.subsStatus.hidden = this.subs.length > 0;
    const rows = [...this.subs]
      .sort((a, b) => (a.created_at_ms ?? 0) - (b.created_at_ms ?? 0))
      .map((sub) => {
        const del = h("button", { type: "button", class: "range-button danger", text: "Delete", "aria-label": `Delete subscription ${sub.name}` });
        del.addEventListener("click", () => this.unsubscribe(sub, del));
        const matchers = Array.isArray(sub.matchers) ? sub.matchers : [];
        return h(
          "tr",
          { "data-subscription": sub.id, "data-name": sub.name },
          h("td", { class: "wrap c-name", text: sub.name }),
          h("td", { class: "c-match mono" }, ...(matchers.length ? matchers : ["everything"]).map((m) => h("span", { class: "matcher", text: m }))),
          h("td", { class: "wrap c-channels", text: (sub.channels ?? []).map(describeChannel).join(", ") }),
          h("td", { class: "c-action" }, del),
        );
      });
    this.subsBody.replaceChildren(...rows);
    // Deliveries name their subscription by id: show the names now known.
    if (this.deliveries) this.renderDeliveries(this.deliveries);
  }

  // --- Alerts and deliveries ---

  renderAlerts(alerts) {
    const list = (Array.isArray(alerts) ? alerts : []).slice().sort(
      (a, b) => (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3) || (b.starts_at_ms ?? 0) - (a.starts_at_ms ?? 0),
    );
    const active = list.filter((a) => a.state === "active").length;
    this.alertsCount.textContent = list.length ? `${active} active of ${list.length}` : "";
    this.alertsStatus.textContent = "No alerts right now.";
    this.alertsStatus.hidden = list.length > 0;
    this.alertsList.replaceChildren(...list.map((a) => this.alertItem(a)));
  }

  alertItem(a) {
    const l = a.labels ?? {};
    const where = [l.host && `host ${l.host}`, l.site && `site ${l.site}`].filter(Boolean).join(" · ");
    const since = a.state === "resolved" && a.ends_at_ms ? ago(a.ends_at_ms, "resolved ") : ago(a.starts_at_ms, "since ");
    const held = [...(a.silenced_by ?? []).map((id) => `silenced by ${id}`), ...(a.inhibited_by ?? []).map((fp) => `inhibited by ${fp}`)];
    const receivers = a.receivers ?? [];
    return h(
      "li",
      { class: "event alert-item", "data-alert": a.fingerprint ?? "", "data-state": a.state ?? "", "data-severity": l.severity ?? "" },
      h("div", { class: "event-head" }, badge("state", a.state ?? "?"), sevBadge(l.severity), h("span", { class: "event-host", text: l.alertname ?? "(no alertname)" }), h("span", { class: "event-time" }, since)),
      where ? h("div", { class: "event-values", text: where }) : "",
      a.annotations?.summary ? h("div", { class: "alert-summary", text: a.annotations.summary }) : "",
      held.length ? h("div", { class: "event-values", text: held.join(" · ") }) : "",
      h("div", { class: "event-values", text: receivers.length ? `→ ${receivers.join(", ")}` : "→ no subscription matches" }),
    );
  }

  renderDeliveries(deliveries) {
    const list = Array.isArray(deliveries) ? deliveries : [];
    this.deliveries = list;
    const byId = new Map(this.subs.map((s) => [s.id, s]));
    this.delivStatus.textContent = "Nothing delivered yet.";
    this.delivStatus.hidden = list.length > 0;
    this.delivBody.replaceChildren(
      ...list.map((d) => {
        const sub = byId.get(d.subscription);
        // `channel` is the index into the subscription's channels.
        const channel = sub?.channels?.[d.channel]?.type ?? `#${d.channel}`;
        return h(
          "tr",
          { "data-delivery": d.id, "data-state": d.state },
          h("td", { class: "c-when" }, ago(d.created_at_ms)),
          h("td", { class: "wrap c-sub", text: sub?.name ?? "(deleted)", title: d.subscription }),
          h("td", { class: "c-channel", text: channel }),
          h("td", { class: "c-state" }, badge("delivery", d.state)),
          h("td", { class: "c-attempts", "data-label": "attempts", text: String(d.attempts ?? 0) }),
          h("td", { class: "wrap error-text c-error", text: d.last_error ?? "" }),
        );
      }),
    );
  }

  // --- Live notifications ---

  connect() {
    this.live = new LiveConnection(this.api.liveUrl(), {
      onMessage: (msg) => this.onMessage(msg),
      onState: (state) => {
        this.renderConnection();
        if (state !== "live") return;
        // Notifications sent while the socket was down are not replayed.
        if (this.connectedOnce) this.scheduleRefresh();
        this.connectedOnce = true;
      },
    });
    this.live.start();
  }

  onMessage(msg) {
    if (this.destroyed) return;
    if (msg?.type === "notification" && msg.notification) {
      this.addNotification(this.notificationItem(msg.notification));
      this.scheduleRefresh();
    } else if (msg?.type === "lagged") {
      this.addNotification(
        h("li", { class: "event", "data-lagged": "" }, h("div", { class: "event-values", text: `${msg.missed ?? "some"} notification(s) missed: this page fell behind` })),
      );
      this.scheduleRefresh();
    }
    // Other types: a newer service; an older page ignores them.
  }

  addNotification(el) {
    this.notifList.prepend(el);
    this.notifStatus.hidden = true;
    while (this.notifList.childElementCount > MAX_NOTIFICATIONS) this.notifList.lastElementChild.remove();
  }

  notificationItem(n) {
    const status = n.status === "resolved" ? "resolved" : "firing";
    const alerts = Array.isArray(n.alerts) ? n.alerts : [];
    const more = n.truncatedAlerts ? h("li", { class: "panel-note", text: `and ${n.truncatedAlerts} more` }) : "";
    return h(
      "li",
      { class: "event notification", "data-notification": "", "data-status": status },
      h("div", { class: "event-head" }, badge("notification", status), h("span", { class: "event-host", text: n.receiver ?? "?" }), h("span", { class: "event-time" }, ago(Date.now()))),
      h("div", { class: "event-metric", text: labelText(n.groupLabels) || "(all alerts)" }),
      h(
        "ul",
        { class: "notif-alerts" },
        ...alerts.map((a) => {
          const l = a.labels ?? {};
          return h(
            "li",
            { "data-status": a.status ?? status },
            sevBadge(l.severity),
            h("span", { class: "notif-name", text: l.alertname ?? "?" }),
            l.host ? h("span", { class: "notif-host", text: `on ${l.host}` }) : "",
            a.annotations?.summary ? h("span", { class: "notif-summary", text: `— ${a.annotations.summary}` }) : "",
            a.status === "resolved" && status !== "resolved" ? h("span", { class: "panel-note", text: "resolved" }) : "",
          );
        }),
        more,
      ),
    );
  }

  renderConnection() {
    const state = this.live ? this.live.state : "connecting";
    let text = { connecting: "connecting…", live: "live" }[state];
    if (state === "reconnecting") {
      const s = Math.max(0, Math.ceil((this.live.retryAt - Date.now()) / 1000));
      text = `offline · retry in ${s} s`;
    }
    this.connEl.dataset.state = state;
    if (this.connEl.textContent !== text) this.connEl.textContent = text;
  }

  /** Relative times and the retry countdown; reads no server data. */
  tick() {
    const now = Date.now();
    for (const el of this.root.querySelectorAll("[data-ago]")) {
      const text = `${el.dataset.prefix}${formatAgo(now - Number(el.dataset.ago))}`;
      if (el.textContent !== text) el.textContent = text;
    }
    if (this.live) this.renderConnection();
  }

  destroy() {
    this.destroyed = true;
    clearInterval(this.tickTimer);
    clearTimeout(this.refreshTimer);
    this.live?.stop();
    this.live = null;
    this.root.replaceChildren();
  }
}
