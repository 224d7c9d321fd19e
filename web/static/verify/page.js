// The receipt-check page: a receipt (file, paste, or a QR code's link) and, optionally, the
// original photo are checked here, in the browser, against the pinned log key. Served at
// /verify and written as one self-contained file by `dalel receipt page`.
import {
  consistencyCheck,
  fingerprint,
  latestFromTiles,
  loadReceipt,
  parseCheckpoint,
  parseVerifierKey,
  photoCheck,
  report,
  sha256OfBlob,
  verifyReceipt,
} from "./verifier.js";

const LANGS = ["kk", "ru", "en"];
const T = {
  en: {
    title: "Check a receipt",
    intro: "Everything is checked on this device; nothing you give here is sent anywhere.",
    "key.title": "The log key this page trusts",
    "key.fp": "Fingerprint",
    "key.where": "Compare it with the key the coalition publishes:",
    "key.change": "Trust another key",
    "key.store": "(in the coalition's store)",
    "key.bad": "This is not a log key (name+id+key).",
    "receipt.file": "Receipt file (.json)",
    "receipt.paste": "or paste the receipt",
    "receipt.qr": "A receipt's QR code is a link to this page: scan it with the phone's camera.",
    scan: "Scan a QR code",
    "scan.stop": "Stop scanning",
    photo: "The original photo or video (optional)",
    check: "Check",
    hashing: "Computing the file's SHA-256…",
    ok: "The receipt holds: this entry is in the log, signed, unchanged.",
    bad: "The receipt does NOT hold. See the checks marked FAILED.",
    empty: "Give a receipt first.",
    unreadable: "This is not a receipt Dalel issued:",
    qr: "Opened from a QR code: the code carries the receipt without its timestamp token; the receipt file has it.",
    offline: "not checked: the log cannot be reached (offline?)",
    behind: "not checked yet: the published log is older than this receipt; check again later",
    "status.PASSED": "PASSED",
    "status.FAILED": "FAILED",
    "status.WARNING": "WARNING",
    "status.SKIPPED": "NOT CHECKED",
    "status.INDETERMINATE": "UNDECIDED",
    "c.format": "Receipt format",
    "c.key": "Log key",
    "c.entry-signature": "Signature of the entry",
    "c.entry-copy": "Readable copy of the entry",
    "c.checkpoint-signature": "Signature of the checkpoint",
    "c.inclusion": "The entry is in the log (inclusion proof)",
    "c.tsa-root": "Timestamp authority",
    "c.timestamp": "Timestamp (RFC 3161)",
    "c.photo": "The original file",
    "c.consistency": "The log since then (consistency proof)",
    "r.MALFORMED": "not a Dalel receipt, or damaged",
    "r.KEY_NOT_PINNED": "the key was taken from the receipt itself",
    "r.KEY_MISMATCH": "the receipt comes from another log than the trusted one",
    "r.SIGNATURE_INVALID": "the entry was changed after it was signed",
    "r.ENTRY_MISMATCH": "the readable copy differs from the signed entry",
    "r.CHECKPOINT_SIGNATURE_INVALID": "the checkpoint is not signed by the log key",
    "r.PROOF_INVALID": "the proof does not place the entry in the log",
    "r.TIMESTAMP_INVALID": "the timestamp does not cover this file at this time",
    "r.TSA_ROOT_NOT_PINNED": "the authority's own signature is checked by the dalel program",
    "r.NO_TIMESTAMP": "no timestamp in this receipt",
    "r.HASH_MISMATCH": "this file is not the one the receipt is for",
    "r.CONSISTENCY_INVALID": "the log was rewritten since this receipt",
  },
  ru: {
    title: "Проверка квитанции",
    intro: "Всё проверяется на этом устройстве; ничего из того, что вы здесь укажете, никуда не отправляется.",
    "key.title": "Ключ журнала, которому доверяет эта страница",
    "key.fp": "Отпечаток",
    "key.where": "Сверьте его с ключом, который публикует коалиция:",
    "key.change": "Доверять другому ключу",
    "key.store": "(в хранилище коалиции)",
    "key.bad": "Это не ключ журнала (имя+id+ключ).",
    "receipt.file": "Файл квитанции (.json)",
    "receipt.paste": "или вставьте квитанцию",
    "receipt.qr": "QR-код квитанции — это ссылка на эту страницу: наведите на него камеру телефона.",
    scan: "Сканировать QR-код",
    "scan.stop": "Остановить",
    photo: "Исходное фото или видео (необязательно)",
    check: "Проверить",
    hashing: "Вычисляется SHA-256 файла…",
    ok: "Квитанция подлинная: запись есть в журнале, подписана и не изменена.",
    bad: "Квитанция НЕ прошла проверку. Смотрите строки «НЕ ПРОЙДЕНО».",
    empty: "Сначала укажите квитанцию.",
    unreadable: "Это не квитанция Dalel:",
    qr: "Открыто по QR-коду: код несёт квитанцию без метки времени; она есть в файле квитанции.",
    offline: "не проверено: журнал недоступен (нет связи?)",
    behind: "пока не проверено: опубликованный журнал старше этой квитанции; проверьте позже",
    "status.PASSED": "ПРОЙДЕНО",
    "status.FAILED": "НЕ ПРОЙДЕНО",
    "status.WARNING": "ВНИМАНИЕ",
    "status.SKIPPED": "НЕ ПРОВЕРЕНО",
    "status.INDETERMINATE": "НЕ РЕШЕНО",
    "c.format": "Формат квитанции",
    "c.key": "Ключ журнала",
    "c.entry-signature": "Подпись записи",
    "c.entry-copy": "Читаемая копия записи",
    "c.checkpoint-signature": "Подпись контрольной точки",
    "c.inclusion": "Запись есть в журнале (доказательство включения)",
    "c.tsa-root": "Служба меток времени",
    "c.timestamp": "Метка времени (RFC 3161)",
    "c.photo": "Исходный файл",
    "c.consistency": "Журнал с тех пор (доказательство согласованности)",
    "r.MALFORMED": "не квитанция Dalel или повреждена",
    "r.KEY_NOT_PINNED": "ключ взят из самой квитанции",
    "r.KEY_MISMATCH": "квитанция из другого журнала, не из доверенного",
    "r.SIGNATURE_INVALID": "запись изменена после подписи",
    "r.ENTRY_MISMATCH": "читаемая копия отличается от подписанной записи",
    "r.CHECKPOINT_SIGNATURE_INVALID": "контрольная точка не подписана ключом журнала",
    "r.PROOF_INVALID": "доказательство не помещает запись в журнал",
    "r.TIMESTAMP_INVALID": "метка времени не относится к этому файлу и времени",
    "r.TSA_ROOT_NOT_PINNED": "подпись самой службы проверяет программа dalel",
    "r.NO_TIMESTAMP": "в квитанции нет метки времени",
    "r.HASH_MISMATCH": "это не тот файл, на который выдана квитанция",
    "r.CONSISTENCY_INVALID": "журнал переписан после этой квитанции",
  },
  kk: {
    title: "Түбіртекті тексеру",
    intro: "Барлығы осы құрылғыда тексеріледі; мұнда бергеніңіз ешқайда жіберілмейді.",
    "key.title": "Бұл бет сенетін журнал кілті",
    "key.fp": "Саусақ ізі",
    "key.where": "Оны коалиция жариялайтын кілтпен салыстырыңыз:",
    "key.change": "Басқа кілтке сену",
    "key.store": "(коалиция қоймасында)",
    "key.bad": "Бұл журнал кілті емес (аты+id+кілт).",
    "receipt.file": "Түбіртек файлы (.json)",
    "receipt.paste": "немесе түбіртекті қойыңыз",
    "receipt.qr": "Түбіртектің QR-коды осы бетке сілтеме: оны телефон камерасымен оқыңыз.",
    scan: "QR-кодты оқу",
    "scan.stop": "Тоқтату",
    photo: "Түпнұсқа фото немесе бейне (міндетті емес)",
    check: "Тексеру",
    hashing: "Файлдың SHA-256 есептелуде…",
    ok: "Түбіртек түпнұсқа: жазба журналда бар, қол қойылған, өзгертілмеген.",
    bad: "Түбіртек тексеруден ӨТПЕДІ. «ӨТПЕДІ» жолдарын қараңыз.",
    empty: "Алдымен түбіртекті беріңіз.",
    unreadable: "Бұл Dalel түбіртегі емес:",
    qr: "QR-код арқылы ашылды: код түбіртекті уақыт белгісінсіз береді; ол түбіртек файлында бар.",
    offline: "тексерілмеді: журналға қосылу мүмкін емес (байланыс жоқ па?)",
    behind: "әзірге тексерілмеді: жарияланған журнал бұл түбіртектен ескі; кейінірек тексеріңіз",
    "status.PASSED": "ӨТТІ",
    "status.FAILED": "ӨТПЕДІ",
    "status.WARNING": "ЕСКЕРТУ",
    "status.SKIPPED": "ТЕКСЕРІЛМЕДІ",
    "status.INDETERMINATE": "ШЕШІЛМЕДІ",
    "c.format": "Түбіртек пішімі",
    "c.key": "Журнал кілті",
    "c.entry-signature": "Жазбаның қолтаңбасы",
    "c.entry-copy": "Жазбаның оқылатын көшірмесі",
    "c.checkpoint-signature": "Бақылау нүктесінің қолтаңбасы",
    "c.inclusion": "Жазба журналда бар (қосылу дәлелі)",
    "c.tsa-root": "Уақыт белгісі қызметі",
    "c.timestamp": "Уақыт белгісі (RFC 3161)",
    "c.photo": "Түпнұсқа файл",
    "c.consistency": "Содан бергі журнал (үйлесімділік дәлелі)",
    "r.MALFORMED": "Dalel түбіртегі емес немесе бүлінген",
    "r.KEY_NOT_PINNED": "кілт түбіртектің өзінен алынды",
    "r.KEY_MISMATCH": "түбіртек сенімді журналдан емес, басқа журналдан",
    "r.SIGNATURE_INVALID": "жазба қол қойылғаннан кейін өзгертілген",
    "r.ENTRY_MISMATCH": "оқылатын көшірме қол қойылған жазбадан өзгеше",
    "r.CHECKPOINT_SIGNATURE_INVALID": "бақылау нүктесіне журнал кілтімен қол қойылмаған",
    "r.PROOF_INVALID": "дәлел жазбаны журналға орналастырмайды",
    "r.TIMESTAMP_INVALID": "уақыт белгісі бұл файлға және уақытқа сәйкес емес",
    "r.TSA_ROOT_NOT_PINNED": "қызметтің өз қолтаңбасын dalel бағдарламасы тексереді",
    "r.NO_TIMESTAMP": "бұл түбіртекте уақыт белгісі жоқ",
    "r.HASH_MISMATCH": "бұл түбіртек берілген файл емес",
    "r.CONSISTENCY_INVALID": "осы түбіртектен кейін журнал қайта жазылған",
  },
};

