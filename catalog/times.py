"""Timestamps, one way: the store's sortable UTC form, RFC 3339 strings and day bounds.

The store keeps every instant as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, fixed width), so that string
order is time order and SQL can compare them without parsing.
"""
from __future__ import annotations

import datetime as dt
import re

STORE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MIN_TIME, MAX_TIME = "0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class TimestampError(ValueError):
    """A value that is not an RFC 3339 timestamp the store can hold."""


def parse_timestamp(value: str) -> dt.datetime:
    """RFC 3339 timestamp or date -> an aware datetime in UTC; :class:`TimestampError` otherwise."""
    if not isinstance(value, str):
        raise TimestampError(f"not an RFC 3339 timestamp: {value!r}")
    text = value.strip()
    if _DATE_ONLY.fullmatch(text):
        text += "T00:00:00Z"
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3339 timestamp: {value!r}") from exc
    if parsed.tzinfo is None:
        raise TimestampError(f"timestamp needs a time zone (e.g. 'Z'): {value!r}")
    try:
        return parsed.astimezone(dt.timezone.utc)
    except OverflowError:
        raise TimestampError(f"timestamp is outside the years 0001-9999 in UTC: {value!r}") from None


# The common form, UTC with a "Z"; groups: the date and time to the second, the fraction.
UTC_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z")


def normalise_timestamp(value: str) -> str:
    """RFC 3339 timestamp or date -> the store's sortable UTC form.

    Raises :class:`TimestampError` for anything else, including instants that only exist before year 1
    or after year 9999 once converted to UTC (``9999-12-31T23:59:59-01:00``).
    """
    utc = UTC_STAMP.fullmatch(value) if isinstance(value, str) else None
    if utc:  # already UTC with a "Z", as nearly every harvested timestamp is: only the fraction to pad
        whole, fraction = utc.groups()
        try:
            dt.datetime.fromisoformat(whole)  # a real date and time (not 2020-13-45T25:00:00)
            return f"{whole}.{(fraction or '').ljust(6, '0')}Z"
        except ValueError:
            pass  # the general path says what is wrong
    return store_form(parse_timestamp(value))


def store_form(moment: dt.datetime) -> str:
    """An aware datetime in the store's form, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.

    Written out rather than with ``strftime``: the C library's ``%Y`` does not pad years before 1000
    (``1-01-01``), which would break both the fixed width and the string order.
    """
    m = moment.astimezone(dt.timezone.utc)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
            f"{m.microsecond:06d}Z")


def utc_now(timespec: str = "seconds") -> str:
    """Now in UTC as RFC 3339 with a ``Z`` (``timespec`` as for :meth:`datetime.isoformat`)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def day_start(day: dt.date) -> dt.datetime:
    """00:00:00 UTC of ``day``."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)


def day_end(day: dt.date) -> dt.datetime:
    """23:59:59 UTC of ``day``: the inclusive end of a day in a time span."""
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)


def rfc3339(moment: dt.datetime) -> str:
    """A UTC datetime as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return store_form(moment)[:19] + "Z"  # (strftime's %Y does not pad years before 1000)
