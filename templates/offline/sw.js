// TraceQR offline verifier: service worker, served at /inspect/offline/sw.js.
// The configuration line is written by traceqr/web/offline.py; the rest is static.
var CONFIG = {{ worker|tojson }};

// Page, scripts, styles and manifests: one cache per version, answered cache first.
// The key set: its own cache that outlives versions, answered network first.
var PREFIX = "traceqr-offline-";
var FILES_CACHE = PREFIX + CONFIG.version;
var KEYS_CACHE = PREFIX + "keys";
var KEYS_TIMEOUT_MS = 6000;
var FETCHED_AT = "X-TraceQR-Fetched-At";
var SOURCE = "X-TraceQR-Source";

function sameOriginPath(url) {
  return url.pathname + url.search;
}

var PRECACHED = {};
CONFIG.pages.concat(CONFIG.assets).forEach(function (path) {
  PRECACHED[path] = true;
});

// A key set worth keeping: JSON with a "keys" array (not a captive portal's login page).
function looksLikeKeySet(response) {
  if (!response || !response.ok) return Promise.resolve(null);
  return response.text().then(function (body) {
    try {
      var document = JSON.parse(body);
      if (!document || !Array.isArray(document.keys)) return null;
    } catch (e) {
      return null;
    }
    return body;
  });
}

function keySetResponse(body, fetchedAt, source) {
  var headers = new Headers({ "Content-Type": "application/jwk-set+json" });
  headers.set(FETCHED_AT, fetchedAt);
  headers.set(SOURCE, source);
  return new Response(body, { status: 200, headers: headers });
}

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () {
      reject(new Error("timed out"));
    }, ms);
    promise.then(
      function (value) {
        clearTimeout(timer);
        resolve(value);
      },
      function (error) {
        clearTimeout(timer);
        reject(error);
      }
    );
  });
}

// Fetch the key set from the network and keep it, stamped with the time it arrived.
function refreshKeys() {
  return withTimeout(fetch(CONFIG.jwks, { cache: "no-cache", credentials: "omit" }), KEYS_TIMEOUT_MS)
    .then(looksLikeKeySet)
    .then(function (body) {
      if (body === null) throw new Error("not a key set");
      var fetchedAt = new Date().toISOString();
      return caches.open(KEYS_CACHE).then(function (cache) {
        return cache.put(CONFIG.jwks, keySetResponse(body, fetchedAt, "cache")).then(function () {
          return keySetResponse(body, fetchedAt, "network");
        });
      });
    });
}

function cachedKeys() {
  return caches.open(KEYS_CACHE).then(function (cache) {
    return cache.match(CONFIG.jwks);
  });
}

function keysNetworkFirst() {
  return refreshKeys().catch(function () {
    return cachedKeys().then(function (cached) {
      return cached || new Response("{\"keys\": []}", {
        status: 503,
        headers: { "Content-Type": "application/json", "X-TraceQR-Source": "none" },
      });
    });
  });
}

function precacheFiles() {
  return caches.open(FILES_CACHE).then(function (cache) {
    var paths = CONFIG.pages.concat(CONFIG.assets);
    // "no-cache": revalidate with the server, never take an older copy from the HTTP cache.
    return cache.addAll(
      paths.map(function (path) {
        return new Request(path, { cache: "no-cache", credentials: "same-origin" });
      })
    );
  });
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    Promise.all([precacheFiles(), refreshKeys()]).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (names) {
        return Promise.all(
          names
            .filter(function (name) {
              return name.indexOf(PREFIX) === 0 && name !== FILES_CACHE && name !== KEYS_CACHE;
            })
            .map(function (name) {
              return caches.delete(name);
            })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

function fromCache(key, options) {
  return caches.open(FILES_CACHE).then(function (cache) {
    return cache.match(key, options);
  });
}

// The page: from the cache at once, refreshed in the background for the next visit.
function pageResponse(event, url) {
  var key = sameOriginPath(url);
  var refresh = fetch(event.request)
    .then(function (response) {
      if (response.ok && response.type === "basic" && !response.redirected) {
        var copy = response.clone();
        return caches.open(FILES_CACHE).then(function (cache) {
          return cache.put(key, copy).then(function () {
            return response;
          });
        });
      }
      return response;
    });
  event.waitUntil(refresh.catch(function () {}));
  return fromCache(key, { ignoreVary: true })
    .then(function (cached) {
      return cached || fromCache(CONFIG.scope, { ignoreVary: true, ignoreSearch: true });
    })
    .then(function (cached) {
      return cached || refresh;
    });
}

function cacheFirst(request, url) {
  return fromCache(sameOriginPath(url), { ignoreVary: true }).then(function (cached) {
    return cached || fetch(request);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === CONFIG.jwks) {
    event.respondWith(keysNetworkFirst());
  } else if (request.mode === "navigate" && url.pathname === CONFIG.scope) {
    event.respondWith(pageResponse(event, url));
  } else if (PRECACHED[sameOriginPath(url)]) {
    event.respondWith(cacheFirst(request, url));
  }
});
