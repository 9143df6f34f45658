"""Answers in the format the client asks for: JSON documents or HTML pages."""

from __future__ import annotations

import json

from ...http import Response
from .context import JSON, Context, HtmlPage
from .errors import OGCAPIError
from .html import exception_page


def answer(ctx: Context, doc: dict, page: HtmlPage, status: int = 200,
           headers: list[tuple[str, str]] | None = None) -> Response:
    """``doc`` as JSON, or as the HTML ``page`` when the client asks for HTML."""
    if ctx.html:
        return Response(page(doc, ctx), status, content_type="text/html; charset=utf-8", headers=headers)
    return Response(json.dumps(doc, indent=2), status, content_type=JSON, headers=headers)


def error_answer(ctx: Context, err: OGCAPIError) -> Response:
    return answer(ctx, err.document(), exception_page, err.status)
