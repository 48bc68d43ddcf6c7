"""Coarse, privacy-preserving facts about who scanned: never the address itself."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

DEVICE_FAMILIES = ("android", "ios", "windows", "mac", "linux", "bot", "other")


def device_family(user_agent: str | None) -> str:
    """The device family from a User-Agent header, or "other"."""
    ua = (user_agent or "").lower()
    if not ua:
        return "other"
    if any(word in ua for word in ("bot", "crawler", "spider", "curl/", "python-", "wget/")):
        return "bot"
    if "android" in ua:
        return "android"
    if any(word in ua for word in ("iphone", "ipad", "ipod")):
        return "ios"
    if "windows" in ua:
        return "windows"
    if "macintosh" in ua or "mac os x" in ua:
        return "mac"
    if "linux" in ua or "x11" in ua:
        return "linux"
    return "other"


ROTATIONS = ("never", "monthly", "daily")


def hash_client_address(address: str | None, salt: bytes, period: str = "") -> bytes | None:
    """A keyed hash of a client address: equal addresses match, the address is not kept.

    ``period`` (a month or a day, see :func:`salt_period`) changes the hash with time, so
    that hashes from different periods cannot be linked at all.
    """
    if not address:
        return None
    return hmac.new(salt, f"{period}|{address}".encode(), hashlib.sha256).digest()[:16]


def salt_period(rotation: str, when: date) -> str:
    """The part of the hashing key that rotates: nothing, the month or the day."""
    if rotation == "daily":
        return when.isoformat()
    if rotation == "monthly":
        return when.strftime("%Y-%m")
    return ""
