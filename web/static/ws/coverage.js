// The coverage board: every district's row printed (a closed <details> would print nothing).
"use strict";
window.addEventListener("beforeprint", () => {
  document.querySelectorAll("details.districts").forEach((d) => { d.open = true; });
});

// A coordinator imports another organisation's coverage note: the file is sent as it is and
// checked on the server (its signature); the board is then drawn again.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("exchange");
  if (!box) return;
  const err = document.getElementById("note-error");
  const done = document.getElementById("note-done");
  document.getElementById("note-import").addEventListener("click", async () => {
    err.hidden = true;
    done.hidden = true;
    const file = document.getElementById("note-file").files[0];
    if (!file) return;
    let r;
    try {
      r = await fetch("/api/coverage/import", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "text/plain", "X-CSRF-Token": window.dalel.meta("csrf"),
                   "Accept-Language": document.documentElement.lang },
        body: await file.arrayBuffer(),
      });
    } catch (e) {
      err.textContent = window.dalel.meta("t-network");
      err.hidden = false;
      return;
    }
    const body = await r.json().catch(() => ({}));
    if (r.ok) {
      done.textContent = `${box.dataset.done} ${body.organisation || ""}`;
      done.hidden = false;
      setTimeout(() => location.reload(), 600);
    } else {
      err.textContent = body.message || body.error || String(r.status);
      err.hidden = false;
    }
  });
});
