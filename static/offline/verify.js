// TraceQR offline stamp check: the stamp format of docs/stamp-format.md, versions 1 and 2,
// in the browser. Pure functions, no DOM: the page (app.js) and the tests call them.
//
//   TraceQROffline.verifyStamp(text, jwksOrKeys[, {publicUrl}]) → Promise<result>
//
// A result is {valid: true, version, kid, serial, shortCode, host, urlPrefix, businessName,
// purpose, producer (the verified producer the key's certificate names, or null), …} — for
// version 2 also gtin (GTIN-14) and lot, both signed — or {valid: false, reason,
// …} with the reasons of the spec: empty, too_long, bad_character, not_a_stamp_url,
// bad_length, non_canonical, unknown_version, foreign_url (only when a publicUrl is given),
// no_keys, unknown_key, bad_signature, uncertified_key (the kid is among
// options.rejected: keys whose root certificate did not hold, see certifiedKeys),
// key_compromised (with uncertain: true: the key's certificate says it was compromised
// from a time, and a stamp carries no issue time), verification_withdrawn (uncertain too:
// the producer's verification was withdrawn from a time) and test_stamp (signed by a test
// key, an unverified business's: never a product's stamp); and for version 2 (§9.5) unsigned_digital_link,
// missing_key_id, missing_signature, duplicate_parameter, bad_key_id,
// bad_signature_encoding, bad_serial, not_a_stamp_link, unsigned_data and the GS1 Digital
// Link reasons bad_gtin, bad_order, bad_path, misplaced_ai, unknown_ai, duplicate_ai,
// bad_ai_value, bad_percent_encoding, compressed_not_supported, unsupported_primary_key.
//
// Version 2 is read as the Python reference reads it (traceqr/domain/stamp_format.py,
// digital_link.py and gs1.py): where the document leaves a detail open, this file follows
// that code, so both reach the same verdict for every text.
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
  var FORMAT_V2 = 2;
  var CONTEXT_V2 = "TRACEQR-STAMP-V2";
  var SIGNATURE_LENGTH = 64;
  var GTIN_LENGTH = 14;
  var MAX_SCANNED_TEXT = 2048;
  var RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // What Python's str.strip() takes away: ASCII white space, the separators \x1c-\x1f and
  // the Unicode spaces. (String.prototype.trim differs at the edges, e.g. U+FEFF.)
  var SPACE = "[\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
  var STRIP = new RegExp("^" + SPACE + "+|" + SPACE + "+$", "g");
  // Python's \s on ASCII text (the URL is ASCII by then) also takes \x1c-\x1f.
  var OFFLINE_URL = /^(HTTPS?):\/\/([^\/\t\n\v\f\r \x1c-\x1f]+)(?:\/[^\t\n\v\f\r \x1c-\x1f]*)?\/S\/([^\/\t\n\v\f\r \x1c-\x1f]*)$/;
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

  function concat() {
    var length = 0;
    for (var i = 0; i < arguments.length; i++) length += arguments[i].length;
    var out = new Uint8Array(length);
    var offset = 0;
    for (var j = 0; j < arguments.length; j++) {
      out.set(arguments[j], offset);
      offset += arguments[j].length;
    }
    return out;
  }

  function stampError(reason, message) {
    var error = new Error(message || reason);
    error.name = "StampFormatError";
    error.reason = reason;
    return error;
  }

  function fail(reason, message) {
    throw stampError(reason, message);
  }

  function isAscii(text) {
    return /^[\x00-\x7f]*$/.test(text);
  }

  // Sets of strings that no name can slip through by the prototype ("constructor", …).
  function setOf(names) {
    var set = Object.create(null);
    for (var i = 0; i < names.length; i++) set[names[i]] = true;
    return set;
  }

  function has(set, key) {
    return typeof key === "string" && Object.prototype.hasOwnProperty.call(set, key);
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

  // A scanned text → a stamp of either version, or a StampFormatError (error.reason).
  // Version 1 texts (a URL ending /S/<code>, a bare code) are read exactly as before; any
  // other text that is a GS1 Digital Link is read as version 2 (§9.3); the rest gets the
  // version 1 reasons. (stamp_format.parse_scanned_text)
  function parseScannedText(text, publicUrl) {
    var stripped = String(text).replace(STRIP, "");
    var plain = stripped.length > 0 && stripped.length <= MAX_SCANNED_TEXT && isAscii(stripped);
    if (plain && !looksLikeV1(stripped, publicUrl)) {
      var link = null;
      try {
        link = parseDigitalLink(stripped);
      } catch (error) {
        if (!error.reason) throw error;
        if (error.reason !== "empty" && error.reason !== "too_long" && error.reason !== "not_a_digital_link") {
          if (!hasStampParameters(stripped)) throw unsignedLink();
          throw error; // the Digital Link reason: bad_gtin, bad_order, …
        }
      }
      if (link) {
        var stamp = parseV2Link(link, publicUrl);
        stamp.host = urlHost(stripped);
        stamp.urlPrefix = link.baseUrl;
        return stamp;
      }
    }
    return parseV1Text(text, publicUrl);
  }

  function parseV1Text(text, publicUrl) {
    var where = extractCode(text, publicUrl);
    var stamp = decodeCode(where.code);
    stamp.code = where.code;
    stamp.host = where.host;
    stamp.urlPrefix = where.urlPrefix;
    return stamp;
  }

  // Whether extractCode would find a version 1 code in the text (already stripped, ASCII).
  function looksLikeV1(stripped, publicUrl) {
    var upper = stripped.toUpperCase();
    if (upper.indexOf("/") < 0 && upper.indexOf(":") < 0) return true;
    var bare = upper.split("#")[0].split("?")[0];
    if (publicUrl && bare.indexOf(normalizePublicUrl(publicUrl).toUpperCase() + "/S/") === 0) return true;
    // Another service's /S/ URL stays a version 1 text too: it is refused as foreign_url.
    return OFFLINE_URL.test(bare);
  }

  // ---- serial and short code (§3.4) -----------------------------------------------------

  // Base32 of bytes in an alphabet (RFC 4648 or Crockford), no padding, most significant
  // bits first.
  function base32Encode(bytes, alphabet) {
    alphabet = alphabet || RFC4648;
    var out = "";
    var buffer = 0;
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      buffer = ((buffer << 8) | bytes[i]) & 0xffff;
      bits += 8;
      while (bits >= 5) {
        bits -= 5;
        out += alphabet.charAt((buffer >> bits) & 31);
      }
    }
    if (bits > 0) out += alphabet.charAt((buffer << (5 - bits)) & 31);
    return out;
  }

  function crockfordEncode(bytes) {
    return base32Encode(bytes, CROCKFORD);
  }

  // Exactly byteCount bytes from upper-case Crockford base32 (no aliases), canonical.
  function crockfordDecode(text, byteCount) {
    var expected = Math.ceil((byteCount * 8) / 5);
    if (text.length !== expected) fail("bad_length", "expected " + expected + " characters");
    var translated = "";
    for (var i = 0; i < text.length; i++) {
      var value = CROCKFORD.indexOf(text.charAt(i));
      if (value < 0) fail("bad_character", JSON.stringify(text.charAt(i)) + " is not a code character");
      translated += RFC4648.charAt(value);
    }
    return base32DecodeCanonical(translated, byteCount);
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

  // ---- GS1: check digits, CSET 82, Application Identifiers (traceqr/domain/gs1.py) -----

  var GTIN_LENGTHS = [8, 12, 13, 14];
  // GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
  var CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  var DIGITS = "0123456789";
  // The AI formats of the GS1 Barcode Syntax Dictionary, as gs1.py lists them (same
  // notation, same lines: keep the two in step). "*": predefined length; N18: 18 digits;
  // N..8: 1 to 8 digits; X..20: 1 to 20 characters of CSET 82; [..]: optional; ,csum: GS1
  // check digit; ,yymmd0 / ,yymmdd: a date (DD 00 allowed / not); ,hhmm; ,iso3166.
  var AI_SYNTAX_TABLE = [
    "00        * N18,csum                # SSCC",
    "01        * N14,csum                # GTIN",
    "02        * N14,csum                # CONTENT",
    "10          X..20                   # BATCH/LOT",
    "11        * N6,yymmd0               # PROD DATE",
    "12        * N6,yymmd0               # DUE DATE",
    "13        * N6,yymmd0               # PACK DATE",
    "15        * N6,yymmd0               # BEST BEFORE or BEST BY",
    "16        * N6,yymmd0               # SELL BY",
    "17        * N6,yymmd0               # USE BY OR EXPIRY",
    "20        * N2                      # VARIANT",
    "21          X..20                   # SERIAL",
    "22          X..20                   # CPV",
    "235         X..28                   # TPX",
    "253         N13,csum [X..17]        # GDTI",
    "254         X..20                   # GLN EXTENSION COMPONENT",
    "30          N..8                    # VAR. COUNT",
    "3100-3105 * N6                      # NET WEIGHT (kg)",
    "3110-3115 * N6                      # LENGTH (m)",
    "3120-3125 * N6                      # WIDTH (m)",
    "3130-3135 * N6                      # HEIGHT (m)",
    "3140-3145 * N6                      # AREA (m²)",
    "3150-3155 * N6                      # NET VOLUME (l)",
    "3160-3165 * N6                      # NET VOLUME (m³)",
    "3200-3205 * N6                      # NET WEIGHT (lb)",
    "3210-3215 * N6                      # LENGTH (in)",
    "3220-3225 * N6                      # LENGTH (ft)",
    "3230-3235 * N6                      # LENGTH (yd)",
    "3240-3245 * N6                      # WIDTH (in)",
    "3250-3255 * N6                      # WIDTH (ft)",
    "3260-3265 * N6                      # WIDTH (yd)",
    "3270-3275 * N6                      # HEIGHT (in)",
    "3280-3285 * N6                      # HEIGHT (ft)",
    "3290-3295 * N6                      # HEIGHT (yd)",
    "3300-3305 * N6                      # GROSS WEIGHT (kg)",
    "3310-3315 * N6                      # LENGTH (m), log",
    "3320-3325 * N6                      # WIDTH (m), log",
    "3330-3335 * N6                      # HEIGHT (m), log",
    "3340-3345 * N6                      # AREA (m²), log",
    "3350-3355 * N6                      # VOLUME (l), log",
    "3360-3365 * N6                      # VOLUME (m³), log",
    "3370-3375 * N6                      # KG PER m²",
    "3400-3405 * N6                      # GROSS WEIGHT (lb)",
    "3410-3415 * N6                      # LENGTH (in), log",
    "3420-3425 * N6                      # LENGTH (ft), log",
    "3430-3435 * N6                      # LENGTH (yd), log",
    "3440-3445 * N6                      # WIDTH (in), log",
    "3450-3455 * N6                      # WIDTH (ft), log",
    "3460-3465 * N6                      # WIDTH (yd), log",
    "3470-3475 * N6                      # HEIGHT (in), log",
    "3480-3485 * N6                      # HEIGHT (ft), log",
    "3490-3495 * N6                      # HEIGHT (yd), log",
    "3500-3505 * N6                      # AREA (in²)",
    "3510-3515 * N6                      # AREA (ft²)",
    "3520-3525 * N6                      # AREA (yd²)",
    "3530-3535 * N6                      # AREA (in²), log",
    "3540-3545 * N6                      # AREA (ft²), log",
    "3550-3555 * N6                      # AREA (yd²), log",
    "3560-3565 * N6                      # NET WEIGHT (t oz)",
    "3570-3575 * N6                      # NET VOLUME (oz)",
    "3600-3605 * N6                      # NET VOLUME (qt)",
    "3610-3615 * N6                      # NET VOLUME (gal.)",
    "3620-3625 * N6                      # VOLUME (qt), log",
    "3630-3635 * N6                      # VOLUME (gal.), log",
    "3640-3645 * N6                      # VOLUME (in³)",
    "3650-3655 * N6                      # VOLUME (ft³)",
    "3660-3665 * N6                      # VOLUME (yd³)",
    "3670-3675 * N6                      # VOLUME (in³), log",
    "3680-3685 * N6                      # VOLUME (ft³), log",
    "3690-3695 * N6                      # VOLUME (yd³), log",
    "37          N..8                    # COUNT",
    "410       * N13,csum                # SHIP TO LOC",
    "411       * N13,csum                # BILL TO",
    "412       * N13,csum                # PURCHASE FROM",
    "413       * N13,csum                # SHIP FOR LOC",
    "414       * N13,csum                # LOC No.",
    "415       * N13,csum                # PAY TO",
    "416       * N13,csum                # PROD/SERV LOC",
    "417       * N13,csum                # PARTY",
    "422         N3,iso3166              # ORIGIN",
    "7003        N6,yymmdd N4,hhmm       # EXPIRY TIME",
    "8200        X..70                   # PRODUCT URL",
    "90          X..30                   # INTERNAL",
    "91-99       X..90                   # INTERNAL",
  ];
  // ISO 3166-1 numeric country codes, as the syntax dictionary's iso3166 linter lists them.
  var ISO3166_NUMERIC = setOf(
    (
      "004 008 010 012 016 020 024 028 031 032 036 040 044 048 050 051 052 056 060 064 068 070 " +
      "072 074 076 084 086 090 092 096 100 104 108 112 116 120 124 132 136 140 144 148 152 156 " +
      "158 162 166 170 174 175 178 180 184 188 191 192 196 203 204 208 212 214 218 222 226 231 " +
      "232 233 234 238 239 242 246 248 250 254 258 260 262 266 268 270 275 276 288 292 296 300 " +
      "304 308 312 316 320 324 328 332 334 336 340 344 348 352 356 360 364 368 372 376 380 384 " +
      "388 392 398 400 404 408 410 414 417 418 422 426 428 430 434 438 440 442 446 450 454 458 " +
      "462 466 470 474 478 480 484 492 496 498 499 500 504 508 512 516 520 524 528 531 533 534 " +
      "535 540 548 554 558 562 566 570 574 578 580 581 583 584 585 586 591 598 600 604 608 612 " +
      "616 620 624 626 630 634 638 642 643 646 652 654 659 660 662 663 666 670 674 678 682 686 " +
      "688 690 694 702 703 704 705 706 710 716 724 728 729 732 740 744 748 752 756 760 762 764 " +
      "768 772 776 780 784 788 792 795 796 798 800 804 807 818 826 831 832 833 834 840 850 854 " +
      "858 860 862 876 882 887 894"
    ).split(" ")
  );
  var AI_COMPONENT = /^(\[)?([NX])(\.\.)?(\d+)((?:,[a-z0-9]+)*)(\])?$/;
  var AI_SPECS = parseSyntaxTable(AI_SYNTAX_TABLE);

  function parseSyntaxTable(lines) {
    var specs = Object.create(null);
    lines.forEach(function (line) {
      var hash = line.indexOf("#");
      var title = line.slice(hash + 1).replace(/^\s+|\s+$/g, "");
      var tokens = line.slice(0, hash).replace(/^\s+|\s+$/g, "").split(/\s+/);
      var range = tokens.shift().split("-");
      var predefined = tokens[0] === "*";
      if (predefined) tokens.shift();
      var components = tokens.map(function (token) {
        var match = AI_COMPONENT.exec(token);
        if (!match) throw new Error("bad AI syntax table entry " + line);
        var length = parseInt(match[4], 10);
        return {
          charset: match[2],
          minLength: match[3] ? 1 : length,
          maxLength: length,
          checks: match[5] ? match[5].split(",").slice(1) : [],
          optional: !!match[1],
        };
      });
      var spec = { title: title, components: components, predefined: predefined, minLength: 0, maxLength: 0 };
      components.forEach(function (component) {
        if (!component.optional) spec.minLength += component.minLength;
        spec.maxLength += component.maxLength;
      });
      var first = range[0];
      var last = range[1] || first;
      for (var number = parseInt(first, 10); number <= parseInt(last, 10); number++) {
        var ai = String(number);
        while (ai.length < first.length) ai = "0" + ai;
        specs[ai] = spec;
      }
    });
    return specs;
  }

  // The GS1 mod-10 check digit of a string of digits without its check digit (weights
  // 3, 1, 3, … from the right); null for anything but digits.
  function checkDigit(digits) {
    if (!/^[0-9]+$/.test(digits)) return null;
    var total = 0;
    for (var i = 0; i < digits.length; i++) {
      total += (digits.charCodeAt(digits.length - 1 - i) - 48) * (i % 2 === 0 ? 3 : 1);
    }
    return (10 - (total % 10)) % 10;
  }

  // What is wrong with value as the data of ai (a message), or null if it fits.
  // (gs1.validate_ai: lengths are counted in code points, as Python counts them.)
  function aiProblem(ai, value) {
    if (!has(AI_SPECS, ai)) return "(" + ai + ") is not an Application Identifier TraceQR knows";
    var spec = AI_SPECS[ai];
    var name = "(" + ai + ") " + spec.title;
    var chars = Array.from(value);
    var length = chars.length;
    if (!length) return name + " cannot be empty";
    if (spec.minLength === spec.maxLength && length !== spec.maxLength) {
      return name + " has exactly " + spec.maxLength + " characters, not " + length;
    }
    if (length > spec.maxLength) return name + " has at most " + spec.maxLength + " characters, not " + length;
    if (length < spec.minLength) return name + " has at least " + spec.minLength + " characters, not " + length;
    var position = 0;
    for (var i = 0; i < spec.components.length; i++) {
      var component = spec.components[i];
      if (position === length && component.optional) break;
      // Only the last component may vary in length, so the rest of the value is its.
      var end = i === spec.components.length - 1 ? length : position + component.maxLength;
      var problem = componentProblem(name, component, chars.slice(position, end));
      if (problem) return problem;
      position = end;
    }
    return null;
  }

  function componentProblem(name, component, chars) {
    var allowed = component.charset === "N" ? DIGITS : CSET82;
    for (var i = 0; i < chars.length; i++) {
      if (allowed.indexOf(chars[i]) < 0) {
        return component.charset === "N"
          ? name + " is made of digits only"
          : name + " uses letters without accents, digits and !\"%&'()*+,-./:;<=>?_ only";
      }
    }
    var part = chars.join("");
    for (var j = 0; j < component.checks.length; j++) {
      var check = component.checks[j];
      if (check === "csum") {
        var expected = checkDigit(part.slice(0, -1));
        if (expected === null) return "only digits have a GS1 check digit";
        if (expected !== parseInt(part.slice(-1), 10)) {
          return name + ": the check digit should be " + expected + ", not " + part.slice(-1);
        }
      } else if (check === "yymmd0" || check === "yymmdd") {
        if (!isYymmdd(part, check === "yymmd0")) return name + ": " + part + " is not a date written YYMMDD";
      } else if (check === "hhmm") {
        if (!(parseInt(part.slice(0, 2), 10) <= 23 && parseInt(part.slice(2), 10) <= 59)) {
          return name + ": " + part + " is not a time written HHMM";
        }
      } else if (check === "iso3166") {
        if (!has(ISO3166_NUMERIC, part)) return name + ": " + part + " is not an ISO 3166 country number";
      } else {
        throw new Error("unknown AI check " + check);
      }
    }
    return null;
  }

  // YYMMDD as the syntax dictionary's linters read it: every YY divisible by four is a
  // leap year (2000 + YY), DD 00 only where the AI allows it.
  function isYymmdd(text, dayZero) {
    var year = parseInt(text.slice(0, 2), 10);
    var month = parseInt(text.slice(2, 4), 10);
    var day = parseInt(text.slice(4, 6), 10);
    if (!(month >= 1 && month <= 12)) return false;
    if (day === 0) return dayZero;
    return day <= new Date(Date.UTC(2000 + year, month, 0)).getUTCDate();
  }

  // ---- GS1 Digital Link of a trade item (§9.4; traceqr/domain/digital_link.py) ---------

  var MAX_URI_LENGTH = 4096;
  var GTIN_AI = "01";
  var GTIN_QUALIFIER_ORDER = ["22", "10", "21"];
  var TPX_AI = "235";
  var GTIN_QUALIFIERS = setOf(["22", "10", "21", "235"]);
  // The other primary keys and qualifiers of the standard, recognised only to say what is
  // not supported rather than "not a Digital Link".
  var OTHER_PRIMARY_KEYS = setOf([
    "00", "253", "255", "401", "402", "414", "415", "416", "417",
    "8003", "8004", "8006", "8010", "8013", "8017", "8018",
  ]);
  var OTHER_QUALIFIERS = setOf(["254", "7040", "8011", "8019", "8020"]);
  // Digital Link 1.0-1.2 short names (1.2 grammar; 410-416 from 1.1), removed in 1.3.
  var LEGACY_PATH_NAMES = Object.create(null);
  [
    ["gtin", "01"], ["cpv", "22"], ["lot", "10"], ["ser", "21"], ["sscc", "00"], ["gdti", "253"],
    ["glnx", "254"], ["gcn", "255"], ["ginc", "401"], ["gsin", "402"], ["shipTo", "410"],
    ["billTo", "411"], ["purchasedFrom", "412"], ["shipFor", "413"], ["gln", "414"],
    ["payTo", "415"], ["glnProd", "416"], ["party", "417"], ["grai", "8003"], ["giai", "8004"],
    ["itip", "8006"], ["cpid", "8010"], ["cpsn", "8011"], ["gmn", "8013"], ["gsrnp", "8017"],
    ["gsrn", "8018"], ["srin", "8019"], ["refno", "8020"],
  ].forEach(function (pair) {
    LEGACY_PATH_NAMES[pair[0]] = pair[1];
  });
  var LEGACY_QUERY_NAMES = Object.create(null);
  LEGACY_QUERY_NAMES.exp = "17";
  LEGACY_QUERY_NAMES.expdt = "7003";
  LEGACY_QUERY_NAMES.lot = "10";

  var DL_URI = /^([A-Za-z][A-Za-z0-9+.\-]*):\/\/([^\/?#]*)([^?#]*)(?:\?([^#]*))?(?:#([\s\S]*))?$/;
  var DL_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  var DL_AUTHORITY = new RegExp(
    "^(?:" + DL_LABEL + "(?:\\." + DL_LABEL + ")*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?$"
  );
  // RFC 3986 pchar (plus "/" in the path, "/" and "?" in the query).
  var DL_PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%\/]*$/;
  var DL_QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%\/?]*$/;
  var DL_BAD_PERCENT = /%(?![0-9A-Fa-f]{2})/;
  var DL_BASE64URL = /^[A-Za-z0-9_-]{8,}$/;
  var BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var ALL_DIGITS = /^[0-9]+$/;
  var UNRESERVED = /^[A-Za-z0-9\-._~]$/;

  // A GS1 Digital Link URI of a trade item → {baseUrl, gtin (GTIN-14), qualifiers,
  // attributes, otherParams} (lists of [key, value], values percent-decoded), or a
  // StampFormatError with a Digital Link reason.
  function parseDigitalLink(text) {
    var uri = String(text).replace(STRIP, "");
    if (!uri) fail("empty", "there is nothing to read");
    if (Array.from(uri).length > MAX_URI_LENGTH) fail("too_long", "the text is far too long for a web address");
    // ASCII, printable, no space.
    if (!/^[\x21-\x7e]*$/.test(uri)) fail("not_a_digital_link", "a web address is ASCII text without spaces");
    var match = DL_URI.exec(uri);
    if (!match || (match[1].toLowerCase() !== "http" && match[1].toLowerCase() !== "https")) {
      fail("not_a_digital_link", "a GS1 Digital Link starts with https:// or http://");
    }
    var authority = match[2];
    if (!DL_AUTHORITY.test(authority)) fail("not_a_digital_link", "the host of the address is not a plain host name");
    var path = match[3];
    var query = match[4] || "";
    if (!DL_PATH_CHARS.test(path) || !DL_QUERY_CHARS.test(query)) {
      fail("not_a_digital_link", "the address holds characters a URI must percent-encode");
    }
    if (path.charAt(path.length - 1) === "/") path = path.slice(0, -1); // a trailing slash some resolvers add
    var segments = path ? path.split("/").slice(1) : [];

    var primary = findPrimaryKey(segments);
    var prefix = primary ? [""].concat(segments.slice(0, primary)).join("/") : "";
    var gtin = gtin14(percentDecode(segments[primary + 1]));
    var qualifiers = readQualifiers(segments.slice(primary + 2));
    var read = readQuery(
      query,
      qualifiers.map(function (pair) {
        return pair[0];
      })
    );
    return {
      baseUrl: match[1].toLowerCase() + "://" + authority.toLowerCase() + prefix,
      gtin: gtin,
      qualifiers: qualifiers,
      attributes: read.attributes,
      otherParams: read.other,
    };
  }

  function gtin14(text) {
    if (!/^[0-9]*$/.test(text) || !text) fail("bad_gtin", "(01) GTIN is made of digits only");
    if (GTIN_LENGTHS.indexOf(text.length) < 0) {
      fail("bad_gtin", "(01) GTIN has 8, 12, 13 or 14 digits, not " + text.length);
    }
    while (text.length < GTIN_LENGTH) text = "0" + text;
    var problem = aiProblem(GTIN_AI, text);
    if (problem) fail("bad_gtin", problem);
    return text;
  }

  // The AI a path segment names (digits or a legacy short name), or null.
  function pathKey(segment) {
    if (ALL_DIGITS.test(segment)) return segment;
    return has(LEGACY_PATH_NAMES, segment) ? LEGACY_PATH_NAMES[segment] : null;
  }

  // Index of the GTIN primary key: the GS1 part is read from the right, in pairs.
  function findPrimaryKey(segments) {
    var index = segments.length - 2;
    while (index >= 0) {
      var key = pathKey(segments[index]);
      if (key === GTIN_AI) return index;
      if (has(OTHER_PRIMARY_KEYS, key)) throw unsupportedPrimaryKey(key);
      if (!has(GTIN_QUALIFIERS, key) && !has(OTHER_QUALIFIERS, key)) break;
      index -= 2;
    }
    throw diagnose(segments);
  }

  // Why a path that does not end in a GTIN key and its qualifiers is refused.
  function diagnose(segments) {
    for (var index = 0; index < segments.length; index++) {
      if (pathKey(segments[index]) === GTIN_AI && index + 1 < segments.length) {
        var rest = segments.slice(index + 2);
        if (rest.length === 1 && looksCompressed(rest[0], true)) return compressed();
        for (var position = 0; position < rest.length; position += 2) {
          var key = pathKey(rest[position]);
          if (position + 1 === rest.length || key === null) {
            return stampError("bad_path", "after the GTIN the path must be pairs of an AI and its value");
          }
          if (!has(AI_SPECS, key) && !has(OTHER_QUALIFIERS, key)) return unknownAi(key);
          if (!has(GTIN_QUALIFIERS, key)) return misplaced(key, "path");
        }
        return stampError("bad_path", "after the GTIN the path must be pairs of an AI and its value");
      }
    }
    if (segments.length && looksCompressed(segments[segments.length - 1], false)) return compressed();
    for (var i = 0; i < segments.length; i++) {
      if (has(OTHER_PRIMARY_KEYS, pathKey(segments[i]))) return unsupportedPrimaryKey(pathKey(segments[i]));
    }
    return stampError("not_a_digital_link", "the address has no GS1 key such as /01/ and a GTIN in its path");
  }

  // Whether a path segment is a compressed GS1 Digital Link (which is refused): binary data
  // in base64url, mixed case. A whole compressed link starts with AI 01 or 00 and a number
  // whose check digit is right; after an uncompressed primary key (afterKey), the first
  // nibbles are the digits of a known AI. (digital_link._looks_compressed)
  function looksCompressed(segment, afterKey) {
    if (!DL_BASE64URL.test(segment) || segment === segment.toUpperCase()) return false;
    var bits = "";
    for (var i = 0; i < segment.length; i++) {
      var value = BASE64URL_ALPHABET.indexOf(segment.charAt(i)).toString(2);
      bits += "000000".slice(value.length) + value;
    }
    if (afterKey) {
      var head = (bits.slice(0, 24) + "000000000000000000000000").slice(0, 24);
      var nibbles = parseInt(head, 2).toString(16);
      while (nibbles.length < 6) nibbles = "0" + nibbles;
      if (segment.toLowerCase() === segment) return false;
      for (var ai in AI_SPECS) {
        if (nibbles.indexOf(ai) === 0) return true;
      }
      return false;
    }
    var keys = [
      ["00000001", 14, 47], // AI 01, a GTIN-14 in 47 bits
      ["00000000", 18, 60], // AI 00, an SSCC in 60 bits
    ];
    for (var k = 0; k < keys.length; k++) {
      var width = keys[k][2];
      var digits = keys[k][1];
      if (bits.indexOf(keys[k][0]) === 0 && bits.length >= 8 + width) {
        var number = binaryToDecimal(bits.slice(8, 8 + width));
        while (number.length < digits) number = "0" + number;
        if (number.length === digits && checkDigit(number.slice(0, -1)) === parseInt(number.slice(-1), 10)) {
          return true;
        }
      }
    }
    return false;
  }

  // A string of bits → its decimal digits (the numbers here pass 2^53).
  function binaryToDecimal(bits) {
    var digits = [0]; // least significant first
    for (var i = 0; i < bits.length; i++) {
      var carry = bits.charAt(i) === "1" ? 1 : 0;
      for (var j = 0; j < digits.length; j++) {
        var value = digits[j] * 2 + carry;
        digits[j] = value % 10;
        carry = value >= 10 ? 1 : 0;
      }
      if (carry) digits.push(carry);
    }
    return digits.reverse().join("");
  }

  function compressed() {
    return stampError(
      "compressed_not_supported",
      "a compressed GS1 Digital Link; TraceQR reads uncompressed links only"
    );
  }

  function unsupportedPrimaryKey(ai) {
    return stampError(
      "unsupported_primary_key",
      "a GS1 Digital Link of AI (" + ai + "); TraceQR reads links of a GTIN (01) only"
    );
  }

  function unknownAi(ai) {
    return stampError("unknown_ai", "(" + ai.slice(0, 8) + ") is not an Application Identifier TraceQR knows");
  }

  function misplaced(ai, where) {
    return stampError(
      "misplaced_ai",
      where === "path"
        ? "(" + ai + ") is not a key qualifier of a GTIN: it belongs in the query string"
        : "(" + ai + ") belongs in the path of a GS1 Digital Link, not in its query string"
    );
  }

  function badOrder(message) {
    return stampError("bad_order", message || "(235) follows the GTIN alone, without (22), (10) or (21)");
  }

  function readQualifiers(segments) {
    var qualifiers = [];
    for (var position = 0; position < segments.length; position += 2) {
      var ai = pathKey(segments[position]); // findPrimaryKey walked these pairs
      if (has(OTHER_QUALIFIERS, ai)) throw misplaced(ai, "path");
      var previous = qualifiers.length ? qualifiers[qualifiers.length - 1][0] : null;
      if (ai === TPX_AI && qualifiers.length) throw badOrder();
      if (previous === TPX_AI) throw badOrder();
      if (
        ai !== TPX_AI &&
        previous !== null &&
        GTIN_QUALIFIER_ORDER.indexOf(ai) <= GTIN_QUALIFIER_ORDER.indexOf(previous)
      ) {
        throw badOrder(
          "key qualifiers come in the order (22), (10), (21), each once; (" + ai + ") comes after (" + previous + ")"
        );
      }
      qualifiers.push([ai, validated(ai, percentDecode(segments[position + 1]))]);
    }
    return qualifiers;
  }

  function readQuery(query, pathAis) {
    var attributes = [];
    var other = [];
    var seen = setOf(pathAis);
    var parameters = query.split(/[&;]/);
    for (var i = 0; i < parameters.length; i++) {
      var parameter = parameters[i];
      if (!parameter) continue;
      var equals = parameter.indexOf("=");
      var rawKey = equals < 0 ? parameter : parameter.slice(0, equals);
      var rawValue = equals < 0 ? "" : parameter.slice(equals + 1);
      var key = percentDecode(rawKey);
      var value = percentDecode(rawValue);
      var ai;
      if (ALL_DIGITS.test(key)) ai = key;
      else if (has(LEGACY_QUERY_NAMES, key)) ai = LEGACY_QUERY_NAMES[key];
      else {
        other.push([key, value]);
        continue;
      }
      if (!has(AI_SPECS, ai)) throw unknownAi(ai);
      if (ai === GTIN_AI || (has(GTIN_QUALIFIERS, ai) && ai !== "10")) throw misplaced(ai, "query");
      if (has(seen, ai)) throw stampError("duplicate_ai", "(" + ai + ") appears twice in the GS1 Digital Link");
      seen[ai] = true;
      attributes.push([ai, validated(ai, value)]);
    }
    return { attributes: attributes, other: other };
  }

  function validated(ai, value) {
    if (!has(AI_SPECS, ai)) throw unknownAi(ai);
    var problem = aiProblem(ai, value);
    if (problem) fail("bad_ai_value", problem);
    return value;
  }

  // Percent-decode strictly: every "%" starts two hex digits, and the bytes are UTF-8.
  // (decodeURIComponent refuses what Python's strict UTF-8 refuses: bad sequences,
  // overlong forms, surrogates; and keeps a BOM, where TextDecoder would drop it.)
  function percentDecode(text) {
    if (text.indexOf("%") < 0) return text;
    if (DL_BAD_PERCENT.test(text)) fail("bad_percent_encoding", "a percent sign in a web address starts two hexadecimal digits");
    try {
      return decodeURIComponent(text);
    } catch (e) {
      fail("bad_percent_encoding", "the percent-encoded bytes are not UTF-8 text");
    }
  }

  // All but the unreserved characters (RFC 3986) as %XX with upper-case hex.
  function percentEncode(value) {
    var out = "";
    var chars = Array.from(value);
    for (var i = 0; i < chars.length; i++) {
      out += UNRESERVED.test(chars[i])
        ? chars[i]
        : encodeURIComponent(chars[i]).replace(/[!'()*]/g, function (ch) {
            return "%" + ch.charCodeAt(0).toString(16).toUpperCase();
          });
    }
    return out;
  }

  // ---- version 2: a GS1 Digital Link that verifies offline (§9) ------------------------

  var KID_TEXT = /^[0-9A-Fa-f]{8}$/;

  // The exact bytes an issuer signs for a version 2 stamp (§9.1).
  function signedMessageV2(kid, serial, gtin, lot) {
    return concat(ascii(CONTEXT_V2), [FORMAT_V2], kid, serial, ascii(gtin), [0], ascii(lot));
  }

  // A parsed Digital Link → a version 2 stamp, or a StampFormatError (§9.3 steps 4-8).
  // With publicUrl (the service) the base URL must be it; without, any host is read.
  function parseV2Link(link, publicUrl) {
    var keyIds = [];
    var signatures = [];
    link.otherParams.forEach(function (pair) {
      var name = pair[0].toUpperCase();
      if (name === "K") keyIds.push(pair[1]);
      if (name === "S") signatures.push(pair[1]);
    });
    if (!keyIds.length && !signatures.length) throw unsignedLink();
    if (publicUrl && link.baseUrl.toUpperCase() !== normalizePublicUrl(publicUrl).toUpperCase()) {
      fail("foreign_url", "the URL is not a stamp URL of this service");
    }
    if (keyIds.length > 1 || signatures.length > 1) {
      fail("duplicate_parameter", "the stamp link carries its key id or signature twice");
    }
    if (!keyIds.length) fail("missing_key_id", "the stamp link has no key id (K)");
    if (!signatures.length) fail("missing_signature", "the stamp link has no signature (S)");
    var ais = link.qualifiers
      .map(function (pair) {
        return pair[0];
      })
      .join(",");
    if (ais !== "10,21") fail("not_a_stamp_link", "a stamp link names a GTIN, a lot (10) and a serial (21) only");
    if (link.attributes.length) {
      fail(
        "unsigned_data",
        "the stamp link carries GS1 data its signature does not cover: " +
          link.attributes
            .map(function (pair) {
              return "(" + pair[0] + ")";
            })
            .join(", ")
      );
    }
    if (!KID_TEXT.test(keyIds[0])) fail("bad_key_id", "a key id is 8 hexadecimal digits");
    var signature;
    try {
      // "ı".toUpperCase() is "I": refuse anything but ASCII before folding.
      if (!isAscii(signatures[0])) fail("bad_character", "a signature is ASCII text");
      signature = base32DecodeCanonical(signatures[0].toUpperCase(), SIGNATURE_LENGTH);
    } catch (error) {
      if (!error.reason) throw error;
      fail(
        "bad_signature_encoding",
        "the signature is not 103 base32 characters in their one canonical spelling: " + error.message
      );
    }
    var lot = qualifier(link, "10");
    var serial;
    try {
      serial = crockfordDecode(qualifier(link, "21").toUpperCase(), SERIAL_LENGTH);
    } catch (error) {
      if (!error.reason) throw error;
      fail("bad_serial", "the serial (21) of a stamp is 16 Crockford base32 characters");
    }
    var kid = hex(keyIds[0].toLowerCase());
    return {
      version: FORMAT_V2,
      kid: kid,
      serial: serial,
      signature: signature,
      gtin: link.gtin,
      lot: lot,
      signedMessage: signedMessageV2(kid, serial, link.gtin, lot),
      code: null,
    };
  }

  function qualifier(link, ai) {
    for (var i = 0; i < link.qualifiers.length; i++) {
      if (link.qualifiers[i][0] === ai) return link.qualifiers[i][1];
    }
    return null;
  }

  // Whether a text that failed GS1 Digital Link parsing still carries K or S.
  function hasStampParameters(text) {
    var beforeFragment = text.split("#")[0];
    var question = beforeFragment.indexOf("?");
    var query = question < 0 ? "" : beforeFragment.slice(question + 1);
    return query.split(/[&;]/).some(function (part) {
      var name = part.split("=")[0].toUpperCase();
      return name === "K" || name === "S";
    });
  }

  function unsignedLink() {
    return stampError(
      "unsigned_digital_link",
      "a GS1 Digital Link, but not a TraceQR stamp: it carries no signature"
    );
  }

  // The text printed in the QR of a version 2 stamp (§9.2): the canonical GS1 Digital Link
  // on publicUrl. stamp: {kid, serial, gtin, lot, signature} as bytes/text, or a result of
  // verifyStamp (kid hex, serial text, signatureText).
  function stampUrlV2(publicUrl, stamp) {
    var kid = typeof stamp.kid === "string" ? stamp.kid : toHex(stamp.kid);
    var serial = typeof stamp.serial === "string" ? stamp.serial : serialText(stamp.serial);
    var signature = stamp.signatureText || base32Encode(stamp.signature);
    return (
      normalizePublicUrl(publicUrl) +
      "/01/" +
      stamp.gtin +
      "/10/" +
      percentEncode(stamp.lot) +
      "/21/" +
      serial +
      "?K=" +
      kid.toUpperCase() +
      "&S=" +
      signature
    );
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
        status: jwk.traceqr_status === "retired" || jwk.traceqr_status === "compromised" ? jwk.traceqr_status : "active",
        createdAt: typeof jwk.traceqr_created_at === "string" ? jwk.traceqr_created_at : null,
        compromisedAt: typeof jwk.traceqr_compromised_at === "string" ? jwk.traceqr_compromised_at : null,
        purpose: has(KEY_PURPOSES, jwk.traceqr_purpose) ? jwk.traceqr_purpose : "live",
        producer: producerFacts(jwk.traceqr_producer),
        withdrawnAt: textOrNull(jwk.traceqr_withdrawn_at),
        withdrawalReason: textOrNull(jwk.traceqr_withdrawal_reason),
        jwk: jwk,
      });
    });
    return keys;
  }

  // A live key signs stamps for goods; a test key (an unverified business's) signs test
  // stamps only ("TEM THỬ"), never a genuine product's. (keys.KEY_PURPOSES)
  var KEY_PURPOSES = setOf(["live", "test"]);
  var PRODUCER_FIELDS = ["legal_name", "tax_code", "verified_at", "verified_by"];

  function textOrNull(value) {
    return typeof value === "string" ? value : null;
  }

  // A producer's verified identity ({legal_name, tax_code?, verified_at?, verified_by?},
  // the string members only), or null when it is missing or damaged: a damaged identity
  // is no identity. (keys.producer_facts)
  function producerFacts(value) {
    if (!value || typeof value !== "object" || Array.isArray(value)) return null;
    if (typeof value.legal_name !== "string" || !value.legal_name) return null;
    var facts = {};
    PRODUCER_FIELDS.forEach(function (name) {
      if (Object.prototype.hasOwnProperty.call(value, name) && typeof value[name] === "string") facts[name] = value[name];
    });
    return facts;
  }

  // ---- the operator's root and key certificates (docs/keys.md) ----------------------------

  // The root keys of a root document: a JWKS of root JWKs, or one JWK.
  function parseRoots(document) {
    var list = document && Array.isArray(document.keys) ? document.keys : document && typeof document === "object" ? [document] : [];
    var roots = [];
    list.forEach(function (jwk) {
      if (!jwk || typeof jwk !== "object" || jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || "d" in jwk) return;
      if ((jwk.traceqr_role || "root") !== "root") return;
      if (typeof jwk.kid !== "string" || !/^[0-9a-fA-F]{8}$/.test(jwk.kid)) return;
      var key = base64UrlDecode(jwk.x);
      if (!key || key.length !== 32) return;
      roots.push({ kid: jwk.kid.toLowerCase(), key: key, x: jwk.x });
    });
    return roots;
  }

  // The root a key set carries with it: convenient for a first pin, proves nothing alone.
  function embeddedRoots(document) {
    return document && document.traceqr_root ? parseRoots(document.traceqr_root) : [];
  }

  // The RFC 7638 thumbprint of a root (what the operator prints for inspectors to compare).
  function rootThumbprint(root) {
    var canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + root.x + '"}';
    if (!subtle()) return Promise.resolve(null);
    return subtle()
      .digest("SHA-256", ascii(canonical))
      .then(function (digest) {
        var bytes = new Uint8Array(digest);
        var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        var out = "";
        for (var i = 0; i < bytes.length; i += 3) {
          var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
          var chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
          for (var j = 0; j < chars; j++) out += alphabet.charAt((n >> (18 - 6 * j)) & 63);
        }
        return out;
      })
      .catch(function () {
        return null;
      });
  }

  function jsonOf(bytes) {
    if (!bytes) return null;
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (e) {
      return null;
    }
  }

  var CERT_STATUSES = setOf(["active", "retired", "compromised"]);

  // The key as its certificate (traceqr_cert, a compact JWS by a root) states it, or a
  // rejection with its reason. The facts come from the signed payload, never from the
  // JWK's own traceqr_* members.
  function checkCertificate(key, roots) {
    var reject = function (why) {
      return { key: null, kid: key.kid, reason: why };
    };
    var token = key.jwk && key.jwk.traceqr_cert;
    if (typeof token !== "string") return Promise.resolve(reject("no_certificate"));
    var parts = token.split(".");
    if (parts.length !== 3) return Promise.resolve(reject("bad_certificate"));
    var header = jsonOf(base64UrlDecode(parts[0]));
    var claims = jsonOf(base64UrlDecode(parts[1]));
    var signature = base64UrlDecode(parts[2]);
    if (!header || !claims || !signature || signature.length !== 64) return Promise.resolve(reject("bad_certificate"));
    if (header.alg !== "EdDSA" || header.typ !== "traceqr-key-cert+jws") return Promise.resolve(reject("bad_certificate"));
    var signers = roots.filter(function (root) {
      return typeof header.kid === "string" && root.kid === header.kid.toLowerCase();
    });
    if (!signers.length) return Promise.resolve(reject("other_root"));
    var signingInput = ascii(parts[0] + "." + parts[1]);
    return Promise.all(
      signers.map(function (root) {
        return ed25519Verify(root.key, signature, signingInput);
      })
    ).then(function (verdicts) {
      if (verdicts.indexOf(true) < 0) return reject("other_root");
      if (claims.v !== 1 && claims.v !== 2) return reject("unknown_certificate_version");
      if (claims.kid !== key.kid || claims.x !== key.jwk.x) return reject("certificate_of_another_key");
      if (!has(CERT_STATUSES, claims.status)) return reject("bad_certificate");
      // Version 1 knew only live keys; from version 2 the purpose must be stated and known.
      var purpose = claims.v === 1 && !Object.prototype.hasOwnProperty.call(claims, "purpose") ? "live" : claims.purpose;
      if (!has(KEY_PURPOSES, purpose)) return reject("unknown_purpose");
      var test = purpose === "test";
      return {
        key: {
          kid: key.kid,
          key: key.key,
          businessId: typeof claims.business_id === "number" ? claims.business_id : null,
          // A test key names no business: its stamps are nobody's product.
          businessName: !test && typeof claims.business_name === "string" ? claims.business_name : null,
          status: claims.status,
          createdAt: typeof claims.valid_from === "string" ? claims.valid_from : null,
          compromisedAt: typeof claims.compromised_at === "string" ? claims.compromised_at : null,
          compromiseReason: typeof claims.compromise_reason === "string" ? claims.compromise_reason : null,
          purpose: purpose,
          producer: test ? null : producerFacts(claims.producer),
          withdrawnAt: textOrNull(claims.withdrawn_at),
          withdrawalReason: textOrNull(claims.withdrawal_reason),
          certificateVersion: claims.v,
          certifiedAt: typeof claims.certified_at === "string" ? claims.certified_at : null,
          certified: true,
        },
        kid: key.kid,
        reason: null,
      };
    });
  }

  // The business keys of a key set that a root in ``roots`` certified, and the others with
  // why they were left out: {keys: [...], rejected: [{kid, reason}]}.
  function certifiedKeys(document, roots) {
    var keys = parseJwks(document);
    if (!roots || !roots.length) {
      return Promise.resolve({
        keys: [],
        rejected: keys.map(function (key) {
          return { kid: key.kid, reason: "no_root" };
        }),
      });
    }
    return Promise.all(
      keys.map(function (key) {
        return checkCertificate(key, roots);
      })
    ).then(function (checked) {
      return {
        keys: checked.filter(function (c) {
          return c.key;
        }).map(function (c) {
          return c.key;
        }),
        rejected: checked.filter(function (c) {
          return !c.key;
        }).map(function (c) {
          return { kid: c.kid, reason: c.reason };
        }),
      };
    });
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
    if (stamp.version === FORMAT_V2) {
      // What the text claims; signed, so facts once the signature verifies.
      result.gtin = stamp.gtin;
      result.lot = stamp.lot;
      result.signatureText = base32Encode(stamp.signature);
    }
    var keys = parseJwks(jwks);
    var rejected = (options && options.rejected) || [];
    var leftOut = rejected.some(function (r) {
      return r.kid === kid;
    });
    if (!keys.length && !leftOut) {
      result.reason = "no_keys";
      result.message = "no key set to check against";
      return Promise.resolve(result);
    }
    var candidates = keys.filter(function (key) {
      return key.kid === kid;
    });
    if (!candidates.length && leftOut) {
      result.reason = "uncertified_key";
      result.message = "key " + kid + " is not vouched for by the root key";
      return Promise.resolve(result);
    }
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
      var test = key.purpose === "test";
      result.valid = true;
      result.signatureValid = true;
      result.purpose = test ? "test" : "live";
      result.businessName = test ? null : key.businessName;
      result.businessId = key.businessId;
      result.keyStatus = key.status;
      result.producer = test ? null : key.producer || null;
      if (test) {
        // A test key's stamp is never a product's, whenever it was signed and whatever
        // else its certificate says: not valid, and certain of it.
        result.valid = false;
        result.reason = "test_stamp";
        result.message = "TEST STAMP — not for products";
      } else if (key.compromisedAt) {
        // A stamp carries no issue time: offline, a stamp of a key compromised from T may
        // be a genuine one from before T, or not. Never "valid"; the online check decides.
        result.valid = false;
        result.signatureValid = true;
        result.uncertain = true;
        result.reason = "key_compromised";
        result.keyCompromisedAt = key.compromisedAt;
        result.message = "the key was reported compromised from " + key.compromisedAt + ": check online";
      } else if (key.withdrawnAt) {
        // The producer's verification was withdrawn from T (fraud found later): its stamps
        // from T on are not vouched for, and a stamp carries no issue time. As for a
        // compromised key, the online check decides.
        result.valid = false;
        result.uncertain = true;
        result.reason = "verification_withdrawn";
        result.withdrawnAt = key.withdrawnAt;
        result.withdrawalReason = key.withdrawalReason || null;
        result.message = "the producer's verification was withdrawn from " + key.withdrawnAt + ": check online";
      }
      return result;
    });
  }

  return {
    CODE_LENGTH: CODE_LENGTH,
    extractCode: extractCode,
    decodeCode: decodeCode,
    parseScannedText: parseScannedText,
    parseDigitalLink: parseDigitalLink,
    parseV2Link: parseV2Link,
    signedMessageV2: signedMessageV2,
    stampUrlV2: stampUrlV2,
    base32DecodeCanonical: base32DecodeCanonical,
    normalizePublicUrl: normalizePublicUrl,
    serialText: serialText,
    shortCode: shortCode,
    parseJwks: parseJwks,
    parseRoots: parseRoots,
    embeddedRoots: embeddedRoots,
    rootThumbprint: rootThumbprint,
    certifiedKeys: certifiedKeys,
    ed25519Verify: ed25519Verify,
    backend: backend,
    setBackend: setBackend,
    verifyStamp: verifyStamp,
    toHex: toHex,
  };
});
