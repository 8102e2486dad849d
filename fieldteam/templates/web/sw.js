/* fieldteam service worker, app shell {{ version }}.

   - The app shell (CSS, JS, icons) is cached at install and served from the cache first.
   - Pages are fetched from the network first (fresh counts when there is signal) and kept; without
     a connection the kept copy is shown, and a resident or household page never opened before is
     drawn by the page's JavaScript from the cached roster (the "shell" pages).
   - The roster (the member's villages' people, masked identifiers only) is network-first too.
   - Nothing is written here: the pages keep their unsent work in IndexedDB and send it
     themselves through the sync endpoint. */
"use strict";
const VERSION = "{{ version }}";
const SHELL = "ft-shell-" + VERSION;
const PAGES = "ft-pages";
const DATA = "ft-data";
const STATIC_ASSETS = {{ static_assets|safe }};
const PAGE_URLS = {{ pages|safe }};
const ROSTER = {{ roster_url|safe }};
const OFFLINE = {{ offline_url|safe }};
const RESIDENT_SHELL = {{ resident_shell|safe }};
const HOUSEHOLD_SHELL = {{ household_shell|safe }};
const UNCACHED = {{ uncached|safe }};
const STATIC_PREFIX = {{ static_prefix|safe }} + "web/";
const NETWORK_TIMEOUT_MS = 8000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    await (await caches.open(SHELL)).addAll(STATIC_ASSETS);
    const pages = await caches.open(PAGES);
    const data = await caches.open(DATA);
    await Promise.all(PAGE_URLS.concat([ROSTER]).map(async (url) => {
      try {
        const response = await fetch(url, {credentials: "same-origin", cache: "no-cache"});
        if (response.ok && !response.redirected) await (url === ROSTER ? data : pages).put(url, response);
      } catch (e) { /* kept for the next visit */ }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("ft-shell-") && key !== SHELL) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

function keep(cacheName, key, response) {
  if (response.ok && !response.redirected && response.type === "basic") {
    const copy = response.clone();
    caches.open(cacheName).then((cache) => cache.put(key, copy));
  }
  return response;
}

async function staticFirst(request) {
  const hit = (await caches.match(request)) || (await caches.match(request, {ignoreSearch: true}));
  if (hit) return hit;
  return keep(SHELL, request, await fetch(request));
}

async function networkFirst(request, cacheName, fallback) {
  const network = fetch(request).then((r) => keep(cacheName, request, r));
  try {
    return await Promise.race([network, new Promise((_, reject) => setTimeout(() => reject(new Error("slow")), NETWORK_TIMEOUT_MS))]);
  } catch (e) {
    const cached = await caches.match(request, {ignoreVary: true});
    if (cached) return cached;
    const other = fallback ? await fallback() : null;
    if (other) return other;
    return network;  // still waiting for a slow network beats an error page
  }
}

function shellFor(path) {
  if (/^\/residents\/\d+\/$/.test(path)) return caches.match(RESIDENT_SHELL, {ignoreVary: true});
  if (/^\/households\/\d+\/$/.test(path)) return caches.match(HOUSEHOLD_SHELL, {ignoreVary: true});
  return Promise.resolve(undefined);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (UNCACHED.some((prefix) => url.pathname.startsWith(prefix))) return;
  if (url.pathname.startsWith(STATIC_PREFIX)) {
    event.respondWith(staticFirst(request));
  } else if (url.pathname === ROSTER) {
    event.respondWith(networkFirst(request, DATA));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, PAGES, async () =>
      (await shellFor(url.pathname)) ||
      (await caches.match(url.pathname, {ignoreVary: true, ignoreSearch: true})) ||
      (await caches.match(OFFLINE, {ignoreVary: true}))));
  }
});
