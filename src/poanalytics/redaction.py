"""Redaction: personal data and secrets are replaced before anything leaves the workbench.

``redact(text)`` replaces, in this order (each pass sees the placeholders of the ones before):

============  ===========  ==========================================================================
placeholder   kind         what is detected
============  ===========  ==========================================================================
``[secret]``  secret       the values of the keys listed in ``[redact] secrets`` and of ``secrets=``
``[token]``   token        secret-looking URL parameters (``?token=``, ``&sig=``, ``#access_token=``;
                           host and path kept), passwords in ``user:pass@`` URLs, ``Bearer``/``Basic``
                           credentials, ``password=...``/``api_key: ...`` pairs, known key shapes
                           (``sk_live_``, ``ghp_``, ``github_pat_``, ``xoxb-``, ``AKIA``, ``AIza``,
                           ``glpat-``, JWTs ``eyJ..``, PEM private keys)
``[email]``   email        e-mail addresses (also in ``<angle brackets>``, ``+tags``, sub-domains and
                           non-ASCII letters)
``[card]``    card         13-19 digits, optionally grouped by spaces or dashes, passing the Luhn check
``[ip]``      ip           IPv6 and IPv4 addresses (rules below)
``[phone]``   phone        phone numbers found by ``phonenumbers`` (rules below)
``[name]``    name         the names in ``[redact] names`` and ``names=`` (whole words, any case)
============  ===========  ==========================================================================

With ``placeholder = "redacted"`` every kind becomes ``[redacted]``. The rules, in short (the
reasons are in docs/redaction.md): an IPv4 address has four octets 0-255 (zero-padded too), is
not part of a longer dotted number, and does not follow a version word (``version 1.2.3.4``,
``v1.2.3.4``, ``build``, ``release``, ``app``, ``ios``, ...). A phone number is one that
libphonenumber calls valid in the default region (or with its ``+`` country code), or a possible one
written with grouping (``(555) 010-4477``); a bare digit run after ``#`` or an id word (order,
invoice, ticket, ref, ...) is an id, not a phone. Redaction is idempotent.

DataFrames and plotly figures: report/redact_objects.py.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from .config import CONFIG_NAME, find_root
from .errors import ConfigError, InputError

KINDS = ("secret", "token", "email", "card", "ip", "phone", "name")
PLACEHOLDER_STYLES = ("kind", "redacted")


@dataclass(frozen=True)
class RedactConfig:
    """The ``[redact]`` section of conf/poanalytics.toml, with the secret values resolved.

    ``secrets`` lists keys (a dotted key of the config file such as ``"delivery.smtp_password"``,
    or an environment variable name); ``secret_values`` holds what they resolved to.
    """

    names: tuple[str, ...] = ()
    default_region: str = "US"
    placeholder: str = "kind"
    secrets: tuple[str, ...] = ()
    secret_values: tuple[str, ...] = field(default=(), repr=False)  # never printed

    def token(self, kind: str) -> str:
        return f"[{kind}]" if self.placeholder == "kind" else "[redacted]"


def _config_error(message: str, code: str, hint: str) -> ConfigError:
    return ConfigError(message, code=code, hint=hint)


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def parse_config(data: dict[str, Any]) -> RedactConfig:
    """Check the ``[redact]`` section of a parsed config file and resolve its secrets."""
    section = data.get("redact", {}) or {}
    names = section.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _config_error(
            f"[redact] names must be a list of strings, got {names!r}",
            "redact.names",
            'write e.g. names = ["Ada Bakker", "Bram"] in conf/poanalytics.toml',
        )
    region = str(section.get("default_region", "US")).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise _config_error(
            f"[redact] default_region {region!r} is not a region libphonenumber knows",
            "redact.region",
            'use a two-letter ISO 3166 region code such as "US", "GB" or "NL"',
        )
    style = section.get("placeholder", "kind")
    if style not in PLACEHOLDER_STYLES:
        raise _config_error(
            f"[redact] placeholder {style!r} is not one of {list(PLACEHOLDER_STYLES)}",
            "redact.placeholder",
            '"kind" writes [email], [phone], ...; "redacted" writes [redacted] for all',
        )
    keys = section.get("secrets", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _config_error(
            f"[redact] secrets must be a list of key names, got {keys!r}",
            "redact.secrets",
            'list config keys or environment variables, e.g. secrets = ["delivery.smtp_password"]',
        )
    values = []
    for key in keys:
        value = _lookup(data, key)
        if value is None:
            value = os.environ.get(key)
        if value not in (None, ""):
            values.append(str(value))
    values = list(_check_secrets(values, "[redact] secrets"))
    return RedactConfig(tuple(names), region, style, tuple(keys), tuple(values))


@lru_cache(maxsize=8)
def _load(path: Path, mtime: float) -> RedactConfig:
    with path.open("rb") as fh:
        return parse_config(tomllib.load(fh))


def load_config(root: Path | None = None) -> RedactConfig:
    """The project's ``[redact]`` settings (defaults when the config file has none)."""
    path = find_root(root) / CONFIG_NAME
    if not path.is_file():
        return RedactConfig()
    return _load(path, path.stat().st_mtime)


