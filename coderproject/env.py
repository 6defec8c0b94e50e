"""Typed readers for environment variables.

Every setting comes from the environment; a malformed value stops start-up with one
clear line (``ImproperlyConfigured``) instead of surfacing later as a strange failure.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """The variable's value, or the contents of the file named by ``NAME_FILE``."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name}: cannot read it ({exc.strerror})") from None
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90s``, ``15m``, ``12h``, ``30d`` (a bare number is seconds)."""
    value = text.strip().lower()
    unit = _DURATION_UNITS.get(value[-1:]) if value else None
    number = value[:-1] if unit else value
    if not number.isdecimal() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 15m or 90s")
    return int(number) * (unit or 1)


def env_duration(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Rate:
    """``limit`` hits per ``window`` seconds (``coderproject.ratelimit``); a limit of 0 turns it off."""

    limit: int
    window: int


def parse_rate(text: str) -> Rate:
    """``30/1h``, ``600/1m``, ``5/15m``, or ``0`` (off)."""
    count, _, window = text.strip().partition("/")
    if not count.isdecimal() or (int(count) and not window):
        raise ValueError(f"{text!r} is not a rate like 30/1h, 600/1m or 0 (off)")
    return Rate(limit=int(count), window=parse_duration(window) if window else 1)


def env_rate(name: str, default: str) -> Rate:
    try:
        return parse_rate(os.environ.get(name, default))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None
