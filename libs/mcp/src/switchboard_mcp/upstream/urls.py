"""Which URLs the gateway accepts to reach for users: absolute http(s), read one way only.

A URL two parsers read differently is how a request reaches a host its check never saw
(`http://a.example\\@b.example/`: a backslash is a slash to browsers and WHATWG, part of
the user info to RFC 3986). So a URL is accepted only when it is plain ASCII without
spaces, control characters or backslashes, carries no user info (credentials go in a
gateway's `auth`), has a host that is a DNS name or an IP literal, a port in 1..65535,
and the HTTP client (httpx) reads the same host and port as the standard library does.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import httpx

MAX_URL_LENGTH = 2048
# Printable ASCII less space, backslash and the characters RFC 3986 never allows raw.
_URL = re.compile(r"[!#-\[\]-~]+")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def url_problem(url: str) -> str | None:
    """Why `url` is not a URL the gateway may be given to reach, or None."""
    if not url or len(url) > MAX_URL_LENGTH:
        return f"a URL has 1 to {MAX_URL_LENGTH} characters"
    if not _URL.fullmatch(url) or '"' in url or "<" in url or ">" in url:
        return (
            "a URL is ASCII without spaces, control characters, backslashes, quotes or "
            "angle brackets (percent-encode them)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "it must be an http:// or https:// URL with a host"
    if "@" in parts.netloc:
        return "a URL with user info (user@host) is refused: give credentials as the gateway's auth"
    if port == 0:
        return "port 0 cannot be connected to"
    host = parts.hostname
    if not (_HOST_NAME.fullmatch(host) and len(host) <= 253) and not _ip_literal(host):
        return f"{host!r} is neither a host name nor an IP address"
    try:
        read = httpx.URL(url)
    except (httpx.InvalidURL, UnicodeError) as exc:
        return f"not a valid URL: {exc}"
    default = 443 if parts.scheme == "https" else 80
    if read.host.rstrip(".") != host.lower().rstrip(".") or (read.port or default) != (port or default):
        return "the URL's host or port reads differently to different parsers"
    return None


def check_url(url: str) -> str:
    """`url`, or ValueError saying why the gateway refuses to reach it."""
    if problem := url_problem(url):
        raise ValueError(problem)
    return url


def _ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
