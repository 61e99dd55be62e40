// Service worker: the app shell is cached at install, so after the first visit the wallet opens and shows
// QR codes with no network. App files: cache first (the build stamps VERSION, so a new build replaces
// them); trust.json: network first, cache when offline. Calls to issuers and verifiers are not touched.
const VERSION = '__VERSION__'
const SHELL = __FILES__
const CACHE = `civicpass-wallet-${VERSION}`

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('civicpass-wallet-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()))
})

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return
  if (url.pathname.endsWith('/trust.json')) {
    event.respondWith(fetch(event.request).then((resp) => {
      const copy = resp.clone()
      if (resp.ok) caches.open(CACHE).then((c) => c.put(event.request, copy))
      return resp
    }).catch(() => caches.match(event.request)))
    return
  }
  event.respondWith(caches.match(event.request, { ignoreSearch: true }).then((hit) => hit ||
    fetch(event.request).catch(() => caches.match('./index.html'))))
})
