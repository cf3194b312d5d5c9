"""Go ``time.Duration`` strings: parse like ``time.ParseDuration`` and print like ``Duration.String()``.

PodNetworking's ``allocationType.releaseAfter`` is a Go duration (``1h``, ``2h45m``, ``5m0s``), so we
accept exactly the grammar Go accepts and nothing more: ``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+`` with the
units ns, us, µs, μs, ms, s, m, h, plus the special case ``"0"``. Values are int64 nanoseconds in Go;
``timedelta`` keeps microseconds, so sub-microsecond parts are truncated toward zero.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["parse_go_duration", "parse_go_duration_ns", "format_go_duration", "format_go_duration_ns"]

_NANOSECOND = 1
_MICROSECOND = 1000 * _NANOSECOND
_MILLISECOND = 1000 * _MICROSECOND
_SECOND = 1000 * _MILLISECOND
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE

_UNITS: dict[str, int] = {
    "ns": _NANOSECOND,
    "us": _MICROSECOND,
    "\u00b5s": _MICROSECOND,  # U+00B5 micro sign
    "\u03bcs": _MICROSECOND,  # U+03BC Greek small letter mu
    "ms": _MILLISECOND,
    "s": _SECOND,
    "m": _MINUTE,
    "h": _HOUR,
}
_MAX_INT64 = (1 << 63) - 1
_DIGITS = "0123456789"


def _invalid(orig: str, why: str) -> ValueError:
    return ValueError(f"invalid Go duration {orig!r}: {why} (examples: 300ms, 1.5h, 2h45m, 5m0s)")


def parse_go_duration_ns(s: str) -> int:
    """Parse a Go duration string into integer nanoseconds, exactly as ``time.ParseDuration`` does.

    Raises ``ValueError`` naming the string and what is wrong with it.
    """
    if not isinstance(s, str):
        raise ValueError(f"invalid Go duration {s!r}: not a string")
    orig = s
    total = 0
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise _invalid(orig, "empty duration")
    while s:
        # The integer part.
        if not (s[0] == "." or s[0] in _DIGITS):
            raise _invalid(orig, "expected a number")
        i = 0
        while i < len(s) and s[i] in _DIGITS:
            i += 1
        pre = i > 0
        whole = int(s[:i]) if pre else 0
        if whole > 1 << 63:
            raise _invalid(orig, "value out of range")
        s = s[i:]
        # The fraction: Go keeps digits while they fit in an int64 and ignores the rest.
        frac, scale, post = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and s[i] in _DIGITS:
                if not overflow:
                    nxt = frac * 10 + int(s[i])
                    if frac > _MAX_INT64 // 10 or nxt > 1 << 63:
                        overflow = True
                    else:
                        frac = nxt
                        scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise _invalid(orig, "a number needs at least one digit")
        # The unit.
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        if i == 0:
            raise _invalid(orig, "missing unit (one of ns, us, ms, s, m, h)")
        unit_name = s[:i]
        s = s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise _invalid(orig, f"unknown unit {unit_name!r} (use ns, us, ms, s, m or h; days are 24h)")
        if whole > (1 << 63) // unit:
            raise _invalid(orig, "value out of range")
        value = whole * unit
        if frac > 0:
            # Same float64 arithmetic as Go, so rounding matches.
            value += int(float(frac) * (float(unit) / scale))
            if value > 1 << 63:
                raise _invalid(orig, "value out of range")
        total += value
        if total > 1 << 63:
            raise _invalid(orig, "value out of range")
    if neg:
        return -total
    if total > _MAX_INT64:
        raise _invalid(orig, "value out of range")
    return total


def parse_go_duration(s: str) -> timedelta:
    """Parse a Go duration string (``"1h"``, ``"2h45m"``, ``"1.5h"``, ``"300ms"``, ``"-1m"``).

    Raises ``ValueError`` with a message naming the string and the problem.
    """
    ns = parse_go_duration_ns(s)
    # Truncate toward zero like a Go conversion to a coarser unit would.
    micros = abs(ns) // 1000
    return timedelta(microseconds=-micros if ns < 0 else micros)


def _frac_digits(value: int, digits: int) -> str:
    """``.ddd`` for the fractional part ``value`` of ``digits`` digits, trailing zeros dropped."""
    if value == 0:
        return ""
    text = str(value).rjust(digits, "0").rstrip("0")
    return "." + text


def format_go_duration_ns(ns: int) -> str:
    """Format integer nanoseconds like Go's ``Duration.String()`` (``1h0m0s``, ``1.5s``, ``300ms``, ``0s``)."""
    neg = ns < 0
    u = -ns if neg else ns
    if u < _SECOND:
        if u == 0:
            return "0s"
        if u < _MICROSECOND:
            text = f"{u}ns"
        elif u < _MILLISECOND:
            text = f"{u // _MICROSECOND}{_frac_digits(u % _MICROSECOND, 3)}\u00b5s"
        else:
            text = f"{u // _MILLISECOND}{_frac_digits(u % _MILLISECOND, 6)}ms"
    else:
        secs, rem = divmod(u, _SECOND)
        text = f"{secs % 60}{_frac_digits(rem, 9)}s"
        minutes = secs // 60
        if minutes:
            text = f"{minutes % 60}m{text}"
            hours = minutes // 60
            if hours:
                text = f"{hours}h{text}"
    return "-" + text if neg else text


def format_go_duration(td: timedelta) -> str:
    """Format a ``timedelta`` like Go's ``Duration.String()``: ``timedelta(hours=1)`` → ``"1h0m0s"``."""
    micros = (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds
    return format_go_duration_ns(micros * 1000)
