// Choosing one's own password (the one given by `dalel user add` was seen by whoever gave it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("password");
  const err = document.getElementById("password-error");
  const done = document.getElementById("password-done");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    done.hidden = true;
    if (form.new.value !== form.again.value) {
      err.textContent = form.dataset.mismatch;
      err.hidden = false;
      form.again.focus();
      return;
    }
    let r;
    try {
      r = await window.dalel.api("POST", "/api/password", { current: form.current.value, new: form.new.value });
    } catch (e) {
      err.textContent = window.dalel.meta("t-network"); err.hidden = false; return;
    }
    if (r.status === 200) {
      done.textContent = form.dataset.done;
      done.hidden = false;
      const banner = document.getElementById("given-password");
      if (banner) banner.hidden = true;
      setTimeout(() => { location.href = r.body.home || "/w/"; }, 800);
    } else {
      err.textContent = (r.body && (r.body.message || r.body.error)) || String(r.status);
      err.hidden = false;
      form.current.value = "";
      form.current.focus();
    }
  });
});