let lang = localStorage.getItem("dalel-lang");
if (!LANGS.includes(lang)) {
  const nav = (navigator.language || "ru").slice(0, 2);
  lang = LANGS.includes(nav) ? nav : "ru";
}
const t = (k) => T[lang][k] ?? T.en[k] ?? k;
const $ = (id) => document.getElementById(id);
let fromQr = null; // a receipt that came in the page's #r= link
let last = null; // the last result shown, redrawn when the language changes

function applyLang() {
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  }
  if (last) show(last);
}

function pinnedKey() {
  const text = $("pin").value.trim();
  if (!text) return null;
  return parseVerifierKey(text);
}

function showKey() {
  try {
    const key = pinnedKey();
    $("key-text").textContent = key ? key.text : "—";
    $("key-fp").textContent = key ? fingerprint(key) : "—";
    $("key-bad").hidden = true;
  } catch {
    $("key-bad").hidden = false;
  }
}

function line(c) {
  const li = document.createElement("li");
  li.className = `check ${c.status.toLowerCase()}`;
  li.dataset.check = c.check;
  li.dataset.status = c.status;
  if (c.reason) li.dataset.reason = c.reason;
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = t(`status.${c.status}`);
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = t(`c.${c.check}`);
  li.append(badge, name);
  if (c.reason || c.detail) {
    const why = document.createElement("span");
    why.className = "why";
    why.textContent = c.reason ? `${c.reason}: ${t(`r.${c.reason}`)}` : c.detail;
    li.append(why);
    if (c.reason && c.detail) {
      const detail = document.createElement("small");
      detail.textContent = c.detail;
      li.append(detail);
    }
  }
  return li;
}

