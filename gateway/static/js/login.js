// Dashboard login, outside demo mode. Before the page loads any data it asks
// /api/v1/auth/session (which always answers 200, so nothing is logged as an
// error): demo mode and a live session go straight on; otherwise a sign-in form
// is shown and the page waits for a successful POST /api/v1/auth/login. The
// session itself is an HttpOnly cookie this script never sees; what it keeps is
// the session's CSRF token, sent as X-CSRF-Token on logout.

import { h } from "./card.js";

const $ = (id) => document.getElementById(id);

let csrfToken = null;

async function sessionState() {
  const res = await fetch("/api/v1/auth/session", {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!res.ok) throw new Error(`/api/v1/auth/session: HTTP ${res.status}`);
  return res.json();
}

/** "alice · Sign out" in the header. */
function showUser(user) {
  const out = h("button", { type: "button", class: "signout", "data-signout": "", text: "Sign out" });
  out.addEventListener("click", signOut);
  const who = h("span", { class: "who", "data-user": user }, h("span", { class: "who-name", text: user }), " ", out);
  document.querySelector("header.top")?.append(who);
}

async function signOut() {
  try {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: csrfToken ? { "X-CSRF-Token": csrfToken } : {},
    });
  } finally {
    location.reload();
  }
}

/** Hides the data views (and the connection badge) while the form is up. */
function setPageHidden(hidden) {
  for (const sel of [".layout", "#counts", "#conn"]) {
    const el = document.querySelector(sel);
    if (el) el.hidden = hidden;
  }
}

/** The form; resolves with the user name once a login succeeded. */
function loginForm(root) {
  return new Promise((resolve) => {
    const user = h("input", { name: "username", autocomplete: "username", required: "", autocapitalize: "none", spellcheck: "false" });
    const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: "" });
    const error = h("p", { class: "login-error", role: "alert", "data-login-error": "" });
    error.hidden = true;
    const button = h("button", { type: "submit", text: "Sign in" });
    const form = h(
      "form",
      { class: "login-form", "data-login-form": "" },
      h("h2", { text: "Sign in to hostwatch" }),
      h("label", {}, h("span", { text: "User name" }), user),
      h("label", {}, h("span", { text: "Password" }), pass),
      error,
      button,
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      error.hidden = true;
      try {
        const res = await fetch("/api/v1/auth/login", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ username: user.value, password: pass.value }),
        });
        const body = await res.json().catch(() => ({}));
        if (res.ok) {
          csrfToken = body.csrf_token ?? null;
          resolve(body.user ?? user.value);
          return;
        }
        const wait = res.headers.get("Retry-After");
        error.textContent =
          res.status === 401
            ? "Wrong user name or password."
            : res.status === 429
              ? `Too many failed attempts: try again in ${wait ?? "a few"} s.`
              : (body.error ?? `Sign-in failed: HTTP ${res.status}`);
      } catch (err) {
        error.textContent = `Sign-in failed: ${err.message}`;
      }
      error.hidden = false;
      pass.value = "";
      pass.focus();
      button.disabled = false;
    });
    root.replaceChildren(form);
    root.hidden = false;
    user.focus();
  });
}

/**
 * Resolves when the page may load its data: at once in demo mode or with a
 * session, else after the person has signed in. When the server has no users
 * at all it shows why and never resolves: there is nothing to sign in with.
 */
export async function loginGate() {
  const state = await sessionState();
  if (state.open) return;
  if (state.user) {
    csrfToken = state.csrf_token;
    showUser(state.user);
    return;
  }
  const root = $("login");
  setPageHidden(true);
  if (state.problem) {
    root.replaceChildren(
      h("div", { class: "login-form", "data-login-problem": "" }, h("h2", { text: "Sign-in unavailable" }), h("p", { text: state.problem })),
    );
    root.hidden = false;
    return new Promise(() => {});
  }
  const name = await loginForm(root);
  root.hidden = true;
  root.replaceChildren();
  setPageHidden(false);
  showUser(name);
}

/** After an API call answered 401 (the session expired): start over at the form. */
export function sessionLost() {
  location.reload();
}