# -- detectors -------------------------------------------------------------------------------

_SECRET_KEY = re.compile(
    r"(?:^|[_.\-])(?:token|key|apikey|secret|password|passwd|pwd|pass|sig|signature|auth"
    r"|authorization|credentials?|session|sessionid|sid|jwt|code|otp)(?:[_.\-]|$)"
    r"|(?:token|secret|key|signature|password)$",
    re.IGNORECASE,
)
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s<>\"'\[\]]+", re.IGNORECASE)
_URL_PARAM = re.compile(r"([?&#;])([^=&#\s]+)=([^&#\s]*)")
_URL_USERINFO = re.compile(r"^([a-z]+://[^:/@\s]+):([^@/\s]+)@", re.IGNORECASE)
_TOKEN_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s]*-----END [A-Z ]*PRIVATE KEY-----"
    r"|\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r"|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
    r"|\bwhsec_[A-Za-z0-9]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_-]{35}",
)
_AUTH_HEADER = re.compile(r"\b(Bearer|Basic)(\s+)(?!\[)[A-Za-z0-9\-._~+/]{12,}=*", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"\b((?:api|access|auth|refresh|client|secret)?[_-]?(?:key|token|secret|password|passwd|pwd))"
    r"([\"']?\s*[:=]\s*[\"']?)(?!\[)([^\s,;&\"'<>]+)",
    re.IGNORECASE,
)
_EMAIL = re.compile(
    r"\w[\w.%+'-]{0,63}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,}|xn--[a-z0-9-]+)",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w/-]|[.,]\d)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{0,4})(?:%\w+)?(?![\w:])",
    re.IGNORECASE,
)
_VERSION_BEFORE = re.compile(
    r"(?:\b(?:version|ver|v|build|release|rel|firmware|fw|sdk|app|ios|android|macos|windows"
    r"|chrome|firefox|safari|edge|python|node)\.?\s*[:=#]?\s*)$",
    re.IGNORECASE,
)
_ID_BEFORE = re.compile(
    r"(?:#|\b(?:order|invoice|ticket|case|ref|reference|id|no|nr|number|sku|tracking|po"
    r"|transaction|txn|build|batch|serial|customer)\.?\s*[:#]?\s*)$",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _url_token(url: str, token: str) -> str:
    def param(m: re.Match[str]) -> str:
        sep, key, value = m.groups()
        if value and not value.startswith("[") and _SECRET_KEY.search(key):
            return f"{sep}{key}={token}"
        return m.group(0)

    url = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{token}@", url)
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return url[:cut] + _URL_PARAM.sub(param, url[cut:])


def _tokens(text: str, token: str) -> str:
    text = _URL.sub(lambda m: _url_token(m.group(0), token), text)
    text = _TOKEN_SHAPES.sub(token, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{token}", text)

    def pair(m: re.Match[str]) -> str:
        key, sep, value = m.groups()
        secret_like = "=" in sep or len(value) >= 16 or not value.isalpha()
        return f"{key}{sep}{token}" if secret_like else m.group(0)

    return _KEY_VALUE.sub(pair, text)


def _cards(text: str, token: str) -> str:
    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return token if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)

    return _CARD.sub(card, text)


def _ips(text: str, token: str) -> str:
    def v6(m: re.Match[str]) -> str:
        try:
            ipaddress.IPv6Address(m.group(0).split("%")[0])
        except ValueError:
            return m.group(0)
        groups = [g for g in re.split(r"[:.]", m.group(0).split("%")[0]) if g]
        return token if len(groups) >= 3 or any(len(g) >= 3 for g in groups) else m.group(0)

    def v4(m: re.Match[str]) -> str:
        # octets 0-255; zero-padded ones too ("192.168.001.001"), which ipaddress refuses
        if any(int(octet) > 255 for octet in m.group(0).split(".")):
            return m.group(0)
        if _VERSION_BEFORE.search(text, max(0, m.start() - 40), m.start()):
            return m.group(0)
        return token

    text = _IPV6.sub(v6, text) if text.count(":") >= 2 else text
    return _IPV4.sub(v4, text)


def _is_phone(text: str, match: Any) -> bool:
    raw: str = match.raw_string
    if raw.isdigit() and _ID_BEFORE.search(text, max(0, match.start - 40), match.start):
        return False  # "Order #4155550132": an id written as a bare digit run
    if phonenumbers.is_valid_number(match.number):
        return True
    # a possible (not valid) number counts only when written like one: "(555) 010-4477"
    digits = sum(c.isdigit() for c in raw)
    grouped = raw.startswith(("+", "(")) or len(re.findall(r"\d[\s.\-]+\d", raw)) >= 2
    return grouped and digits >= 10


# seven digits with at most a few separators between them: the least any phone number has
_PHONE_HINT = re.compile(r"\d(?:[\s().\-/\u2010-\u2015]{0,4}\d){6}")


def _phones(text: str, token: str, region: str) -> str:
    if not _PHONE_HINT.search(text):
        return text
    spans = [
        (m.start, m.end)
        for m in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE)
        if _is_phone(text, m)
    ]
    for start, end in reversed(spans):
        text = text[:start] + token + text[end:]
    return text


