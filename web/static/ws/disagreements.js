// A coordinator settles the figures two reviewers entered differently.
"use strict";
(function () {
  const root = () => document.getElementById("disagreements");
  const T = (name) => root().dataset["t" + name] || "";
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function showError(text) { const p = document.getElementById("error"); p.textContent = text; p.hidden = !text; }

  async function load() {
    let r;
    try { r = await window.dalel.api("GET", "/api/review/disagreements"); } catch (e) { showError(T("Error")); return; }
    if (r.status !== 200) { showError((r.body && r.body.message) || T("Error")); return; }
    const list = document.getElementById("list");
    list.replaceChildren();
    const found = r.body.disagreements;
    document.getElementById("empty").hidden = found.length > 0;
    for (const d of found) {
      const card = el("section", { class: "card dis", id: `dis-${d.item.slice(0, 12)}-${d.field}` });
      const left = el("div");
      left.append(el("strong", {}, `${T("Precinct")} ${d.precinct} · ${d.label}`));
      if (d.crop_url) { left.append(el("br")); left.append(el("img", { src: d.crop_url, alt: d.label })); }
      const ul = el("ul");
      ul.append(el("li", {}, `${T("Machine")}: ${d.machine_value ?? T("None")}`));
      for (const e of d.entries) ul.append(el("li", { class: "entry" }, `${T("Entered")}: ${e.value} — ${e.name || e.by}, ${e.time.slice(0, 16).replace("T", " ")}`));
      left.append(ul);
      const label = el("label", { for: `v-${d.item}-${d.field}` }, T("Value"));
      const input = el("input", { id: `v-${d.item}-${d.field}`, inputmode: "numeric", maxlength: "8" });
      const right = el("div");
      right.append(label, input);
      input.addEventListener("keydown", async (ev) => {
        if (ev.key !== "Enter" || !/^\d+$/.test(input.value)) return;
        ev.preventDefault();
        const s = await window.dalel.api("POST", `/api/review/${d.item}/${d.field}/resolve`, { value: parseInt(input.value, 10) });
        if (s.status === 200) {
          input.disabled = true;
          right.append(el("p", { class: "ok", role: "status" }, T("Confirmed")));
          const next = Array.from(document.querySelectorAll("#list input")).find((i) => !i.disabled);
          if (next) next.focus();
        } else { showError((s.body && s.body.message) || T("Error")); }
      });
      card.append(left, right);
      list.append(card);
    }
    const first = document.querySelector("#list input");
    if (first) first.focus();
  }
  document.addEventListener("DOMContentLoaded", load);
})();
