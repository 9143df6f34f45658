"""Client input that answers quote or parse, kept bounded.

Error messages name what was wrong by quoting the request; ``echo`` cuts a quoted
value short, and every error answer cuts its whole message with ``short_message``,
so that no answer reflects unbounded input (markup is escaped where the message
goes into XML or HTML; plain text answers carry ``X-Content-Type-Options: nosniff``).
Numbers from URLs are parsed with ``bounded_int``: Python refuses to convert more
than 4,300 digits, and no tile coordinate needs more than a few."""

from __future__ import annotations

ECHO_LIMIT = 80  # characters of one quoted value
MESSAGE_LIMIT = 400  # characters of a whole error message
NUMBER_LIMIT = 18  # characters of a number in a URL (a sign, spaces and 16 digits)


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """``value`` as a message quotes it: longer text is cut and ends in '...'."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def short_message(text: str) -> str:
    """A whole error message, cut at ``MESSAGE_LIMIT`` characters."""
    return echo(text, MESSAGE_LIMIT)


def bounded_int(text: str, limit: int = NUMBER_LIMIT) -> int | None:
    """The integer ``text`` spells as ``int()`` reads it, or None when it is no
    integer. An integer spelled with more than ``limit`` characters is read as
    ±10**limit: beyond every grid, without converting thousands of digits."""
    if len(text) <= limit:
        try:
            return int(text)
        except ValueError:
            return None
    body = text.strip()
    sign = -1 if body.startswith("-") else 1
    if body.startswith(("-", "+")):
        body = body[1:]
    return sign * 10**limit if body.isdecimal() else None


def bounded_ints(a: str, b: str, c: str) -> tuple[int | None, int | None, int | None]:
    """``bounded_int`` of three texts (tile coordinates) in one call: short ones, the
    usual, are read with int() at once."""
    if len(a) + len(b) + len(c) <= NUMBER_LIMIT:
        try:
            return int(a), int(b), int(c)
        except ValueError:
            pass
    return bounded_int(a), bounded_int(b), bounded_int(c)
