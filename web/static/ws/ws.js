// The workspace's shared script: the session's CSRF token on every change, sign-out, errors.
"use strict";
(function () {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  // fetch JSON with the session's CSRF token; resolves {status, body}
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = meta("csrf");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    if (r.status !== 204) {
      try { data = await r.json(); } catch (e) { data = null; }
    }
    if (r.status === 401) { location.href = "/w/sign-in?next=" + encodeURIComponent(location.pathname); }
    return { status: r.status, body: data };
  }
  window.dalel = { api, meta, lang: meta("lang") };
  document.addEventListener("DOMContentLoaded", () => {
    // on a phone the sections scroll sideways: show the one open
    const here = document.querySelector('nav.sections a[aria-current="page"]');
    if (here && here.parentElement.scrollWidth > here.parentElement.clientWidth) {
      here.parentElement.scrollLeft = here.offsetLeft - 12;
    }
    const out = document.getElementById("sign-out");
    if (out) out.addEventListener("click", async () => {
      await api("DELETE", "/api/session");
      location.href = "/w/sign-in";
    });
  });
})();
