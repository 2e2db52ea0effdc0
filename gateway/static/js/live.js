// The live WebSocket (/api/v1/live). After the initial REST fetches this is the only
// way data reaches the page: there is no polling. When the socket closes it is
// reopened with exponential backoff and jitter, so a restarted gateway is not hit by
// every open dashboard at the same instant.

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

export function liveUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v1/live`;
}

export class LiveConnection {
  /**
   * `onMessage(msg)` gets each parsed JSON message. `onState(state)` gets
   * "connecting" | "live" | "reconnecting"; while reconnecting, `retryAt` holds the
   * time (Date.now() scale) of the next attempt so the page can count down.
   */
  constructor(url, { onMessage, onState }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.failures = 0;
    this.retryTimer = null;
    this.retryAt = null;
    this.state = "connecting";
  }

  setState(state) {
    this.state = state;
    this.onState(state);
  }

  start() {
    this.connect();
    // Coming back online is a better signal than any timer: try at once.
    this.onOnline = () => this.retryNow();
    addEventListener("online", this.onOnline);
  }

  /** Closes the socket for good, with no retry: for a page that is left. */
  stop() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.onOnline) removeEventListener("online", this.onOnline);
    const ws = this.ws;
    this.ws = null; // onclose then sees a socket it no longer owns and stays quiet
    if (!ws) return;
    // Closing a socket still connecting makes Chromium log an error; let it open first.
    if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
    else ws.close();
    ws.onmessage = null;
  }

  retryNow() {
    if (this.retryTimer === null) return; // connected or already connecting
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  connect() {
    this.retryAt = null;
    this.setState("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) this.setState("live");
    };
    ws.onmessage = (ev) => {
      // Only a message proves the server really works (a proxy may accept the
      // upgrade and then drop us), so that, not `open`, resets the backoff.
      this.failures = 0;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        console.warn("hostwatch: ignoring a live message that is not JSON");
        return;
      }
      this.onMessage(msg);
    };
    // An error is always followed by close; reconnecting is handled there only.
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.failures);
    this.failures += 1;
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.setState("reconnecting");
  }
}
