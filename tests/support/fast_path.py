"""Comparing the cached-tile fast path with the general path: the same app asked
without its fast path, and two answers that must be the same but for the time."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

from support.wsgi import Answer, call


def general_answer(app, url: str, headers: dict[str, str] | None = None) -> Answer:
    """``url`` answered by ``app``'s general path (its fast path set aside)."""
    fast, app.fast = app.fast, None
    try:
        return call(app, url, headers=headers)
    finally:
        app.fast = fast


def assert_same_answers(fast: Answer, general: Answer) -> dict[str, str]:
    """Same body and headers (in order; Expires within a second); returns the headers."""
    assert fast.body == general.body
    assert [h for h, _ in fast.header_list] == [h for h, _ in general.header_list]
    fast_h, general_h = dict(fast.headers), dict(general.headers)
    expires = [parsedate_to_datetime(h.pop("Expires")).timestamp() for h in (fast_h, general_h)]
    assert abs(expires[0] - expires[1]) <= 1 and fast_h == general_h
    return fast_h
