// The public sign-up page: search the precincts, pick one and a shift, send name and contact.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signup");
  const err = document.getElementById("signup-error");
  const done = document.getElementById("signup-done");
  const here = location.pathname.replace(/\/+$/, "");
  const search = document.getElementById("precinct-search");
  const list = document.getElementById("precinct-list");
  const note = document.getElementById("precinct-note");
  const chosen = document.getElementById("precinct-chosen");
  // the page's language (the volunteer may have switched it): answers and errors in it
  const lang = (document.querySelector('meta[name="lang"]') || {}).content || "";
  const accept = lang ? { "Accept-Language": lang } : {};
  const shiftName = (s) => form.dataset["shift" + s.charAt(0).toUpperCase() + s.slice(1)] || s;

  function choose(p) {
    form.precinct.value = p.number;
    document.getElementById("precinct-chosen-text").textContent =
      "№ " + p.number + (p.address ? " · " + p.address : "");
    chosen.hidden = false;
    for (const li of list.querySelectorAll("li")) {
      li.setAttribute("aria-selected", li.dataset.number === p.number ? "true" : "false");
    }
  }

  function row(p) {
    const li = document.createElement("li");
    li.dataset.number = p.number;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", form.precinct.value === p.number ? "true" : "false");
    li.tabIndex = 0;
    const b = document.createElement("strong");
    b.textContent = "№ " + p.number;
    const where = document.createElement("span");
    where.className = "where";
    where.textContent = [p.region, p.district, p.address].filter(Boolean).join(", ");
    li.append(b, " ", where);
    if (p.taken && p.taken.length) {
      const t = document.createElement("span");
      t.className = "taken";
      t.textContent = form.dataset.taken + ": " + p.taken.map(shiftName).join(", ");
      li.append(t);
    }
    li.addEventListener("click", () => choose(p));
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(p); }
    });
    return li;
  }

  let asked = 0;
  async function find() {
    const mine = ++asked;
    note.hidden = false;
    note.textContent = form.dataset.searching;
    let data;
    try {
      const r = await fetch(here + "/precincts?q=" + encodeURIComponent(search.value.trim()),
        { headers: { Accept: "application/json", ...accept }, credentials: "omit" });
      data = await r.json();
    } catch (e) { note.textContent = window.dalel.meta("t-network"); return; }
    if (mine !== asked) return;
    list.replaceChildren(...(data.precincts || []).map(row));
    note.textContent = !(data.precincts || []).length ? form.dataset.none : (data.more ? form.dataset.more : "");
    note.hidden = !note.textContent;
  }
  if (search) {
    let timer = null;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(find, 200); });
    search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") ev.preventDefault(); });
    find();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    if (search && !form.precinct.value) {
      err.textContent = form.dataset.choose; err.hidden = false; search.focus(); return;
    }
    const body = {
      precinct: form.precinct.value.trim(),
      shift: (form.querySelector('input[name="shift"]:checked') || {}).value || "",
      name: form.name.value,
      contact: form.contact.value,
    };
    if (form.iin) body.iin = form.iin.value;
    const button = document.getElementById("signup-submit");
    button.disabled = true;
    let r, data = null;
    try {
      r = await fetch(here, {
        method: "POST", credentials: "omit",
        headers: { "Content-Type": "application/json", Accept: "application/json", ...accept },
        body: JSON.stringify(body),
      });
      try { data = await r.json(); } catch (e) { data = null; }
    } catch (e) {
      err.textContent = window.dalel.meta("t-network"); err.hidden = false; button.disabled = false; return;
    }
    button.disabled = false;
    if (r.status === 201) {
      if (form.iin) form.iin.value = "";
      form.hidden = true;
      document.getElementById("signup-done-text").textContent = data.message;
      done.hidden = false;
      done.dataset.signup = data.signup;
    } else {
      err.textContent = (data && (data.message || data.error)) || String(r.status);
      err.hidden = false;
    }
  });
  document.getElementById("signup-again").addEventListener("click", () => {
    done.hidden = true;
    form.hidden = false;
  });
});
