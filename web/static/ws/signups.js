// The coordinator's sign-ups: approve (the invite's link and QR code shown once) or decline;
// the sign-up link and whether the page asks for the IIN.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const { api } = window.dalel;
  const box = document.getElementById("signups");
  const err = document.getElementById("signups-error");
  const fail = (r) => {
    err.textContent = (r.body && (r.body.message || r.body.error)) || String(r.status);
    err.hidden = false;
  };

  function invitePanel(id, invite, qr) {
    const div = document.createElement("div");
    div.className = "invite";
    const p = document.createElement("p");
    p.className = "notice";
    p.textContent = box.dataset.once;
    const row = document.createElement("div");
    row.className = "link-row";
    const input = document.createElement("input");
    input.className = "mono invite-url";
    input.id = "invite-" + id;
    input.readOnly = true;
    input.value = invite.url;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "secondary";
    copy.textContent = box.dataset.copy;
    copy.addEventListener("click", async () => {
      input.select();
      try { await navigator.clipboard.writeText(input.value); } catch (e) { document.execCommand("copy"); }
      copy.textContent = box.dataset.copied;
    });
    row.append(input, copy);
    const img = document.createElement("img");
    img.className = "qr";
    img.alt = invite.url;
    img.src = qr;
    div.append(p, row, img);
    return div;
  }

  box.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const id = b.dataset.id;
    const card = document.getElementById("row-" + id);
    err.hidden = true;
    for (const x of card.querySelectorAll("button[data-action]")) x.disabled = true;
    const r = await api("POST", `/api/signups/${encodeURIComponent(id)}/${b.dataset.action}`, {});
    if (r.status !== 200) {
      for (const x of card.querySelectorAll("button[data-action]")) x.disabled = false;
      fail(r);
      return;
    }
    const status = b.dataset.action === "approve" ? "approved" : "declined";
    for (const [which, by] of [["pending", -1], [status, 1]]) {
      const n = document.querySelector(`#count-${which} .n`);
      if (n) n.textContent = String(Number(n.textContent) + by);
    }
    card.classList.remove("pending");
    card.classList.add(status);
    const badge = card.querySelector(".status");
    badge.textContent = box.dataset[status];
    badge.className = "status badge" + (status === "approved" ? " green" : "");
    card.querySelector(".actions").remove();
    if (status === "approved") card.append(invitePanel(id, r.body.invite, r.body.qr));
  });

  const newLink = document.getElementById("new-link");
  newLink.addEventListener("click", async () => {
    if (!window.confirm(newLink.dataset.confirm)) return;
    const r = await api("POST", "/api/signups/link", {});
    if (r.status === 200) document.getElementById("signup-link").value = r.body.url;
    else fail(r);
  });
  const ask = document.getElementById("ask-iin");
  const msg = document.getElementById("settings-msg");
  ask.addEventListener("change", async () => {
    msg.hidden = true;
    const r = await api("POST", "/api/signups/settings", { ask_iin: ask.checked });
    if (r.status === 200) { msg.textContent = ask.dataset.saved; msg.hidden = false; }
    else { ask.checked = !ask.checked; fail(r); }
  });
});
