"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("sign-in");
  const err = document.getElementById("sign-in-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    let r;
    try {
      r = await fetch("/api/session", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang },
        body: JSON.stringify({ name: form.name.value, password: form.password.value }),
      });
    } catch (e) {
      err.textContent = window.dalel.meta("t-network"); err.hidden = false; return;
    }
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      location.href = form.dataset.next || body.home || "/w/";
    } else {
      err.textContent = body.message || body.error || String(r.status);
      err.hidden = false;
      form.password.value = "";
      form.password.focus();
    }
  });
});
