// Deadlines board and case page: open a case from a discrepancy, set its fields, attach
// evidence, build a dossier as a background job (progress polled), verify it.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const showError = (text) => { const p = $("error"); if (p) { p.textContent = text; p.hidden = !text; } };
  const T = (name) => ($("case") ? $("case").dataset["t" + name] : "") || "";

  function board() {
    for (const b of document.querySelectorAll("button.open-case")) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        const r = await window.dalel.api("POST", "/api/cases", { precinct: b.dataset.precinct });
        if (r.status === 201) location.href = r.body.url;
        else { showError((r.body && r.body.message) || String(r.status)); b.disabled = false; }
      });
    }
  }

  function casePage() {
    const root = $("case");
    if (!root) return;
    const cid = root.dataset.case;
    const fields = $("fields");
    if (fields) fields.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const el of fields.elements) {
        if (el.name && !el.disabled && el.value.trim()) body[el.name] = el.value;
      }
      const r = await window.dalel.api("POST", `/api/cases/${cid}`, body);
      if (r.status === 200) { const s = $("saved"); s.textContent = T("Saved"); s.hidden = false; showError(""); setTimeout(() => location.reload(), 600); }
      else showError((r.body && r.body.message) || String(r.status));
    });
    for (const b of document.querySelectorAll("button.attach")) {
      b.addEventListener("click", async () => {
        const r = await window.dalel.api("POST", `/api/cases/${cid}/evidence`, { items: [b.dataset.sha] });
        if (r.status === 200) location.reload(); else showError((r.body && r.body.message) || String(r.status));
      });
    }
    const build = $("build");
    if (build) build.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("build-button").disabled = true;
      showError("");
      const r = await window.dalel.api("POST", `/api/cases/${cid}/dossiers`, {
        edition: $("edition").value, language: $("language").value, draft: $("draft").checked,
      });
      if (r.status !== 202) { showError((r.body && r.body.message) || String(r.status)); $("build-button").disabled = false; return; }
      $("job").hidden = false;
      poll(r.body.job);
    });
    async function poll(job) {
      const r = await window.dalel.api("GET", `/api/jobs/${job}`);
      if (r.status !== 200) { showError((r.body && r.body.message) || String(r.status)); return; }
      $("job-progress").value = r.body.progress;
      $("job-step").textContent = `${r.body.step} (${Math.round(r.body.seconds)} s)`;
      if (r.body.state === "done") {
        $("job-step").textContent = T("Done");
        location.reload();
      } else if (r.body.state === "failed") {
        const e = r.body.error || {};
        let text = e.message || T("Failed");
        if (e.gaps && e.gaps.length) text = `${T("Missing")}: ${e.gaps.join(", ")}`;
        showError(text);
        $("build-button").disabled = false;
      } else setTimeout(() => poll(job), 700);
    }
    for (const b of document.querySelectorAll("button.verify")) {
      b.addEventListener("click", async () => {
        b.disabled = true;
        const out = b.parentElement.querySelector(".verdict");
        const r = await window.dalel.api("GET", `/api/dossiers/${b.dataset.sha}/verify`);
        b.disabled = false;
        if (r.status === 200 && r.body.ok) { out.textContent = "✓ " + T("Verified"); out.className = "verdict ok"; }
        else { out.textContent = "✗ " + T("NotVerified"); out.className = "verdict error"; }
      });
    }
  }
  document.addEventListener("DOMContentLoaded", () => { board(); casePage(); });
})();