MIN_SECRET_CHARS = 4


def _check_secrets(values: Iterable[str], where: str) -> tuple[str, ...]:
    short = [v for v in values if len(v) < MIN_SECRET_CHARS]
    if short:
        raise ConfigError(
            f"{len(short)} secret value(s) from {where} are shorter than {MIN_SECRET_CHARS} "
            "characters; they cannot be hidden without hiding ordinary text",
            code="redact.secret_short",
            hint="do not mark such a value secret (it guards nothing), or use a longer one",
        )
    return tuple(values)


@lru_cache(maxsize=64)
def _literal_pattern(values: tuple[str, ...]) -> re.Pattern[str] | None:
    found = sorted(set(values), key=len, reverse=True)
    variants = [re.escape(v) for v in found]
    return re.compile("|".join(variants)) if variants else None


def _trie_alternation(words: Iterable[str]) -> str:
    """One regex for many literal words, shared prefixes factored out ("Ada|Adam" -> "Ada(?:m)?"):
    Python's re tries alternatives one by one, so thousands of names would be slow otherwise."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        alts = [
            (r"\s+" if ch == " " else re.escape(ch)) + pattern(sub)
            for ch, sub in node.items()
            if ch
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if ends:  # a shorter name ends here; try the longer one first
            body = body + "?" if len(alts) == 1 and len(alts[0]) == 1 else f"(?:{body})?"
        return body

    return pattern(trie)


@lru_cache(maxsize=64)
def _names_pattern(names: tuple[str, ...], reserved: frozenset[str]) -> re.Pattern[str] | None:
    clean = {" ".join(n.split()).lower() for n in names if isinstance(n, str)}
    kept = [n for n in clean if len(n) >= 2 and n not in reserved]
    if not kept:
        return None
    return re.compile(r"(?<!\w)" + _trie_alternation(kept) + r"(?!\w)", re.IGNORECASE)


def _redact_once(text: str, cfg: RedactConfig, names: tuple[str, ...], secrets: tuple) -> str:
    literal = _literal_pattern(tuple(cfg.secret_values) + secrets)
    if literal is not None:
        text = literal.sub(cfg.token("secret"), text)
    text = _tokens(text, cfg.token("token"))
    text = _EMAIL.sub(cfg.token("email"), text) if "@" in text else text
    text = _cards(text, cfg.token("card"))
    text = _ips(text, cfg.token("ip"))
    text = _phones(text, cfg.token("phone"), cfg.default_region)
    reserved = frozenset({*KINDS, "redacted"})
    pattern = _names_pattern(tuple(cfg.names) + names, reserved)
    return pattern.sub(cfg.token("name"), text) if pattern is not None else text


def redact(
    text: str,
    *,
    names: Iterable[str] = (),
    secrets: Iterable[str] = (),
    config: RedactConfig | None = None,
) -> str:
    """``text`` with personal data and secrets replaced by placeholders (``[email]``, ``[phone]``...).

    ``names``: more names to hide (e.g. ``known_names(con)``, the people in the warehouse) on top of
    ``[redact] names``; ``secrets``: literal values that must never be published (e.g. a report's
    injected parameters). ``config``: a ``RedactConfig``; default: the project's conf/poanalytics.toml.
    """
    if not isinstance(text, str):
        raise InputError(
            f"redact() takes a str, got {type(text).__name__}",
            code="redact.not_text",
            hint="use redact_frame() for a DataFrame and redact_figure() for a plotly figure",
        )
    cfg = load_config() if config is None else config
    name_list = tuple(names)
    secret_list = _check_secrets([str(s) for s in secrets if s not in (None, "")], "secrets=")
    for _ in range(4):  # until nothing changes: one replacement can expose another
        again = _redact_once(text, cfg, name_list, secret_list)
        if again == text:
            break
        text = again
    return text


class _Connection(Protocol):  # a DuckDB connection; duck-typed so this module imports no engine
    def execute(self, query: str, parameters: Any = ...) -> Any: ...


def known_names(con: _Connection, *, keys: Sequence[str] | None = None) -> list[str]:
    """The people's names the warehouse holds, for ``redact(..., names=known_names(con))``.

    Read from the event properties ``keys`` (default name, first_name, last_name, full_name, email),
    ticket requesters and note participants; full names also give their single words (two
    letters or more), so "Ada" is hidden in "Ada asked...". Sorted, distinct. (Here rather than in
    report/ so that voice/, below report/, redacts its quotes with the same names.)
    """
    keys = list(keys or ("name", "first_name", "last_name", "full_name", "email"))
    sql = """
        WITH v AS (
            SELECT trim(json_extract_string(properties, '$.' || k.key)) AS v
            FROM events, (SELECT unnest($keys::VARCHAR[]) AS key) k
            WHERE properties IS NOT NULL
            UNION SELECT trim(requester) FROM tickets
            UNION SELECT trim(participant) FROM notes
        ), full_names AS (SELECT DISTINCT v FROM v WHERE v IS NOT NULL AND length(v) >= 2)
        SELECT v FROM full_names
        UNION SELECT unnest(string_split_regex(v, '\\s+')) FROM full_names WHERE v NOT LIKE '%@%'
    """
    rows = con.execute(sql, {"keys": keys}).fetchall()
    return sorted({r[0] for r in rows if r[0] and len(r[0]) >= 2})
