"""Go duration parsing/printing against values Go's time package gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podnet.domain.duration import (
    format_go_duration,
    format_go_duration_ns,
    parse_go_duration,
    parse_go_duration_ns,
)

NS = 1
US = 1000
MS = 1000 * US
S = 1000 * MS
M = 60 * S
H = 60 * M


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("5s", 5 * S),
        ("30s", 30 * S),
        ("1478s", 1478 * S),
        ("-5s", -5 * S),
        ("+5s", 5 * S),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5 * S),
        ("5.6s", 5 * S + 600 * MS),
        ("5.s", 5 * S),
        (".5s", 500 * MS),
        ("1.0s", 1 * S),
        ("1.00s", 1 * S),
        ("1.004s", 1 * S + 4 * MS),
        ("100.00100s", 100 * S + 1 * MS),
        ("10ns", 10 * NS),
        ("11us", 11 * US),
        ("12\u00b5s", 12 * US),
        ("12\u03bcs", 12 * US),
        ("13ms", 13 * MS),
        ("14s", 14 * S),
        ("15m", 15 * M),
        ("16h", 16 * H),
        ("1h", H),
        ("2h45m", 2 * H + 45 * M),
        ("5m0s", 5 * M),
        ("1.5h", H + 30 * M),
        ("300ms", 300 * MS),
        ("-1m", -M),
        ("3h30m", 3 * H + 30 * M),
        ("10.5s4m", 4 * M + 10 * S + 500 * MS),
        ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
        ("1h2m3s4ms5us6ns", H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
        ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
        ("52763797000ns", 52763797000 * NS),
        ("0.3333333333333333333h", 20 * M),
        ("9007199254740993ns", (1 << 53) + 1),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("9223372036854775.807us", (1 << 63) - 1),
        ("9223372036s854ms775us807ns", (1 << 63) - 1),
        ("-9223372036854775808ns", -(1 << 63)),
        ("0.100000000000000000000h", 6 * M),
        ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
    ],
)
def test_parse_matches_go(text: str, ns: int) -> None:
    assert parse_go_duration_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("3", "missing unit"),
        ("-", "empty"),
        ("s", "expected a number"),
        (".", "at least one digit"),
        ("-.", "at least one digit"),
        (".s", "at least one digit"),
        ("+.s", "at least one digit"),
        ("1d", "unknown unit 'd'"),
        ("1h ", "unknown unit"),
        (" 1h", "expected a number"),
        ("1H", "unknown unit 'H'"),
        ("9223372036854775808ns", "out of range"),
        ("9223372036854775.808us", "out of range"),
        ("3000000h", "out of range"),
    ],
)
def test_parse_rejects_what_go_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_go_duration(text)
    assert why in str(exc.value)
    assert repr(text) in str(exc.value)  # the message names the input


def test_parse_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        parse_go_duration(60)  # type: ignore[arg-type]


def test_parse_returns_timedelta_truncating_below_microseconds() -> None:
    assert parse_go_duration("1h") == timedelta(hours=1)
    assert parse_go_duration("-1m") == timedelta(minutes=-1)
    assert parse_go_duration("1500ns") == timedelta(microseconds=1)
    assert parse_go_duration("-1500ns") == timedelta(microseconds=-1)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (1 * NS, "1ns"),
        (1100 * NS, "1.1\u00b5s"),
        (2200 * US, "2.2ms"),
        (3300 * MS, "3.3s"),
        (4 * M + 5 * S, "4m5s"),
        (4 * M + 5001 * MS, "4m5.001s"),
        (5 * H + 6 * M + 7001 * MS, "5h6m7.001s"),
        (8 * M + 1 * NS, "8m0.000000001s"),
        ((1 << 63) - 1, "2562047h47m16.854775807s"),
        (-(1 << 63), "-2562047h47m16.854775808s"),
        (H, "1h0m0s"),
        (-M, "-1m0s"),
        (300 * MS, "300ms"),
    ],
)
def test_format_matches_go(ns: int, text: str) -> None:
    assert format_go_duration_ns(ns) == text


def test_format_timedelta() -> None:
    assert format_go_duration(timedelta(hours=1)) == "1h0m0s"
    assert format_go_duration(timedelta(hours=2, minutes=45)) == "2h45m0s"
    assert format_go_duration(timedelta(milliseconds=1500)) == "1.5s"
    assert format_go_duration(timedelta(days=1)) == "24h0m0s"
    assert format_go_duration(-timedelta(minutes=1)) == "-1m0s"


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_format_then_parse_round_trips(ns: int) -> None:
    assert parse_go_duration_ns(format_go_duration_ns(ns)) == ns
