// Review by double entry: one protocol at a time, keyboard first (type, Enter, next).
"use strict";
(function () {
  const root = () => document.getElementById("review");
  const T = (name) => root().dataset["t" + name] || "";
  let current = null;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function typed() {
    const values = Object.assign({}, current.known);
    for (const input of document.querySelectorAll("#figures input")) {
      if (/^\d+$/.test(input.value)) values[input.name] = parseInt(input.value, 10);
    }
    return values;
  }

  const COMPARE = {
    "==": (a) => a === 0, "!=": (a) => a !== 0, "<=": (a) => a <= 0,
    ">=": (a) => a >= 0, "<": (a) => a < 0, ">": (a) => a > 0,
  };

  // The protocol's line of a figure (the form's order, as printed on the sheet).
  function line(key) { return Object.keys(current.labels).indexOf(key) + 1; }

  // A relation in the protocol's line numbers: "№2 = №3 + №6" (the figure keys stay in the
  // title).
  function readable(r) {
    const side = (sign) => Object.entries(r.terms)
      .filter(([, c]) => c * sign > 0)
      .map(([k, c]) => (Math.abs(c) === 1 ? "" : `${Math.abs(c)}×`) + `№${line(k)}`)
      .sort((a, b) => parseInt(a.slice(a.indexOf("№") + 1), 10) - parseInt(b.slice(b.indexOf("№") + 1), 10))
      .join(" + ") || "0";
    const op = { "==": "=", "!=": "≠", "<=": "≤", ">=": "≥", "<": "<", ">": ">" }[r.op] || r.op;
    const c = r.constant ? (r.constant > 0 ? ` + ${r.constant}` : ` − ${-r.constant}`) : "";
    return `${side(1)}${c} ${op} ${side(-1)}`;
  }

  function relations() {
    const values = typed();
    const list = document.getElementById("relations");
    list.replaceChildren();
    for (const r of current.relations) {
      let total = r.constant, known = true;
      for (const [key, coef] of Object.entries(r.terms)) {
        if (coef === 0) continue;
        if (!(key in values)) { known = false; break; }
        total += coef * values[key];
      }
      const state = !known ? "unknown" : COMPARE[r.op](total) ? "holds" : "breaks";
      const mark = { holds: "✓ " + T("Holds"), breaks: "✗ " + T("Breaks"), unknown: "? " + T("Unknown") }[state];
      list.append(el("li", { class: state, title: r.text }, `${readable(r)}  ${mark}`));
    }
  }

  function showError(text) {
    const p = document.getElementById("error");
    p.textContent = text; p.hidden = !text;
  }

  async function load() {
    showError("");
    let r;
    try { r = await window.dalel.api("GET", "/api/review/next"); }
    catch (e) { showError(T("Error")); return; }
    const section = document.getElementById("protocol");
    if (r.status === 204) {
      section.hidden = true; document.getElementById("empty").hidden = false; current = null; return;
    }
    if (r.status !== 200) { showError((r.body && r.body.message) || T("Error")); return; }
    current = r.body;
    document.getElementById("empty").hidden = true;
    render();
    section.hidden = false;
    const first = document.querySelector("#figures input");
    if (first) first.focus();
  }

  function render() {
    const p = current;
    document.getElementById("substitution").hidden = !p.substitution;
    document.getElementById("where").textContent = `${T("Precinct")} ${p.precinct} · ${p.item.slice(0, 12)}…`;
    const w = p.waiting || {};
    document.getElementById("left").textContent = `${T("Left")}: ${w.protocols ?? "?"} / ${w.figures ?? "?"} · ${T("Today")}: ${w.today ?? "?"}`;
    document.getElementById("photo").src = p.photo_url;
    document.getElementById("photo-link").href = p.photo_url;
    const others = document.getElementById("others");
    others.replaceChildren();
    for (const o of p.others) {
      const f = el("figure");
      const img = el("img", { src: o.photo_url, alt: T("OtherPhoto") });
      f.append(img, el("figcaption", {}, `${T("OtherPhoto")} ${o.item.slice(0, 12)}…`));
      others.append(f);
    }
    const form = document.getElementById("figures");
    form.replaceChildren();
    p.fields.forEach((f) => {
      const row = el("div", { class: "figure", id: `row-${f.key}` });
      const id = `fig-${f.key}`;
      row.append(el("label", { class: "label", for: id, title: f.label }, `№${line(f.key)}. ${f.label}`));
      const input = el("input", {
        id, name: f.key, inputmode: "numeric", pattern: "[0-9]*", maxlength: "8",
        "aria-describedby": `hint-${f.key}`,
      });
      row.append(input);
      if (f.crop_url) row.append(el("img", { class: "crop", src: f.crop_url, alt: f.label }));
      const hints = [];
      hints.push(`${T("Machine")}: ${f.machine_value ?? T("None")}`);
      if (f.candidates.length) hints.push(`${T("Candidates")}: ${f.candidates.join(", ")}`);
      if (f.words) hints.push(`${T("Words")}: «${f.words}»`);
      row.append(el("div", { class: "hints", id: `hint-${f.key}`, title: hints.join(" · ") }, hints.join(" · ")));
      row.append(el("div", { class: "state", id: `state-${f.key}`, role: "status" }, ""));
      input.addEventListener("input", () => {
        input.value = input.value.replace(/\D/g, "");
        relations();
      });
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter") { ev.preventDefault(); save(f.key); }
      });
      form.append(row);
    });
    relations();
  }

  async function save(key) {
    const input = document.getElementById(`fig-${key}`);
    if (!/^\d+$/.test(input.value) || input.disabled) return;
    let r;
    try {
      r = await window.dalel.api("POST", `/api/review/${current.item}/${key}`, { value: parseInt(input.value, 10) });
    } catch (e) { showError(T("Error")); return; }
    if (r.status !== 200) { showError((r.body && r.body.message) || T("Error")); return; }
    showError("");
    const status = r.body.status;
    const row = document.getElementById(`row-${key}`);
    row.classList.add(status === "disagreement" ? "disagreement" : "saved");
    document.getElementById(`state-${key}`).textContent = {
      waiting_second: T("WaitingSecond"), confirmed: T("Confirmed"), disagreement: T("Disagreement"),
    }[status] || status;
    input.disabled = true;
    const next = Array.from(document.querySelectorAll("#figures input")).find((i) => !i.disabled);
    if (next) next.focus(); else load();
  }

  document.addEventListener("DOMContentLoaded", load);
})();
