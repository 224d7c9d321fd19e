// The receipt verifier, in the browser and under node: the same checks, in the same order,
// with the same check names and named reasons as `dalel receipt verify` (evidence/core/
// receipts.py). Nothing here trusts the server: a receipt is checked against a pinned log key.
//
// Checks: format, key, entry-signature (Ed25519 over the entry's exact bytes, cut from the
// signed line), entry-copy, checkpoint-signature (C2SP signed note), inclusion (RFC 9162
// inclusion proof of the line's leaf hash to the checkpoint's root), tsa-root and timestamp
// (the RFC 3161 token's message imprint is the item's SHA-256 and its time is not after the
// record; the TSA's own signature and certificate chain are checked by `dalel receipt verify
// --tsa-root`, not here, which the tsa-root line says). Extra checks: photo (the original file
// hashes to the receipted SHA-256) and consistency (the log's latest checkpoint, signed by the
// same key, extends the receipt's: RFC 9162 consistency proof).
import { sha256, sha512 } from "../vendor/noble-hashes/sha2.js";
import * as ed from "../vendor/noble-ed25519/index.js";

ed.hashes.sha512 = sha512;

export const FORMAT = "dalel-receipt/1";
export const MAX_BYTES = 1 << 20;
export const MAX_DEPTH = 32;
export const MAX_PROOF = 64;
const EM_DASH = "\u2014";
const PREFIX = '{"entry":';
const TOLERANCE_MS = 5 * 60 * 1000; // as tokens.DEFAULT_TOLERANCE
const SHA256_OID = "608648016503040201";
const enc = new TextEncoder();