function show(result) {
  last = result;
  $("result").hidden = false;
  const bottom = $("bottom");
  if (result.unreadable) {
    bottom.className = "bottom failed";
    bottom.dataset.ok = "false";
    bottom.textContent = `${t("unreadable")} ${result.unreadable}`;
    $("checks").replaceChildren();
    return;
  }
  bottom.className = `bottom ${result.ok ? "passed" : "failed"}`;
  bottom.dataset.ok = String(result.ok);
  bottom.textContent = t(result.ok ? "ok" : "bad");
  $("checks").replaceChildren(...result.checks.map(line));
  $("qr-note").hidden = !result.fromQr;
  $("result").scrollIntoView({ block: "start" });
}

async function fetchBytes(url, fresh) {
  // A tile never changes (the browser may keep it); the checkpoint is asked for afresh.
  const res = await fetch(url, fresh ? { cache: "no-store" } : {});
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function latestFrom(base, receipt) {
  // The log's latest checkpoint and a consistency proof to it from the receipt's checkpoint.
  const latestText = await (await fetch(`${base}/log/checkpoint`, { cache: "no-store" })).text();
  const from = parseCheckpoint(receipt.checkpoint).size;
  const to = parseCheckpoint(latestText).size;
  if (from === to || from > to) return { latestText, hashes: [] };
  const res = await fetch(`${base}/log/proof/consistency?from=${from}&to=${to}`);
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return { latestText, hashes: (await res.json()).hashes };
}

async function readReceipt() {
  const file = $("receipt-file").files[0];
  if (file) return loadReceipt(new Uint8Array(await file.arrayBuffer()));
  const text = $("receipt-text").value.trim();
  if (text) return loadReceipt(text);
  if (fromQr) return fromQr;
  return null;
}

async function run() {
  $("busy").hidden = true;
  let receipt;
  try {
    receipt = await readReceipt();
  } catch (e) {
    show({ unreadable: e.message });
    return;
  }
  if (!receipt) {
    show({ unreadable: t("empty") });
    return;
  }
  let key = null;
  try {
    key = pinnedKey();
  } catch {
    key = null;
  }
  const result = verifyReceipt(receipt, key);
  const checks = [...result.checks];
  const photo = $("photo").files[0];
  if (photo && result.item_sha256) {
    $("busy").hidden = false;
    const digest = await sha256OfBlob(photo, (done, size) => {
      $("busy").textContent = `${t("hashing")} ${Math.floor((100 * done) / Math.max(size, 1))}%`;
    });
    $("busy").hidden = true;
    checks.push(photoCheck(result, digest));
  }
  // Served, the page asks its own server; as a file, the log address written into it, or the
  // log's tiles (static files, `dalel log tiles`) when it was written with --tiles-url.
  const tiles = document.body.dataset.tiles;
  const base = document.body.dataset.log || (location.protocol.startsWith("http") ? location.origin : "");
  if ((tiles || base) && result.leaf_index !== null) {
    try {
      const { latestText, hashes, behind } = tiles
        ? await latestFromTiles(receipt, (path) => fetchBytes(`${tiles}/${path}`, path === "checkpoint"))
        : await latestFrom(base, receipt);
      if (behind) {
        // published on a schedule or cached: not a broken log, one not yet published this far
        checks.push({ check: "consistency", status: "SKIPPED", reason: null, detail: t("behind") });
      } else {
        checks.push(consistencyCheck(receipt, latestText, hashes, key));
      }
    } catch {
      checks.push({ check: "consistency", status: "SKIPPED", reason: null, detail: t("offline") });
    }
  }
  const out = report(checks, result.item_sha256, result.leaf_index);
  out.fromQr = receipt === fromQr;
  show(out);
}

async function inflate(b64url) {
  // A QR code's receipt: base64url of raw DEFLATE of the receipt without `entry` and
  // `timestamp` (the entry is the signed line's own copy, so it is put back from there).
  const b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  const text = await new Response(stream).text();
  const receipt = loadReceipt(text);
  if (receipt && typeof receipt.entry_line === "string") {
    try {
      receipt.entry = JSON.parse(receipt.entry_line).entry;
    } catch {
      /* the verifier names it MALFORMED */
    }
  }
  return receipt;
}

let scanning = null;
async function scan() {
  // In-page scanning where the browser has a barcode detector (Chrome on Android); elsewhere
  // the phone's own camera app opens the QR code's link.
  if (scanning) {
    scanning.stop();
    return;
  }
  const video = $("scan-video");
  const media = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  video.srcObject = media;
  video.hidden = false;
  await video.play();
  $("scan").textContent = t("scan.stop");
  let live = true;
  scanning = {
    stop() {
      live = false;
      media.getTracks().forEach((tr) => tr.stop());
      video.hidden = true;
      scanning = null;
      $("scan").textContent = t("scan");
    },
  };
  while (live) {
    const codes = await detector.detect(video).catch(() => []);
    const hit = codes.map((c) => c.rawValue).find((v) => v.includes("#r="));
    if (hit) {
      scanning.stop();
      fromQr = await inflate(hit.slice(hit.indexOf("#r=") + 3));
      await run();
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function start() {
  $("pin").value = document.body.dataset.key || "";
  showKey();
  applyLang();
  $("pin").addEventListener("input", showKey);
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => {
      lang = b.dataset.lang;
      localStorage.setItem("dalel-lang", lang);
      applyLang();
    });
  }
  $("check").addEventListener("click", () => run().catch((e) => show({ unreadable: e.message })));
  $("receipt-file").addEventListener("change", () => {
    fromQr = null;
  });
  // In-page scanning only where the browser reads QR codes itself (Chrome on Android);
  // elsewhere (iPhone, desktop Linux) the camera app opens the QR code's link.
  const formats =
    "BarcodeDetector" in window && navigator.mediaDevices
      ? await BarcodeDetector.getSupportedFormats().catch(() => [])
      : [];
  if (formats.includes("qr_code")) {
    $("scan").hidden = false;
    $("scan").addEventListener("click", () => scan().catch(() => scanning && scanning.stop()));
  }
  const m = /[#&]r=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    try {
      fromQr = await inflate(m[1]);
      await run();
    } catch (e) {
      show({ unreadable: e.message });
    }
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
