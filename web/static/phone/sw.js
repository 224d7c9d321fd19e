// The app shell works offline: served from the cache first, refreshed from the network.
// Nothing under /api/ or /log/ is ever cached: uploads and receipts always go to the server.
const CACHE = "dalel-phone-v3";
const SHELL = [
  "./",
  "index.html",
  "app.js",
  "i18n.js",
  "style.css",
  "manifest.webmanifest",
  "icon-192.png",
  "/static/vendor/tus-js-client/tus.min.js",
  "/static/vendor/noble-hashes/sha2.js",
  "/static/vendor/noble-hashes/_md.js",
  "/static/vendor/noble-hashes/_u64.js",
  "/static/vendor/noble-hashes/utils.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const shell = url.origin === location.origin && (url.pathname.startsWith("/o/") || url.pathname.startsWith("/static/vendor/"));
  if (event.request.method !== "GET" || !shell) return;
  event.respondWith(
    caches.match(event.request, { ignoreSearch: true }).then((cached) => {
      const fresh = fetch(event.request)
        .then((res) => {
          if (res.ok) caches.open(CACHE).then((c) => c.put(event.request, res.clone()));
          return res;
        })
        .catch(() => cached);
      return cached || fresh;
    }),
  );
});