// --- bytes ----------------------------------------------------------------------------------
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (as Python's b64decode(validate=True)); throws on anything else. */
export function b64decode(text) {
  if (typeof text !== "string" || !B64.test(text)) throw new Error("not base64");
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64encode(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** SHA-256 of a File or Blob, read in 4 MiB slices (a 1 GB video never sits in memory). */
export async function sha256OfBlob(blob, onProgress = () => {}) {
  const h = sha256.create();
  const step = 4 * 1024 * 1024;
  for (let at = 0; at < blob.size; at += step) {
    h.update(new Uint8Array(await blob.slice(at, at + step).arrayBuffer()));
    onProgress(Math.min(at + step, blob.size), blob.size);
  }
  return hex(h.digest());
}

// --- JSON -----------------------------------------------------------------------------------
function depthOver(value, limit) {
  const stack = [[value, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop();
    if (node !== null && typeof node === "object") {
      if (depth > limit) return true;
      for (const c of Array.isArray(node) ? node : Object.values(node)) stack.push([c, depth + 1]);
    }
  }
  return false;
}

/** RFC 8785 canonical JSON (key order by UTF-16 code units, ES number and string forms). */
export function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
}

function sameJson(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

function isIndex(v) {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** The JSON of a receipt file, within the CLI's limits; throws an Error naming the problem. */
export function loadReceipt(text) {
  const size = typeof text === "string" ? enc.encode(text).length : text.length;
  if (size > MAX_BYTES) throw new Error(`larger than ${MAX_BYTES / 1024} KiB, so not a receipt`);
  if (typeof text !== "string") text = new TextDecoder("utf-8", { fatal: true }).decode(text);
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`);
  }
  if (depthOver(value, MAX_DEPTH)) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
  return value;
}

// --- keys and signed notes (C2SP signed-note) ------------------------------------------------
/** A signed-note verifier key ``name+hexid+base64(0x01 || key)``; throws when malformed. */
export function parseVerifierKey(text) {
  if (typeof text !== "string") throw new Error("not a signed-note verifier key");
  const s = text.trim();
  const i = s.indexOf("+");
  const j = i < 0 ? -1 : s.indexOf("+", i + 1);
  if (i < 0 || j < 0) throw new Error("not a signed-note verifier key");
  const name = s.slice(0, i);
  const hexid = s.slice(i + 1, j);
  const blob = b64decode(s.slice(j + 1));
  if (blob.length !== 33 || blob[0] !== 1) throw new Error("verifier key is not an Ed25519 key");
  const raw = blob.slice(1);
  const id = sha256(concat(enc.encode(name + "\n"), Uint8Array.of(1), raw)).slice(0, 4);
  if (hex(id) !== hexid.toLowerCase()) throw new Error("verifier key ID does not match its key");
  return { name, raw, id, idHex: hex(id), text: `${name}+${hex(id)}+${b64encode(blob)}` };
}

/** A key's fingerprint as people compare it: SHA-256 of its raw bytes, in groups of four. */
export function fingerprint(key) {
  return hex(sha256(key.raw)).match(/.{4}/g).join(" ");
}

function edVerify(sig, msg, raw) {
  try {
    return ed.verify(sig, msg, raw, { zip215: false });
  } catch {
    return false;
  }
}

/** Split a signed note into its text and signature lines; throws when malformed. */
export function parseNote(note) {
  if (typeof note !== "string") throw new Error("a note is text");
  const cut = note.indexOf("\n\n");
  if (cut < 0) throw new Error("no blank line between checkpoint body and signatures");
  const body = note.slice(0, cut);
  const sigLines = note.slice(cut + 2).split("\n");
  if (sigLines[sigLines.length - 1] !== "") throw new Error("signed note does not end with a newline");
  const signatures = [];
  for (const line of sigLines.slice(0, -1)) {
    const parts = line.split(" ");
    if (parts.length !== 3 || parts[0] !== EM_DASH) throw new Error("malformed signature line");
    const blob = b64decode(parts[2]);
    if (blob.length < 5) throw new Error("signature too short");
    signatures.push({ name: parts[1], id: blob.slice(0, 4), sig: blob.slice(4) });
  }
  if (!signatures.length) throw new Error("checkpoint has no signature");
  return { text: body + "\n", signatures };
}

/** True when one of the note's signature lines is ``key``'s valid signature of its text. */
export function noteSignedBy(note, key) {
  const msg = enc.encode(note.text);
  return note.signatures.some(
    (s) => s.name === key.name && equal(s.id, key.id) && edVerify(s.sig, msg, key.raw),
  );
}

/** A signed note checked against a verifier key string (the Go sumdb test vector uses it). */
export function verifyNote(noteText, verifierKey) {
  try {
    return noteSignedBy(parseNote(noteText), parseVerifierKey(verifierKey));
  } catch {
    return false;
  }
}

/** A C2SP checkpoint: origin, size and root of a signed note's text; throws when malformed. */
export function parseCheckpoint(text) {
  const note = parseNote(text);
  const lines = note.text.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("checkpoint body has fewer than three lines");
  const [origin, sizeText, rootText] = lines;
  if (!origin) throw new Error("empty origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error("tree size is not a decimal number");
  let root;
  try {
    root = b64decode(rootText);
  } catch {
    throw new Error("root hash is not base64");
  }
  if (root.length !== 32) throw new Error("root hash is not 32 bytes");
  if (lines.length !== 3) throw new Error("checkpoint has extension lines this version does not read");
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new Error("the checkpoint's tree size is too large");
  return { origin, size, root, note };
}

// --- RFC 9162 Merkle proofs -----------------------------------------------------------------
export function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

function nodeHash(l, r) {
  return sha256(concat(Uint8Array.of(1), l, r));
}

// Integer halving of numbers up to 2**53 (no 32-bit bit operators).
const half = (n) => Math.floor(n / 2);
const odd = (n) => n % 2 === 1;

function inclusionProofLength(index, size) {
  // How many hashes PATH(index, D[0:size]) holds (RFC 9162 §2.1.3.1), without hashing.
  let length = 0;
  let lo = 0;
  let hi = size;
  let m = index;
  while (hi - lo > 1) {
    let k = 1;
    while (k * 2 < hi - lo) k *= 2; // the largest power of two below hi - lo
    if (m < k) hi = lo + k;
    else {
      lo += k;
      m -= k;
    }
    length += 1;
  }
  return length;
}

function popcount(n) {
  let c = 0;
  while (n > 0) {
    c += n % 2;
    n = half(n);
  }
  return c;
}

export function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index >= 0 && index < size) || leaf.length !== 32 || root.length !== 32) return false;
  if (proof.some((p) => p.length !== 32)) return false;
  if (proof.length !== inclusionProofLength(index, size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(r, root);
}

export function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldRoot.length !== 32 || newRoot.length !== 32) return false;
  if (proof.some((p) => p.length !== 32)) return false;
  if (oldSize < 1 || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && equal(oldRoot, newRoot);
  const path = [...proof];
  if (popcount(oldSize) === 1) path.unshift(oldRoot);
  if (!path.length) return false;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) {
        while (!odd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(fr, oldRoot) && equal(sr, newRoot);
}

// --- custody log lines ----------------------------------------------------------------------
const PLAIN = /^[A-Za-z0-9+/=]*$/;

function sigSuffix(sig) {
  const keys = Object.keys(sig).sort().join(",");
  if (keys === "alg,key,value" && PLAIN.test(sig.key) && PLAIN.test(sig.value)) {
    return `,"sig":{"alg":"ed25519","key":"${sig.key}","value":"${sig.value}"}}`;
  }
  return ',"sig":' + canonical(sig) + "}";
}

/** A custody log line: its entry, the entry's exact signed bytes, key id and signature. */
export function parseLine(line) {
  let obj;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new Error("a log line holds exactly 'entry' and 'sig'");
  }
  const keys = Object.keys(obj).sort().join(",");
  if (keys !== "entry,sig") throw new Error("a log line holds exactly 'entry' and 'sig'");
  const { entry, sig } = obj;
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (!isObj(entry) || !isObj(sig)) throw new Error("'entry' and 'sig' must be objects");
  if (sig.alg !== "ed25519" || typeof sig.key !== "string") {
    throw new Error("unknown signature algorithm or key");
  }
  if (!Number.isInteger(entry.seq) || typeof entry.prev !== "string") {
    throw new Error("entry lacks 'seq' or 'prev'");
  }
  if (typeof sig.value !== "string") throw new Error("signature value is not text");
  const bytes = enc.encode(line);
  const prefix = enc.encode(PREFIX);
  const suffix = enc.encode(sigSuffix(sig));
  const starts = equal(bytes.subarray(0, prefix.length), prefix);
  const ends =
    bytes.length >= prefix.length + suffix.length &&
    equal(bytes.subarray(bytes.length - suffix.length), suffix);
  if (!starts || !ends) throw new Error("line is not in canonical form");
  let signature;
  try {
    signature = b64decode(sig.value);
  } catch {
    throw new Error("signature is not base64");
  }
  return {
    bytes,
    entry,
    entryBytes: bytes.subarray(prefix.length, bytes.length - suffix.length),
    keyId: sig.key,
    signature,
  };
}

// --- RFC 3161 tokens: just enough DER to read the TSTInfo ----------------------------------
function derRead(buf, at) {
  if (at + 2 > buf.length) throw new Error("DER cut short");
  const tag = buf[at];
  let len = buf[at + 1];
  let head = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("DER length not supported");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i];
    head += n;
  }
  const start = at + head;
  if (start + len > buf.length) throw new Error("DER cut short");
  return { tag, start, end: start + len, next: start + len };
}

function derChildren(buf, node) {
  const out = [];
  for (let at = node.start; at < node.end; ) {
    const child = derRead(buf, at);
    out.push(child);
    at = child.next;
  }
  return out;
}

function expect(node, tag, what) {
  if (!node || node.tag !== tag) throw new Error(`the token's ${what} is not where RFC 3161 puts it`);
  return node;
}

/** The TSTInfo of a DER timestamp token: hash algorithm OID, imprint, genTime, accuracy. */
export function readToken(der) {
  const ci = expect(derRead(der, 0), 0x30, "ContentInfo");
  const [, content] = derChildren(der, ci);
  const sd = expect(derChildren(der, expect(content, 0xa0, "content"))[0], 0x30, "SignedData");
  const encap = expect(derChildren(der, sd)[2], 0x30, "encapContentInfo");
  const [eType, eWrap] = derChildren(der, encap);
  if (hex(der.subarray(eType.start, eType.end)) !== "2a864886f70d0109100104") {
    throw new Error("the token does not hold a TSTInfo");
  }
  const octets = expect(derChildren(der, expect(eWrap, 0xa0, "eContent"))[0], 0x04, "eContent");
  const tst = der.subarray(octets.start, octets.end);
  const parts = derChildren(tst, expect(derRead(tst, 0), 0x30, "TSTInfo"));
  const imprint = derChildren(tst, expect(parts[2], 0x30, "messageImprint"));
  const alg = derChildren(tst, expect(imprint[0], 0x30, "hashAlgorithm"))[0];
  const hashed = expect(imprint[1], 0x04, "hashedMessage");
  const timeNode = expect(parts[4], 0x18, "genTime");
  const genText = new TextDecoder().decode(tst.subarray(timeNode.start, timeNode.end));
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?Z$/.exec(genText);
  if (!m) throw new Error("the token's time is not a GeneralizedTime");
  const ms = m[7] ? Number((m[7] + "000").slice(0, 3)) : 0;
  const genTime = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
  let accuracy = 0;
  const acc = parts[5];
  if (acc && acc.tag === 0x30) {
    for (const a of derChildren(tst, acc)) {
      let v = 0;
      for (let i = a.start; i < a.end; i++) v = v * 256 + tst[i];
      if (a.tag === 0x02) accuracy += v * 1000;
      else if (a.tag === 0x80) accuracy += v;
      else if (a.tag === 0x81) accuracy += v / 1000;
    }
  }
  return {
    hashOid: hex(tst.subarray(alg.start, alg.end)),
    imprint: tst.slice(hashed.start, hashed.end),
    genTime,
    accuracy,
  };
}

function parseTime(text) {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) throw new Error(`Invalid isoformat string: '${text}'`);
  const frac = m[2] ? "." + (m[2] + "000").slice(0, 3) : "";
  const t = Date.parse(m[1] + frac + (m[3] === "Z" ? "Z" : m[3]));
  if (Number.isNaN(t)) throw new Error(`Invalid isoformat string: '${text}'`);
  return t;
}

function timestampChecks(stamp, item) {
  if (!stamp) {
    return [check("timestamp", "WARNING", "NO_TIMESTAMP", "the receipt carries no timestamp token")];
  }
  let token;
  let recorded;
  let digest;
  try {
    if (typeof stamp !== "object") throw new Error("not an object");
    if (!("token" in stamp)) throw new Error("'token'");
    token = b64decode(stamp.token);
    if (!("recorded_at" in stamp)) throw new Error("'recorded_at'");
    recorded = parseTime(String(stamp.recorded_at));
    if (!/^([0-9a-fA-F]{2})*$/.test(item || "")) throw new Error("the item hash is not hex");
    digest = item || "";
  } catch (e) {
    return [
      check("timestamp", "FAILED", "TIMESTAMP_INVALID", `the timestamp section cannot be read: ${e.message}`),
    ];
  }
  const out = [
    check(
      "tsa-root",
      "WARNING",
      "TSA_ROOT_NOT_PINNED",
      "this page checks the token's imprint and time, not the TSA's signature and certificate; " +
        "check those with dalel receipt verify --tsa-root",
    ),
  ];
  const subs = [];
  let info = null;
  try {
    info = readToken(token);
  } catch (e) {
    subs.push("MALFORMED");
  }
  if (info) {
    if (info.hashOid !== SHA256_OID) subs.push("UNSUPPORTED_HASH");
    else if (hex(info.imprint) !== digest.toLowerCase()) subs.push("IMPRINT_MISMATCH");
    if (info.genTime - info.accuracy > recorded + TOLERANCE_MS) subs.push("TIME_AFTER_RECORD");
  }
  if (subs.length) {
    out.push(check("timestamp", "FAILED", "TIMESTAMP_INVALID", subs.join(", "), subs));
  } else {
    const when = new Date(info.genTime).toISOString().replace(".000Z", "+00:00");
    out.push(check("timestamp", "PASSED", null, `RFC 3161 time ${when} from ${stamp.source}`));
  }
  return out;
}

// --- the receipt ----------------------------------------------------------------------------
function check(id, status, reason = null, detail = "", subReasons = []) {
  return { check: id, status, reason, detail, subject: "", sub_reasons: subReasons };
}

const BAD = new Set(["FAILED", "INDETERMINATE"]);

/** A report as the CLI prints it with --json: ok, bottom_line, item, leaf index, checks. */
export function report(checks, item = null, index = null) {
  const ok = checks.length > 0 && checks.every((c) => !BAD.has(c.status));
  const bottom = ok ? "PASSED" : checks.some((c) => c.status === "FAILED") ? "FAILED" : "INDETERMINATE";
  return { ok, bottom_line: bottom, item_sha256: item, leaf_index: index, checks };
}

/**
 * Check a receipt (parsed JSON) offline. ``pinnedKey``: the log's verifier key string (or a
 * parsed key) to trust; without it the receipt's own key is used, with a warning. Never
 * throws on bad content: every problem is a check.
 */
export function verifyReceipt(receipt, pinnedKey = null) {
  const checks = [];
  const fail = (id, reason, detail) => {
    checks.push(check(id, "FAILED", reason, detail));
    return report(checks);
  };
  if (depthOver(receipt, MAX_DEPTH)) return fail("format", "MALFORMED", `nested deeper than ${MAX_DEPTH} levels`);
  if (receipt === null || typeof receipt !== "object" || Array.isArray(receipt) || receipt.format !== FORMAT) {
    return fail("format", "MALFORMED", `not a ${FORMAT} receipt`);
  }
  let line, index, proof, head, embedded, record;
  try {
    if (typeof receipt.entry_line !== "string") throw new Error("entry_line is not text");
    line = receipt.entry_line;
    index = receipt.leaf_index;
    if (!isIndex(index)) throw new Error("leaf_index is not an integer from 0 to 2**53-1");
    if (!Array.isArray(receipt.inclusion_proof)) throw new Error("inclusion_proof is not a list");
    if (receipt.inclusion_proof.length > MAX_PROOF) {
      throw new Error(`an inclusion proof longer than ${MAX_PROOF} hashes`);
    }
    proof = receipt.inclusion_proof.map(b64decode);
    head = parseCheckpoint(receipt.checkpoint);
    if (!receipt.log || typeof receipt.log !== "object") throw new Error("no log section");
    embedded = parseVerifierKey(receipt.log.key);
    record = parseLine(line);
  } catch (e) {
    return fail("format", "MALFORMED", `receipt cannot be read: ${e.message}`);
  }
  const item =
    record.entry.item && typeof record.entry.item === "object" && typeof record.entry.item.sha256 === "string"
      ? record.entry.item.sha256
      : null;

  let key;
  const pinned = typeof pinnedKey === "string" ? parseVerifierKey(pinnedKey) : pinnedKey;
  if (!pinned) {
    key = embedded;
    checks.push(
      check(
        "key",
        "WARNING",
        "KEY_NOT_PINNED",
        "the log key was taken from the receipt itself; pin it to know the receipt comes from the log you trust",
      ),
    );
  } else if (pinned.name !== embedded.name || !equal(pinned.raw, embedded.raw)) {
    key = pinned;
    checks.push(check("key", "FAILED", "KEY_MISMATCH", "the receipt names another log key than the pinned one"));
  } else {
    key = pinned;
    checks.push(check("key", "PASSED"));
  }

  if (record.keyId === key.idHex && edVerify(record.signature, record.entryBytes, key.raw)) {
    checks.push(check("entry-signature", "PASSED"));
  } else {
    checks.push(
      check("entry-signature", "FAILED", "SIGNATURE_INVALID", "the custody entry is not signed by the log key"),
    );
  }

  if (sameJson(receipt.entry, record.entry) && record.entry.seq === index) {
    checks.push(check("entry-copy", "PASSED"));
  } else {
    checks.push(
      check(
        "entry-copy",
        "FAILED",
        "ENTRY_MISMATCH",
        "the readable copy of the entry or its index differs from the signed entry",
      ),
    );
  }

  if (noteSignedBy(head.note, key)) {
    checks.push(check("checkpoint-signature", "PASSED"));
  } else {
    checks.push(
      check(
        "checkpoint-signature",
        "FAILED",
        "CHECKPOINT_SIGNATURE_INVALID",
        "the checkpoint is not signed by the log key",
      ),
    );
  }

  if (verifyInclusion(index, head.size, leafHash(record.bytes), proof, head.root)) {
    checks.push(check("inclusion", "PASSED"));
  } else {
    checks.push(
      check(
        "inclusion",
        "FAILED",
        "PROOF_INVALID",
        "the inclusion proof does not lead from the entry to the checkpoint's root",
      ),
    );
  }
  checks.push(...timestampChecks(receipt.timestamp, item));
  return report(checks, item, index);
}

/** The photo check: the original file's SHA-256 (hex) is the receipted item's. */
export function photoCheck(result, sha256hex) {
  if (result.item_sha256 && result.item_sha256.toLowerCase() === sha256hex.toLowerCase()) {
    return check("photo", "PASSED", null, `SHA-256 ${sha256hex}`);
  }
  return check(
    "photo",
    "FAILED",
    "HASH_MISMATCH",
    `the file hashes to ${sha256hex}; the receipt names ${result.item_sha256 || "no item"}`,
  );
}

/**
 * The consistency check: ``latestText`` (the log's latest signed checkpoint) is signed by the
 * key and ``proof`` (base64 hashes) shows its tree extends the receipt's checkpoint.
 */
export function consistencyCheck(receipt, latestText, proof, pinnedKey = null) {
  try {
    const key =
      typeof pinnedKey === "string" ? parseVerifierKey(pinnedKey) : pinnedKey || parseVerifierKey(receipt.log.key);
    const old = parseCheckpoint(receipt.checkpoint);
    const latest = parseCheckpoint(latestText);
    const hashes = proof.map(b64decode);
    if (
      noteSignedBy(latest.note, key) &&
      latest.origin === old.origin &&
      old.size <= latest.size &&
      verifyConsistency(old.size, latest.size, old.root, latest.root, hashes)
    ) {
      return check(
        "consistency",
        "PASSED",
        null,
        `the log's checkpoint of ${latest.size} entries extends the receipt's of ${old.size}`,
      );
    }
  } catch (e) {
    return check("consistency", "FAILED", "CONSISTENCY_INVALID", `cannot be read: ${e.message}`);
  }
  return check(
    "consistency",
    "FAILED",
    "CONSISTENCY_INVALID",
    "the log's latest checkpoint does not extend the receipt's",
  );
}

// --- the log as C2SP tlog-tiles (static files a CDN serves: `dalel log tiles`) ------------------
const TILE_WIDTH = 256;

function pow2AtLeast(n) {
  let k = 1;
  while (k < n) k *= 2;
  return k;
}

function largestPow2Below(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** ``N`` as tlog-tiles paths write it: 5 -> "005", 1234067 -> "x001/x234/067". */
export function tileIndexPath(n) {
  const groups = [];
  do {
    groups.unshift(String(n % 1000).padStart(3, "0"));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

/** The path of a tile: "tile/L/N" when full, "tile/L/N.p/W" when it holds W < 256 hashes. */
export function tilePath(level, index, width) {
  const base = `tile/${level}/${tileIndexPath(index)}`;
  return width === TILE_WIDTH ? base : `${base}.p/${width}`;
}

/**
 * Hashes of a tree of ``size`` leaves read from its tiles through ``fetchBytes(path)`` (a
 * promise of a Uint8Array). Nothing read is trusted: a proof made from them is verified against
 * signed roots like any other.
 */
export class TileHashes {
  constructor(fetchBytes, size) {
    this.fetchBytes = fetchBytes;
    this.size = size;
    this.tiles = new Map();
  }

  async tile(level, index) {
    const key = `${level}/${index}`;
    if (!this.tiles.has(key)) {
      const count = Math.floor(this.size / 2 ** (8 * level));
      const width = Math.min(TILE_WIDTH, count - index * TILE_WIDTH);
      if (width <= 0) throw new Error(`no tile ${key} in a tree of ${this.size}`);
      const path = tilePath(level, index, width);
      const data = await this.fetchBytes(path);
      if (data.length !== width * 32) throw new Error(`${path} holds ${data.length} bytes, not ${width * 32}`);
      this.tiles.set(key, data);
    }
    return this.tiles.get(key);
  }

  /** The full subtree of 2**height leaves starting at leaf index * 2**height. */
  async node(height, index) {
    const level = Math.floor(height / 8);
    const span = 2 ** (height % 8);
    const first = index * span;
    const tile = await this.tile(level, Math.floor(first / TILE_WIDTH));
    const off = first % TILE_WIDTH;
    let hashes = [];
    for (let i = off; i < off + span; i++) hashes.push(tile.slice(i * 32, (i + 1) * 32));
    while (hashes.length > 1) {
      const up = [];
      for (let i = 0; i < hashes.length; i += 2) up.push(nodeHash(hashes[i], hashes[i + 1]));
      hashes = up;
    }
    return hashes[0];
  }

  /** MTH of the leaves start .. end - 1 (RFC 9162 §2.1.1). */
  async subtree(start, end) {
    const n = end - start;
    if (n <= 0 || end > this.size) throw new Error(`no leaves ${start}..${end} in a tree of ${this.size}`);
    if (pow2AtLeast(n) === n && start % n === 0) {
      let height = 0;
      while (2 ** height < n) height += 1;
      return this.node(height, start / n);
    }
    const k = largestPow2Below(n);
    return nodeHash(await this.subtree(start, start + k), await this.subtree(start + k, end));
  }

  /** RFC 9162 §2.1.4.1: PROOF(m, D[0:n]), from the tiles alone. */
  async consistencyProof(m, n) {
    const sub = async (count, start, end, whole) => {
      if (count === end - start) return whole ? [] : [await this.subtree(start, end)];
      const k = largestPow2Below(end - start);
      if (count <= k) return [...(await sub(count, start, start + k, whole)), await this.subtree(start + k, end)];
      return [...(await sub(count - k, start + k, end, false)), await this.subtree(start, start + k)];
    };
    if (!(m >= 1 && m <= n && n <= this.size)) throw new Error(`no proof from ${m} to ${n}`);
    return m === n ? [] : sub(m, 0, n, true);
  }
}

/**
 * The log's latest checkpoint as published in tiles (``fetchBytes("checkpoint")``) and a
 * consistency proof to it from the receipt's checkpoint, made from the tiles alone: what
 * :func:`consistencyCheck` then verifies, exactly as a server's proof.
 */
export async function latestFromTiles(receipt, fetchBytes) {
  const latestText = new TextDecoder("utf-8", { fatal: true }).decode(await fetchBytes("checkpoint"));
  const from = parseCheckpoint(receipt.checkpoint).size;
  const to = parseCheckpoint(latestText).size;
  if (from > to) return { latestText, hashes: [], behind: true }; // published behind the receipt
  if (from === to) return { latestText, hashes: [] };
  const proof = await new TileHashes(fetchBytes, to).consistencyProof(from, to);
  return { latestText, hashes: proof.map(b64encode) };
}
