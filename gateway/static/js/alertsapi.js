// The alert service's own HTTP API, on its own port: subscriptions, alerts,
// deliveries and the live notification socket. The page calls it directly (the
// service sends CORS headers for the dashboard's origin); /api/v1/info says where
// it is. Outside demo mode every call carries the person's API token.

/** Where the token is kept between visits. */
export const TOKEN_KEY = "hostwatch.alertsToken";

/** A failed call; `message` is the service's own `error` text when it sent one. */
export class AlertsError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export const readToken = () => {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return ""; // storage disabled: the field still works for this visit
  }
};

export function saveToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Not fatal: the token is still used until the page is closed.
  }
}

export class AlertsApi {
  /** `base`: "http://host:port/" (a trailing slash or not); `token`: "" for none. */
  constructor(base, token) {
    this.base = base.replace(/\/+$/, "");
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        // Another origin: no cookies of ours belong there.
        credentials: "omit",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new AlertsError(`alert service unreachable (${err.message})`, 0);
    }
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const text = typeof data?.error === "string" ? data.error : `HTTP ${res.status} ${res.statusText}`.trim();
      throw new AlertsError(text, res.status);
    }
    return data;
  }

  /** → [subscription] (an admin, and the demo user, sees everyone's). */
  subscriptions() {
    return this.call("GET", "/api/v1/subscriptions");
  }

  /** `{name, match, channels}` → the new subscription, or AlertsError 400 with the reason. */
  subscribe(body) {
    return this.call("POST", "/api/v1/subscriptions", body);
  }

  unsubscribe(id) {
    return this.call("DELETE", `/api/v1/subscriptions/${encodeURIComponent(id)}`);
  }

  /** → [alert]: active, suppressed and recently resolved. */
  alerts() {
    return this.call("GET", "/api/v1/alerts");
  }

  /** → [delivery], newest first. */
  deliveries(limit = 50) {
    return this.call("GET", `/api/v1/deliveries?limit=${limit}`);
  }

  /** The live socket's URL; a browser cannot set headers there, so the token goes in the query. */
  liveUrl() {
    const url = new URL(`${this.base}/api/v1/alerts/live`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.token) url.searchParams.set("token", this.token);
    return url.toString();
  }
}
