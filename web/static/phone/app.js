// The observer's phone app: files are kept in IndexedDB the moment they are chosen, hashed
// (SHA-256, incrementally), sent with tus (resuming from the last offset after a cut, a
// reload or a restart), and their receipts kept on the phone.
import { sha256 } from "/static/vendor/noble-hashes/sha2.js";
import { apply, lang, setLang, t } from "./i18n.js";

const HASH_CHUNK = 4 * 1024 * 1024; // bytes hashed at a time: a 1 GB video never sits in memory
const TUS_CHUNK = 1024 * 1024; // bytes per PATCH: a cut costs at most this much
const SYNC_EVERY = 15000;
const TOKEN_KEY = "dalel-token";
const ME_KEY = "dalel-me";

let token = localStorage.getItem(TOKEN_KEY);
let me = JSON.parse(localStorage.getItem(ME_KEY) || "null");
let syncing = false;
const progress = new Map(); // record id -> percent sent (not stored: it changes too often)

// --- storage: one IndexedDB object store of records, the file's bytes inside ---------------
function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("dalel", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("queue", { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
const dbReady = openDb();

async function tx(mode, fn) {
  const db = await dbReady;
  return new Promise((resolve, reject) => {
    const transaction = db.transaction("queue", mode);
    const result = fn(transaction.objectStore("queue"));
    transaction.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    transaction.onerror = () => reject(transaction.error);
  });
}
const put = (rec) => tx("readwrite", (s) => s.put(rec));
const all = async () => (await tx("readonly", (s) => s.getAll())).sort((a, b) => a.added - b.added);
async function update(id, changes) {
  const rec = await tx("readonly", (s) => s.get(id));
  if (rec) await put({ ...rec, ...changes });
}
const receiptUrls = new Map(); // record id -> object URL of its receipt (made once)
const qrUrls = new Map(); // record id -> object URL of its receipt's QR code

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function hashBlob(blob) {
  const h = sha256.create();
  for (let off = 0; off < blob.size; off += HASH_CHUNK) {
    h.update(new Uint8Array(await blob.slice(off, off + HASH_CHUNK).arrayBuffer()));
  }
  return hex(h.digest());
}

// --- adding files -------------------------------------------------------------------------
async function addFiles(files) {
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist();
  const kind = document.getElementById("kind").value;
  const precinct = document.getElementById("precinct").value.trim() || (me && me.precinct) || "";
  const note = document.getElementById("note").value;
  let added = Date.now();
  for (const file of files) {
    // The bytes go into IndexedDB at once, untouched: no resizing, no re-encoding.
    await put({
      id: newId(),
      added: added++,
      name: file.name || "upload",
      size: file.size,
      type: file.type,
      kind: file.type.startsWith("video/") && kind === "protocol" ? "video" : kind,
      precinct,
      note,
      blob: file,
      sha256: null,
      status: "hashing",
    });
  }
  document.getElementById("note").value = "";
  await render();
  await hashWaiting(); // on the phone, with or without a network
  sync();
}

let hashing = false;
async function hashWaiting() {
  if (hashing) return;
  hashing = true;
  try {
    for (const rec of await all()) {
      if (rec.status !== "hashing") continue;
      await update(rec.id, { sha256: await hashBlob(rec.blob), status: "pending" });
      await render();
    }
  } finally {
    hashing = false;
  }
}

// --- sending ------------------------------------------------------------------------------
function reasonOf(err) {
  const res = err && err.originalResponse;
  if (!res) return "NETWORK";
  try {
    return JSON.parse(res.getBody()).error || "UNKNOWN";
  } catch {
    return res.getStatus() === 401 ? "UNAUTHORIZED" : "UNKNOWN";
  }
}

function send(rec) {
  return new Promise((resolve, reject) => {
    const upload = new window.tus.Upload(rec.blob, {
      endpoint: "/api/uploads",
      uploadUrl: rec.uploadUrl || null,
      headers: { Authorization: `Bearer ${token}` },
      metadata: {
        filename: rec.name,
        sha256: rec.sha256,
        kind: rec.kind,
        precinct: rec.precinct,
        note: rec.note,
      },
      chunkSize: TUS_CHUNK,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      storeFingerprintForResuming: false, // the record keeps its upload URL itself
      onUploadUrlAvailable: () => update(rec.id, { uploadUrl: upload.url }),
      onProgress: (sent, total) => {
        progress.set(rec.id, Math.floor((100 * sent) / Math.max(total, 1)));
        render();
      },
      onShouldRetry: (err) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        return !(status >= 400 && status < 500 && status !== 409 && status !== 423);
      },
      onSuccess: () => resolve(upload.url),
      onError: reject,
    });
    upload.start();
  });
}

async function fetchReceipt(rec) {
  // The server holds the question until the file's batch is committed (at most 20 s).
  const res = await fetch(`${rec.uploadUrl}/receipt`, {
    headers: { Authorization: `Bearer ${token}`, Prefer: "wait=20" },
    cache: "no-store",
  });
  if (res.status === 200) {
    const receipt = await res.text();
    // Its QR code (a link to the receipt-check page holding the receipt): kept as an image.
    const qr = await fetch(`${rec.uploadUrl}/receipt/qr`, {
      headers: { Authorization: `Bearer ${token}` },
      cache: "no-store",
    })
      .then((r) => (r.ok ? r.blob() : null))
      .catch(() => null);
    return { status: "receipted", receipt, qr };
  }
  if (res.status === 422) return { status: "refused", reason: (await res.json()).reason };
  if (res.status === 202) return { status: "received", ack: (await res.json()).ack };
  if (res.status === 401) return { status: "received", reason: "UNAUTHORIZED" };
  return null;
}

async function step(rec) {
  if (rec.status === "hashing") {
    await hashWaiting();
    return;
  }
  if (!navigator.onLine || !token) return;
  if (["pending", "uploading", "failed"].includes(rec.status)) {
    await update(rec.id, { status: "uploading" });
    await render();
    try {
      const url = await send(rec);
      await update(rec.id, { status: "received", uploadUrl: url });
    } catch (err) {
      const reason = reasonOf(err);
      const refused = ["TOO_LARGE", "BAD_METADATA"].includes(reason);
      await update(rec.id, { status: refused ? "refused" : "failed", reason });
    }
    progress.delete(rec.id);
    return;
  }
  if (rec.status === "received") {
    const until = Date.now() + 60000;
    while (Date.now() < until) {
      const asked = Date.now();
      const got = await fetchReceipt(rec);
      if (got && got.status !== "received") {
        // The receipt is kept; the file's bytes are no longer needed on the phone.
        await update(rec.id, { ...got, blob: got.status === "receipted" ? null : rec.blob });
        return;
      }
      // An answer that did not wait (an error, or a proxy that cut it short): a second's pause.
      if (Date.now() - asked < 1000) await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function sync() {
  if (syncing) return;
  syncing = true;
  try {
    for (let pass = 0; pass < 3; pass++) {
      const todo = (await all()).filter((r) => !["receipted", "refused"].includes(r.status));
      if (!todo.length) break;
      for (const rec of todo) {
        try {
          await step(rec);
        } catch (err) {
          console.warn("dalel: will retry", err);
        }
        await render();
      }
    }
  } finally {
    syncing = false;
    render();
  }
}

// --- the screen -----------------------------------------------------------------------------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function sizeText(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(n / 1024))} KB`;
}

let rendering = Promise.resolve();
function render() {
  rendering = rendering.then(draw, draw);
  return rendering;
}

async function draw() {
  const recs = await all();
  const list = document.getElementById("queue");
  list.replaceChildren();
  document.getElementById("empty").hidden = recs.length > 0;
  for (const rec of [...recs].reverse()) {
    const li = el("li");
    li.dataset.status = rec.status;
    li.dataset.sha256 = rec.sha256 || "";
    li.append(el("div", "name", rec.name));
    li.append(
      el("div", "meta", `${t(`kind.${rec.kind}`)} · ${sizeText(rec.size)} · SHA-256 ${rec.sha256 || "…"}`),
    );
    const reason = t(`reason.${rec.reason || "UNKNOWN"}`);
    const percent = progress.get(rec.id) ?? 0;
    li.append(el("div", `state ${rec.status}`, t(`status.${rec.status}`, { percent, reason })));
    if (rec.status === "uploading") {
      const bar = el("progress");
      bar.max = 100;
      bar.value = percent;
      li.append(bar);
    }
    if (rec.receipt) {
      const a = el("a", "receipt", t("receipt"));
      if (!receiptUrls.has(rec.id)) {
        const blob = new Blob([rec.receipt], { type: "application/json" });
        receiptUrls.set(rec.id, URL.createObjectURL(blob));
      }
      a.href = receiptUrls.get(rec.id);
      a.download = `receipt-${(rec.sha256 || rec.id).slice(0, 16)}.json`;
      li.append(a);
      const check = el("a", "verify", t("verify"));
      check.href = "/verify";
      li.append(check);
    }
    if (rec.qr) {
      const box = el("details");
      box.append(el("summary", "", t("qr")));
      const img = el("img", "qr");
      if (!qrUrls.has(rec.id)) qrUrls.set(rec.id, URL.createObjectURL(rec.qr));
      img.src = qrUrls.get(rec.id);
      img.alt = t("qr");
      box.append(img);
      li.append(box);
    }
    list.append(li);
  }
  const net = document.getElementById("net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
  net.classList.toggle("offline", !navigator.onLine);
  if (me) document.getElementById("who").textContent = t("who", {
    precinct: me.precinct,
    expires: new Date(me.expires).toLocaleString(lang()),
  });
}

async function loadMe() {
  try {
    const res = await fetch("/api/me", { headers: { Authorization: `Bearer ${token}` } });
    if (res.status === 401) {
      const notice = document.getElementById("nolink");
      notice.hidden = false;
      document.getElementById("nolink-text").dataset.t = "linkgone";
      apply();
      return;
    }
    if (res.ok) {
      me = await res.json();
      localStorage.setItem(ME_KEY, JSON.stringify(me));
    }
  } catch {
    // offline: what we knew of the invite is enough
  }
  const precinct = document.getElementById("precinct");
  if (me && !precinct.value) precinct.value = me.precinct;
  showIin();
  render();
}

// --- the IIN, given once: checked here and on the server, kept by neither ------------------
const W1 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const W2 = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

function validIin(text) {
  if (!/^\d{12}$/.test(text)) return false;
  const d = Array.from(text, Number);
  let s = W1.reduce((acc, w, i) => acc + w * d[i], 0) % 11;
  if (s === 10) s = W2.reduce((acc, w, i) => acc + w * d[i], 0) % 11;
  return s !== 10 && s === d[11];
}

function iinMessage(key, vars = {}, bad = false) {
  const msg = document.getElementById("iin-msg");
  msg.hidden = !key;
  msg.dataset.key = key || "";
  msg.textContent = key ? t(key, vars) : "";
  msg.classList.toggle("bad", bad);
}

function showIin() {
  const given = me && me.observer;
  document.getElementById("iin-box").hidden = !me || Boolean(given);
  if (given) iinMessage("iin.saved", { observer: me.observer });
}

async function giveIin(event) {
  event.preventDefault();
  const field = document.getElementById("iin");
  const iin = field.value.replace(/[\s.-]/g, "");
  if (!validIin(iin)) {
    iinMessage("iin.bad", {}, true);
    return;
  }
  field.value = ""; // not kept on the phone either
  try {
    const res = await fetch("/api/me/iin", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ iin }),
      cache: "no-store",
    });
    if (res.ok) {
      me = { ...me, observer: (await res.json()).observer };
      localStorage.setItem(ME_KEY, JSON.stringify(me));
      showIin();
    } else {
      const reason = (await res.json().catch(() => ({}))).error;
      iinMessage(reason === "IIN_ALREADY_GIVEN" ? "iin.taken" : "iin.bad", {}, true);
    }
  } catch {
    iinMessage("iin.offline", {}, true);
  }
}

function start() {
  const fromLink = location.hash.slice(1);
  if (fromLink) {
    token = fromLink;
    localStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", location.pathname); // the token leaves the address bar
  }
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => {
      setLang(b.dataset.lang);
      apply();
      const msg = document.getElementById("iin-msg");
      if (msg.dataset.key) msg.textContent = t(msg.dataset.key, { observer: me && me.observer });
      render();
    });
  }
  apply();
  if (!token) {
    document.getElementById("nolink").hidden = false;
    return;
  }
  document.getElementById("app").hidden = false;
  const ios = /iPad|iPhone|iPod/.test(navigator.userAgent) && !navigator.standalone;
  document.getElementById("ios").hidden = !ios;
  for (const id of ["camera", "camcorder", "gallery"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", () => {
      addFiles(Array.from(input.files));
      input.value = "";
    });
  }
  window.addEventListener("online", () => {
    render();
    sync();
  });
  window.addEventListener("offline", render);
  document.getElementById("iin-form").addEventListener("submit", giveIin);
  setInterval(sync, SYNC_EVERY);
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
  loadMe().then(sync);
}

start();
