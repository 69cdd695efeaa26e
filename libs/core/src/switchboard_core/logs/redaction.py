"""The last line of defence: a secret some log call let through is masked before the
line is written.

Nothing should need it (log calls name a credential's type, never its value), but a
library's message or an exception's text can quote a header or a URL. Only a line
holding one of a few markers is searched at all, so the common line costs one scan for
the markers and no regular expression.
"""

from __future__ import annotations

import re

MASK = "[redacted]"
# Lower-case substrings one of which every masked pattern contains.
_MARKERS = ("bearer", "basic ", "eyj", "pass", "secret", "token", "key", "authorization", "credential", "@")
# `Bearer <token>`, `Basic <base64>` (an Authorization header's value, wherever quoted): a
# credential has a digit, a symbol or a capital after a small letter, an English word has not.
_CREDENTIAL = r"[A-Za-z0-9._~+/=\-]"
_SCHEME = re.compile(
    rf"\b((?i:bearer|basic))(\s+)(?={_CREDENTIAL}*(?:[0-9+/=._~\-]|[a-z]{_CREDENTIAL}*[A-Z])){_CREDENTIAL}{{6,}}"
)
# A JWT (three base64url parts, the first a JSON object: `eyJ`), with or without a scheme.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
# The user information of a URL: `https://user:password@host/`.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@")
# `password=…`, `"client_secret": "…"`, `api_key: …`, `?access_token=…`, `authorization: …`.
_PAIR = re.compile(
    r"(?i)\b([a-z0-9_\-]*(?:password|passwd|secret|token|key|authorization|credentials?))"
    r"(\"?'?\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s\"'&,;)}\[\]]+)"
)


def redact(text: str) -> str:
    """`text` with bearer/basic credentials, JWTs, URL passwords and secret-named pairs masked."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _MARKERS):
        return text
    text = _JWT.sub(MASK, text)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _PAIR.sub(_pair_masked, text)


def _pair_masked(match: re.Match[str]) -> str:
    value = match.group(3)
    if value.lower() in ("bearer", "basic") or MASK in value:  # `authorization: Bearer [redacted]`
        return match.group(0)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group(1)}{match.group(2)}{quote}{MASK}{quote}"
