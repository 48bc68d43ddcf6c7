// TraceQR offline stamp check: the stamp format of docs/stamp-format.md, version 1, in the
// browser. Pure functions, no DOM: the page (app.js) and the tests call them.
//
//   TraceQROffline.verifyStamp(text, jwksOrKeys[, {publicUrl}]) → Promise<result>
//
// A result is {valid: true, kid, serial, shortCode, host, urlPrefix, businessName, …} or
// {valid: false, reason, …} with the reasons of the spec: empty, too_long, bad_character,
// not_a_stamp_url, bad_length, non_canonical, unknown_version, foreign_url (only when a
// publicUrl is given), no_keys, unknown_key, bad_signature.
//
// Signatures are checked with WebCrypto's Ed25519 where the browser has it (a known-answer
// test decides), else with the vendored tweetnacl (window.nacl). Either way a signature
// whose S is not below the group order L is refused first (RFC 8032 §5.1.7).
(function (root, factory) {
  "use strict";
  var api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.TraceQROffline = api;
})(typeof self !== "undefined" ? self : typeof globalThis !== "undefined" ? globalThis : this, function (root) {
  "use strict";

  var STAMP_LENGTH = 79;
  var KID_LENGTH = 4;
  var SERIAL_LENGTH = 10;
  var HEADER_LENGTH = 1 + KID_LENGTH + SERIAL_LENGTH; // 15
  var CODE_LENGTH = Math.ceil((STAMP_LENGTH * 8) / 5); // 127
  var FORMAT_V1 = 1;
  var CONTEXT = "TRACEQR-STAMP-V1";
  var MAX_SCANNED_TEXT = 2048;
  var RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // What Python's str.strip() takes away: ASCII white space, the separators \x1c-\x1f and
  // the Unicode spaces. (String.prototype.trim differs at the edges, e.g. U+FEFF.)
  var SPACE = "[\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  var STRIP = new RegExp("^" + SPACE + "+|" + SPACE + "+$", "g");
  var OFFLINE_URL = /^(HTTPS?):\/\/([^\/\s]+)(?:\/[^\s]*)?\/S\/([^\/\s]*)$/;
  // The Ed25519 group order L, little-endian, as the signature's S is written.
  var ORDER_L = hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");

  // ---- bytes ----------------------------------------------------------------------------

  function hex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function toHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function ascii(text) {
    var out = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  function concat(a, b) {
    var out = new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  function fail(reason, message) {
    var error = new Error(message || reason);
    error.name = "StampFormatError";
    error.reason = reason;
    throw error;
  }

  // ---- text → code (§3.3) ---------------------------------------------------------------

  // The code in a scanned text, with where it was printed for. publicUrl (optional) turns
  // on the online service's rule: the URL must start with that PUBLIC_URL + "/S/".
  function extractCode(text, publicUrl) {
    var stripped = String(text).replace(STRIP, "");
    if (!stripped) fail("empty", "nothing was scanned");
    if (Array.from(stripped).length > MAX_SCANNED_TEXT) fail("too_long", "the text is far too long to be a stamp");
    if (/[^\x00-\x7f]/.test(stripped)) fail("bad_character", "a stamp is plain ASCII text");
    var upper = stripped.toUpperCase();
    if (upper.indexOf("/") < 0 && upper.indexOf(":") < 0) {
      return { code: upper, host: null, urlPrefix: null };
    }
    var bare = upper.split("#")[0].split("?")[0];
    var code;
    if (publicUrl) {
      var prefix = normalizePublicUrl(publicUrl).toUpperCase() + "/S/";
      if (bare.indexOf(prefix) !== 0) fail("foreign_url", "the URL is not a stamp URL of this service");
      code = bare.slice(prefix.length);
      if (code.indexOf("/") >= 0) fail("bad_character", "a stamp URL ends with the code");
    } else {
      var match = OFFLINE_URL.exec(bare);
      if (!match) fail("not_a_stamp_url", "the text is not a stamp URL");
      code = match[3];
    }
    var urlPrefix = bare.slice(0, bare.length - code.length - 3);
    return { code: code, host: urlHost(stripped), urlPrefix: urlPrefix };
  }

  // The host a URL really leads to (after any user@ part), as a browser would go there.
  function urlHost(text) {
    try {
      return new URL(text).host.toLowerCase();
    } catch (e) {
      var match = /^[a-z]+:\/\/(?:[^\/@]*@)?([^\/?#\s]+)/i.exec(text);
      return match ? match[1].toLowerCase() : null;
    }
  }

  function normalizePublicUrl(publicUrl) {
    var url = String(publicUrl).replace(STRIP, "").replace(/\/+$/, "");
    var match = /^(https?):\/\/([^\/\s?#]+)(\/[^\s?#]*)?$/i.exec(url);
    if (!match) throw new Error("public URL must look like https://host[:port][/path]");
    return match[1].toUpperCase() + "://" + match[2].toUpperCase() + (match[3] || "");
  }

  // ---- code → bytes (§3.1) --------------------------------------------------------------

  // Canonical base32 (RFC 4648, no padding) of exactly byteCount bytes; upper case in.
  function base32DecodeCanonical(code, byteCount) {
    var expected = Math.ceil((byteCount * 8) / 5);
    if (code.length !== expected) fail("bad_length", "expected " + expected + " characters, got " + code.length);
    var values = new Array(code.length);
    for (var i = 0; i < code.length; i++) {
      values[i] = RFC4648.indexOf(code.charAt(i));
      if (values[i] < 0) fail("bad_character", "character outside base32: " + JSON.stringify(code.charAt(i)));
    }
    var out = new Uint8Array(byteCount);
    var buffer = 0;
    var bits = 0;
    var n = 0;
    for (var j = 0; j < values.length; j++) {
      buffer = ((buffer << 5) | values[j]) & 0x1fff; // never more than 12 live bits
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        out[n++] = (buffer >> bits) & 0xff;
      }
    }
    if (buffer & ((1 << bits) - 1)) fail("non_canonical", "unused trailing bits are not zero");
    return out;
  }

  function decodeCode(code) {
    var raw = base32DecodeCanonical(code, STAMP_LENGTH);
    if (raw[0] !== FORMAT_V1) fail("unknown_version", "stamp format version " + raw[0] + " is unknown");
    return {
      version: raw[0],
      kid: raw.slice(1, 1 + KID_LENGTH),
      serial: raw.slice(1 + KID_LENGTH, HEADER_LENGTH),
      signature: raw.slice(HEADER_LENGTH),
      signedMessage: concat(ascii(CONTEXT), raw.slice(0, HEADER_LENGTH)),
    };
  }

  function parseScannedText(text, publicUrl) {
    var where = extractCode(text, publicUrl);
    var stamp = decodeCode(where.code);
    stamp.code = where.code;
    stamp.host = where.host;
    stamp.urlPrefix = where.urlPrefix;
    return stamp;
  }

  // ---- serial and short code (§3.4) -----------------------------------------------------

  function crockfordEncode(bytes) {
    var out = "";
    var buffer = 0;
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      buffer = ((buffer << 8) | bytes[i]) & 0xffff;
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        out += CROCKFORD.charAt((buffer >> bits) & 31);
      }
    }
    if (bits > 0) out += CROCKFORD.charAt((buffer << (5 - bits)) & 31);
    return out;
  }

  function luhn32CheckSymbol(text) {
    var factor = 2;
    var total = 0;
    for (var i = text.length - 1; i >= 0; i--) {
      var addend = factor * CROCKFORD.indexOf(text.charAt(i));
      factor = factor === 2 ? 1 : 2;
      total += Math.floor(addend / 32) + (addend % 32);
    }
    return CROCKFORD.charAt((32 - (total % 32)) % 32);
  }

  function serialText(serial) {
    return crockfordEncode(serial);
  }

  function shortCode(serial) {
    var text = serialText(serial);
    var full = text + luhn32CheckSymbol(text);
    return full.slice(0, 4) + "-" + full.slice(4, 8) + "-" + full.slice(8, 12) + "-" + full.slice(12);
  }

  // ---- keys (§5) ------------------------------------------------------------------------

  function base64UrlDecode(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    var out = [];
    var buffer = 0;
    var bits = 0;
    for (var i = 0; i < text.length; i++) {
      buffer = ((buffer << 6) | alphabet.indexOf(text.charAt(i))) & 0xffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((buffer >> bits) & 0xff);
      }
    }
    return new Uint8Array(out);
  }

  // The stamp-signing keys of a JWKS document (or an already parsed list, returned as is).
  // Keys of other types, service keys and anything malformed are left out; a JWK carrying
  // a private part ("d") is refused.
  function parseJwks(document) {
    if (Array.isArray(document)) return document;
    var keys = [];
    if (!document || !Array.isArray(document.keys)) return keys;
    document.keys.forEach(function (jwk) {
      if (!jwk || typeof jwk !== "object") return;
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519") return;
      if ((jwk.traceqr_role || "business") !== "business") return;
      if ("d" in jwk) return;
      if (typeof jwk.kid !== "string" || !/^[0-9a-fA-F]{8}$/.test(jwk.kid)) return;
      var key = base64UrlDecode(jwk.x);
      if (!key || key.length !== 32) return;
      keys.push({
        kid: jwk.kid.toLowerCase(),
        key: key,
        businessId: typeof jwk.traceqr_business_id === "number" ? jwk.traceqr_business_id : null,
        businessName: typeof jwk.traceqr_business_name === "string" ? jwk.traceqr_business_name : null,
        status: jwk.traceqr_status === "retired" ? "retired" : "active",
        createdAt: typeof jwk.traceqr_created_at === "string" ? jwk.traceqr_created_at : null,
      });
    });
    return keys;
  }

  // ---- Ed25519 --------------------------------------------------------------------------

  // The first test vector of tests/vectors/stamp-v1.json: a known answer for WebCrypto.
  var KAT = {
    key: "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
    message: "545241434551522d5354414d502d5631010a1b2c3d00112233445566778899",
    signature:
      "c73cee601b16cd513d1a3b1784c86bc736b92e25fd722a53c7708f6f83cfc90f" +
      "e8f51237346ce8f3f4ac23bc750796e5761422c80710276f104c1bfc93ebce03",
  };
  var chosenBackend = null; // Promise<"webcrypto" | "tweetnacl" | "none">

  function subtle() {
    return root && root.crypto && root.crypto.subtle ? root.crypto.subtle : null;
  }

  function webCryptoVerify(publicKey, signature, message) {
    return subtle()
      .importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"])
      .then(function (key) {
        return subtle().verify({ name: "Ed25519" }, key, signature, message);
      });
  }

  function naclVerify(publicKey, signature, message) {
    return root.nacl.sign.detached.verify(message, signature, publicKey);
  }

  function detectBackend() {
    function fallback() {
      return root && root.nacl && root.nacl.sign && root.nacl.sign.detached ? "tweetnacl" : "none";
    }
    if (!subtle()) return Promise.resolve(fallback());
    return webCryptoVerify(hex(KAT.key), hex(KAT.signature), hex(KAT.message)).then(
      function (ok) {
        return ok ? "webcrypto" : fallback();
      },
      function () {
        return fallback();
      }
    );
  }

  function backend() {
    if (!chosenBackend) chosenBackend = detectBackend();
    return chosenBackend;
  }

  // Force a backend ("webcrypto" or "tweetnacl"), or null to detect again (tests).
  function setBackend(name) {
    chosenBackend = name ? Promise.resolve(name) : null;
    return backend();
  }

  // S (the signature's second half) must be below L; little-endian, compare from the top.
  function canonicalS(signature) {
    for (var i = 31; i >= 0; i--) {
      var s = signature[32 + i];
      if (s < ORDER_L[i]) return true;
      if (s > ORDER_L[i]) return false;
    }
    return false; // S == L
  }

  function ed25519Verify(publicKey, signature, message) {
    if (publicKey.length !== 32 || signature.length !== 64 || !canonicalS(signature)) {
      return Promise.resolve(false);
    }
    return backend().then(function (name) {
      if (name === "webcrypto") {
        return webCryptoVerify(publicKey, signature, message).catch(function () {
          return false; // a key WebCrypto refuses to import verifies nothing
        });
      }
      if (name === "tweetnacl") {
        try {
          return naclVerify(publicKey, signature, message);
        } catch (e) {
          return false;
        }
      }
      throw new Error("no Ed25519 implementation available");
    });
  }

  // ---- the whole check (§4) -------------------------------------------------------------

  function verifyStamp(text, jwks, options) {
    var publicUrl = options && options.publicUrl;
    var result = { valid: false, reason: null, message: null };
    var stamp;
    try {
      stamp = parseScannedText(text, publicUrl);
    } catch (error) {
      if (!error.reason) throw error;
      result.reason = error.reason;
      result.message = error.message;
      try {
        var where = extractCode(text, publicUrl);
        result.host = where.host;
        result.urlPrefix = where.urlPrefix;
      } catch (ignored) {
        // the text was not even a URL or a code
      }
      return Promise.resolve(result);
    }
    var kid = toHex(stamp.kid);
    result.kid = kid;
    result.version = stamp.version;
    result.code = stamp.code;
    result.serial = serialText(stamp.serial);
    result.shortCode = shortCode(stamp.serial);
    result.host = stamp.host;
    result.urlPrefix = stamp.urlPrefix;
    var keys = parseJwks(jwks);
    if (!keys.length) {
      result.reason = "no_keys";
      result.message = "no key set to check against";
      return Promise.resolve(result);
    }
    var candidates = keys.filter(function (key) {
      return key.kid === kid;
    });
    if (!candidates.length) {
      result.reason = "unknown_key";
      result.message = "no key " + kid + " in the key set";
      return Promise.resolve(result);
    }
    // Every key with the kid is tried (a kid is only 32 bits); the first that verifies wins.
    return Promise.all(
      candidates.map(function (key) {
        return ed25519Verify(key.key, stamp.signature, stamp.signedMessage);
      })
    ).then(function (verdicts) {
      var index = verdicts.indexOf(true);
      if (index < 0) {
        result.reason = "bad_signature";
        result.message = "the signature does not match: altered or forged";
        return result;
      }
      var key = candidates[index];
      result.valid = true;
      result.businessName = key.businessName;
      result.businessId = key.businessId;
      result.keyStatus = key.status;
      return result;
    });
  }

  return {
    CODE_LENGTH: CODE_LENGTH,
    extractCode: extractCode,
    decodeCode: decodeCode,
    parseScannedText: parseScannedText,
    base32DecodeCanonical: base32DecodeCanonical,
    normalizePublicUrl: normalizePublicUrl,
    serialText: serialText,
    shortCode: shortCode,
    parseJwks: parseJwks,
    ed25519Verify: ed25519Verify,
    backend: backend,
    setBackend: setBackend,
    verifyStamp: verifyStamp,
    toHex: toHex,
  };
});
