// TraceQR offline verifier: the page. Registers the service worker, loads the key set
// (through the worker: network first, the saved copy offline), reads QR codes from the
// camera or a photo with jsQR, and shows what TraceQROffline.verifyStamp finds.
// Every sentence shown comes translated from the page's data-* attributes.
(function () {
  "use strict";
  var root = document.getElementById("offline");
  if (!root || !window.TraceQROffline) return;
  var V = window.TraceQROffline;
  var texts = document.getElementById("offline-texts").dataset;
  var lang = root.dataset.lang || document.documentElement.lang || "vi";
  var jwksUrl = root.dataset.jwksUrl;
  var publicUrl = root.dataset.publicUrl;
  var staleAfterDays = parseInt(root.dataset.staleAfterDays || "7", 10);
  var STORE = "traceqr-offline-jwks";
  var ROOT_STORE = "traceqr-offline-root";
  var keySet = { keys: [], rejected: [], fetchedAt: null, source: null };

  function $(id) {
    return document.getElementById(id);
  }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function siteHost() {
    try {
      return new URL(publicUrl.toLowerCase()).host;
    } catch (e) {
      return window.location.host;
    }
  }

  // ---- time -----------------------------------------------------------------------------

  function formatTime(date) {
    try {
      return new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" }).format(date);
    } catch (e) {
      return date.toLocaleString();
    }
  }

  // Times a certificate states (a verification, a withdrawal, a compromise) are shown in
  // Vietnam's time, as the online pages show them: UTC+7 all year, no daylight saving.
  var VIETNAM_OFFSET_MS = 7 * 3600 * 1000;

  function vietnamParts(date) {
    var shifted = new Date(date.getTime() + VIETNAM_OFFSET_MS);
    var pad = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return {
      day: pad(shifted.getUTCDate()),
      month: pad(shifted.getUTCMonth() + 1),
      year: String(shifted.getUTCFullYear()),
      hour: pad(shifted.getUTCHours()),
      minute: pad(shifted.getUTCMinutes()),
    };
  }

  // An ISO 8601 text from the key file as a date (withTime: and time of day) in Vietnam's
  // time: dd/mm/yyyy in Vietnamese, the language's own way otherwise. A text that is no
  // date is shown as it is.
  function formatCertified(text, withTime) {
    var date = new Date(text);
    if (typeof text !== "string" || isNaN(date.getTime())) return String(text);
    if (lang === "vi") {
      var p = vietnamParts(date);
      var day = p.day + "/" + p.month + "/" + p.year;
      return withTime ? p.hour + ":" + p.minute + " " + day : day;
    }
    try {
      var options = withTime
        ? { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Ho_Chi_Minh" }
        : { dateStyle: "long", timeZone: "Asia/Ho_Chi_Minh" };
      return new Intl.DateTimeFormat(lang, options).format(date);
    } catch (e) {
      var q = vietnamParts(date);
      return q.year + "-" + q.month + "-" + q.day + (withTime ? " " + q.hour + ":" + q.minute : "") + " (UTC+7)";
    }
  }

  function formatAgo(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var steps = [
      ["second", 60],
      ["minute", 60],
      ["hour", 24],
      ["day", 365],
      ["year", Infinity],
    ];
    var value = seconds;
    for (var i = 0; i < steps.length; i++) {
      if (Math.abs(value) < steps[i][1]) {
        try {
          return new Intl.RelativeTimeFormat(lang, { numeric: "auto" }).format(value, steps[i][0]);
        } catch (e) {
          return String(value) + " " + steps[i][0];
        }
      }
      value = Math.round(value / steps[i][1]);
    }
    return "";
  }

  // ---- the key set ----------------------------------------------------------------------

  function saveLocally(document, fetchedAt) {
    try {
      window.localStorage.setItem(STORE, JSON.stringify({ document: document, fetchedAt: fetchedAt }));
    } catch (e) {
      // private browsing or full storage: the service worker's copy still counts
    }
  }

  function savedLocally() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(STORE) || "null");
      if (saved && saved.document && Array.isArray(saved.document.keys)) {
        return { document: saved.document, fetchedAt: saved.fetchedAt, source: "cache" };
      }
    } catch (e) {
      // nothing usable saved
    }
    return null;
  }

  function fetchKeys() {
    return fetch(jwksUrl, { cache: "no-cache", credentials: "omit" }).then(function (response) {
      if (!response.ok) throw new Error("key set: HTTP " + response.status);
      var fetchedAt = response.headers.get("X-TraceQR-Fetched-At") || new Date().toISOString();
      var source = response.headers.get("X-TraceQR-Source") || "network";
      return response.json().then(function (document) {
        if (!document || !Array.isArray(document.keys)) throw new Error("not a key set");
        var previous = savedLocally();
        if (!previous || !previous.fetchedAt || previous.fetchedAt <= fetchedAt) saveLocally(document, fetchedAt);
        return { document: document, fetchedAt: fetchedAt, source: source };
      });
    });
  }

  function loadKeys() {
    return fetchKeys()
      .catch(function () {
        return savedLocally();
      })
      .then(useKeys);
  }

  // ---- the operator's root: pinned on this device the first time ------------------------
  // A key set is used only through the root: each business key needs a certificate from
  // it. The first key set this device sees brings the root along (traceqr_root); it is
  // kept, and later key sets must be certified by that same root (docs/keys.md).

  function pinnedRoot() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(ROOT_STORE) || "null");
      if (saved && saved.document && V.parseRoots(saved.document).length) return saved;
    } catch (e) {
      // nothing usable saved
    }
    return null;
  }

  function pinRoot(document) {
    var saved = { document: document, pinnedAt: new Date().toISOString() };
    try {
      window.localStorage.setItem(ROOT_STORE, JSON.stringify(saved));
    } catch (e) {
      // not saved: the root is pinned again from the next key set
    }
    return saved;
  }

  function rootsFor(document) {
    var pinned = pinnedRoot();
    var carried = V.embeddedRoots(document);
    if (!pinned) {
      if (!carried.length) return { roots: [], pinned: null, changed: false };
      pinned = pinRoot(document.traceqr_root);
    }
    var roots = V.parseRoots(pinned.document);
    var changed =
      carried.length > 0 &&
      !carried.some(function (c) {
        return roots.some(function (r) {
          return r.x === c.x;
        });
      });
    return { roots: roots, pinned: pinned, changed: changed };
  }

  function showRoot(trust) {
    var line = $("offline-root");
    line.textContent = "";
    root.dataset.rootChanged = trust.changed ? "true" : "false";
    if (!trust.roots.length) {
      root.dataset.rootKid = "";
      line.textContent = texts.rootNone;
      return Promise.resolve();
    }
    root.dataset.rootKid = trust.roots[0].kid;
    return V.rootThumbprint(trust.roots[0]).then(function (thumbprint) {
      var text = document.createElement("span");
      text.textContent = fill(texts.rootPinned, {
        kid: trust.roots[0].kid,
        thumbprint: thumbprint || "—",
        when: formatTime(new Date(trust.pinned.pinnedAt)),
      });
      line.appendChild(text);
      if (trust.changed) {
        var warning = document.createElement("strong");
        warning.className = "stale";
        warning.textContent = " " + texts.rootChanged;
        line.appendChild(warning);
      }
    });
  }

  function useKeys(loaded) {
    var status = $("offline-keys-status");
    status.textContent = "";
    if (!loaded) {
      keySet = { keys: [], rejected: [], fetchedAt: null, source: null };
      status.textContent = texts.keysNone;
      root.dataset.keys = "none";
      return Promise.resolve();
    }
    var trust = rootsFor(loaded.document);
    return Promise.all([V.certifiedKeys(loaded.document, trust.roots), showRoot(trust)]).then(function (done) {
      showKeys(loaded, done[0]);
    });
  }

  function showKeys(loaded, checked) {
    var status = $("offline-keys-status");
    var keys = checked.keys;
    var businesses = {};
    keys.forEach(function (key) {
      businesses[key.businessId !== null ? "id:" + key.businessId : "name:" + key.businessName] = true;
    });
    var fetchedAt = new Date(loaded.fetchedAt);
    keySet = { keys: keys, rejected: checked.rejected, fetchedAt: fetchedAt, source: loaded.source };
    root.dataset.keys = loaded.source === "network" ? "network" : "cache";
    root.dataset.keysFetchedAt = fetchedAt.toISOString();
    root.dataset.keysCount = String(keys.length);
    root.dataset.keysRejected = String(checked.rejected.length);
    var summary = document.createElement("span");
    summary.textContent = fill(texts.keysSummary, {
      count: keys.length,
      businesses: Object.keys(businesses).length,
      when: formatTime(fetchedAt),
      ago: formatAgo(fetchedAt),
    });
    var source = document.createElement("span");
    source.textContent = " " + (loaded.source === "network" ? texts.keysSourceNetwork : texts.keysSourceCache);
    status.appendChild(summary);
    status.appendChild(source);
    if (checked.rejected.length) {
      var rejected = document.createElement("span");
      rejected.className = "stale";
      rejected.textContent = " " + fill(texts.keysRejected, { count: checked.rejected.length });
      status.appendChild(rejected);
    }
    if (Date.now() - fetchedAt.getTime() > staleAfterDays * 86400000) {
      var stale = document.createElement("span");
      stale.className = "stale";
      stale.textContent = " " + fill(texts.keysStale, { days: staleAfterDays });
      status.appendChild(stale);
    }
  }

  // ---- working offline ------------------------------------------------------------------

  function setReady(state, text) {
    var ready = $("offline-ready");
    ready.dataset.state = state;
    ready.textContent = text;
    root.dataset.offlineReady = state === "ready" ? "true" : "false";
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator) || !window.caches) {
      setReady("unsupported", texts.readyUnsupported);
      return;
    }
    navigator.serviceWorker
      .register(root.dataset.swUrl, { scope: root.dataset.scope })
      .then(function () {
        return navigator.serviceWorker.ready;
      })
      .then(function () {
        return Promise.all([window.caches.match(jwksUrl), window.caches.match(root.dataset.scope)]);
      })
      .then(function (found) {
        if (found[0] && found[1]) setReady("ready", texts.ready);
        else setReady("failed", texts.readyFailed);
      })
      .catch(function () {
        setReady("failed", texts.readyFailed);
      });
    // The first visit is not controlled until the worker takes over: then read the key
    // set again through it, so what is shown is what is saved.
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      loadKeys();
    });
  }

  // ---- the result -----------------------------------------------------------------------

  function reasonText(reason) {
    var name =
      "reason" +
      String(reason)
        .split("_")
        .map(function (part) {
          return part.charAt(0).toUpperCase() + part.slice(1);
        })
        .join("");
    return texts[name] || reason;
  }

  // Everything from the key file (names, tax codes, reviewing bodies, times) is untrusted
  // text: it is only ever set as textContent, through fill().
  function show(result) {
    var section = $("offline-result");
    var verdict = $("offline-verdict");
    var foreign = !!(result.host && result.host !== siteHost());
    var testStamp = result.reason === "test_stamp";
    var tone = result.valid ? (foreign ? "warn" : "good") : result.uncertain ? "warn" : "bad";
    section.hidden = false;
    section.dataset.checks = String((parseInt(section.dataset.checks || "0", 10) || 0) + 1);
    section.dataset.result = result.valid ? "valid" : "invalid";
    section.dataset.reason = result.reason || "";
    section.dataset.host = result.host || "";
    section.dataset.foreign = foreign ? "true" : "false";
    section.dataset.purpose = result.purpose || "";
    verdict.className = "verdict verdict--" + tone;
    section.dataset.uncertain = result.uncertain ? "true" : "false";
    $("offline-verdict-icon").textContent = result.valid ? (foreign ? "!" : "✓") : result.uncertain ? "?" : "✗";
    $("offline-verdict-title").textContent = result.valid
      ? foreign
        ? texts.verdictValidForeign
        : texts.verdictValid
      : testStamp
        ? texts.verdictTestStamp
        : result.uncertain
          ? texts.verdictUncertain
          : texts.verdictInvalid;
    $("offline-verdict-reason").textContent = result.valid
      ? result.businessName
        ? fill(texts.validReason, { business: result.businessName })
        : texts.validReasonUnnamed
      : result.reason === "key_compromised"
        ? fill(texts.reasonKeyCompromised, {
            when: formatCertified(result.keyCompromisedAt, true),
            business: result.businessName || texts.businessUnnamed,
          })
        : result.reason === "verification_withdrawn"
          ? fill(texts.reasonVerificationWithdrawn, {
              when: formatCertified(result.withdrawnAt, true),
              business: result.businessName || (result.producer && result.producer.legal_name) || texts.businessUnnamed,
            })
          : reasonText(result.reason);
    showProducer(result);

    var notice = $("offline-foreign");
    notice.hidden = !(result.valid && foreign);
    notice.textContent = notice.hidden ? "" : fill(texts.foreign, { host: result.host, site: siteHost() });

    $("offline-business").textContent = result.valid ? result.businessName || texts.businessUnnamed : "—";
    $("offline-short-code").textContent = result.shortCode || "—";
    // A version 2 stamp signs the GTIN and the lot: once it verifies, they are facts too.
    var signedItem = result.valid && result.version === 2;
    showRow("offline-gtin", signedItem ? result.gtin : null);
    showRow("offline-lot", signedItem ? result.lot : null);
    $("offline-kid").textContent = result.kid || "—";
    $("offline-key-status").textContent =
      result.reason === "key_compromised"
        ? texts.statusCompromised
        : testStamp
          ? texts.statusTest
          : result.valid || result.reason === "verification_withdrawn"
            ? result.keyStatus === "retired"
              ? texts.statusRetired
              : texts.statusActive
            : "—";
    $("offline-host").textContent = result.host || (result.kid ? texts.hostNone : "—");
    $("offline-keys-used").textContent = keySet.fetchedAt
      ? fill(texts.keysUsed, { when: formatTime(keySet.fetchedAt) }) + " (" + formatAgo(keySet.fetchedAt) + ")"
      : texts.keysNone;
    $("offline-limits").hidden = !result.valid;

    var link = $("offline-online-link");
    var online = onlineUrl(result);
    if (online) {
      link.href = online;
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    if (section.scrollIntoView) section.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  // Next to a valid result: the producer a reviewer verified, as the key's certificate
  // names it, or that nobody verified it (stamps printed before verification existed).
  function showProducer(result) {
    var line = $("offline-producer");
    var producer = result.valid ? result.producer : null;
    line.textContent = "";
    line.hidden = !result.valid;
    line.dataset.state = !result.valid ? "" : producer ? "verified" : "unverified";
    if (!result.valid) return;
    if (!producer) {
      line.textContent = texts.producerUnverified;
      return;
    }
    var values = {
      name: producer.legal_name,
      tax_code: producer.tax_code || "",
      date: producer.verified_at ? formatCertified(producer.verified_at, false) : "",
      body: producer.verified_by || "",
    };
    var dated = !!(values.date && values.body);
    var template = producer.tax_code
      ? dated
        ? texts.producerVerified
        : texts.producerVerifiedUndated
      : dated
        ? texts.producerVerifiedNoTaxCode
        : texts.producerVerifiedNameOnly;
    line.textContent = fill(template, values);
  }

  // A row of the details (its <dt> is "<id>-label"), shown only with a value.
  function showRow(id, value) {
    var shown = value !== null && value !== undefined && value !== "";
    $(id).textContent = shown ? value : "";
    $(id).hidden = !shown;
    $(id + "-label").hidden = !shown;
  }

  // Where the online check of the stamp is: its /S/ page (version 1), or the check of its
  // GS1 Digital Link on this service's address (version 2). The online service reads a
  // version 2 stamp only as a link on its own public URL, so the link is written on it.
  function onlineUrl(result) {
    if (result.code) return publicUrl + "/S/" + result.code;
    if (result.version === 2 && result.signatureText) {
      try {
        return publicUrl.replace(/\/+$/, "") + "/verify?code=" + encodeURIComponent(V.stampUrlV2(publicUrl, result));
      } catch (e) {
        return null;
      }
    }
    return null;
  }

  function check(text) {
    return V.verifyStamp(text, keySet.keys, { rejected: keySet.rejected })
      .then(show)
      .catch(function () {
        show({ valid: false, reason: "no_crypto" });
      });
  }

  // ---- reading QR codes -----------------------------------------------------------------

  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  function decodeDrawable(source, width, height, longest, inversion) {
    var scale = Math.min(1, longest / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    var frame = context.getImageData(0, 0, canvas.width, canvas.height);
    var found = window.jsQR(frame.data, frame.width, frame.height, { inversionAttempts: inversion });
    return found && found.data ? found.data : null;
  }

  function found(text) {
    $("offline-text").value = text;
    return check(text);
  }

  // Camera
  var video = $("offline-video");
  var cameraStatus = $("offline-camera-status");
  var stream = null;
  var lastDecode = 0;

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
    }
    stream = null;
    video.srcObject = null;
    video.hidden = true;
    $("offline-camera-stop").hidden = true;
    $("offline-camera-start").hidden = false;
  }

  function scanFrame(time) {
    if (!stream) return;
    if (video.readyState >= video.HAVE_CURRENT_DATA && video.videoWidth && time - lastDecode > 120) {
      lastDecode = time;
      var text = decodeDrawable(video, video.videoWidth, video.videoHeight, 720, "dontInvert");
      if (text) {
        stopCamera();
        cameraStatus.textContent = "";
        found(text);
        return;
      }
    }
    window.requestAnimationFrame(scanFrame);
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
      cameraStatus.textContent = texts.cameraUnavailable;
      return;
    }
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.hidden = false;
        $("offline-camera-start").hidden = true;
        $("offline-camera-stop").hidden = false;
        cameraStatus.textContent = texts.cameraLooking;
        var playing = video.play();
        if (playing && playing.catch) playing.catch(function () {});
        window.requestAnimationFrame(scanFrame);
      })
      .catch(function (error) {
        cameraStatus.textContent = fill(texts.cameraDenied, { error: (error && error.name) || String(error) });
      });
  }

  // Photo
  function loadImage(file) {
    if (window.createImageBitmap) {
      return window.createImageBitmap(file).then(function (bitmap) {
        return { source: bitmap, width: bitmap.width, height: bitmap.height };
      });
    }
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var image = new Image();
      image.onload = function () {
        URL.revokeObjectURL(url);
        resolve({ source: image, width: image.naturalWidth, height: image.naturalHeight });
      };
      image.onerror = function (error) {
        URL.revokeObjectURL(url);
        reject(error);
      };
      image.src = url;
    });
  }

  // A photo is tried at a few sizes: jsQR finds small codes in big photos only at full
  // size, and big blurry codes more easily when scaled down.
  function decodePhoto(image) {
    var largest = Math.max(image.width, image.height);
    var sizes = [1200, 2000, 800, 500]
      .map(function (size) {
        return Math.min(size, largest);
      })
      .filter(function (size, index, all) {
        return all.indexOf(size) === index;
      });
    function attempt(index) {
      if (index >= sizes.length) return Promise.resolve(null);
      return new Promise(function (resolve) {
        window.setTimeout(resolve, 0); // let the page paint between attempts
      }).then(function () {
        var text = decodeDrawable(image.source, image.width, image.height, sizes[index], "attemptBoth");
        return text || attempt(index + 1);
      });
    }
    return attempt(0);
  }

  function readPhoto(event) {
    var file = event.target.files && event.target.files[0];
    var status = $("offline-photo-status");
    if (!file) return;
    status.textContent = texts.photoReading;
    status.dataset.state = "reading";
    loadImage(file)
      .then(decodePhoto)
      .then(function (text) {
        if (!text) {
          status.textContent = texts.photoNone;
          status.dataset.state = "none";
          return;
        }
        status.textContent = texts.photoFound;
        status.dataset.state = "found";
        return found(text);
      })
      .catch(function () {
        status.textContent = texts.photoNone;
        status.dataset.state = "none";
      });
  }

  // ---- wiring ---------------------------------------------------------------------------

  $("offline-form").addEventListener("submit", function (event) {
    event.preventDefault();
    check($("offline-text").value);
  });
  $("offline-text").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      check($("offline-text").value);
    }
  });
  $("offline-text").addEventListener("paste", function () {
    window.setTimeout(function () {
      check($("offline-text").value);
    }, 0);
  });
  $("offline-camera-start").addEventListener("click", startCamera);
  $("offline-camera-stop").addEventListener("click", function () {
    stopCamera();
    cameraStatus.textContent = "";
  });
  $("offline-photo").addEventListener("change", readPhoto);
  $("offline-refresh").addEventListener("click", function () {
    loadKeys();
  });

  // Tests and curious inspectors: the check the page runs, with the page's key set.
  window.TraceQROfflinePage = {
    check: check,
    keys: function () {
      return keySet;
    },
  };

  // Back on the network: fetch the key set again, new keys may have arrived.
  window.addEventListener("online", function () {
    loadKeys();
  });

  root.dataset.keys = "loading";
  loadKeys().then(function () {
    root.dataset.started = "true";
  });
  registerWorker();
})();
