"""OWS 1.1 exception reports with the HTTP status OWS Common gives each code."""

from __future__ import annotations

from ...http import Response
from ..client_input import echo, short_message
from ..xmltext import xml_attr, xml_text

STATUS = {
    "MissingParameterValue": 400,
    "InvalidParameterValue": 400,
    "VersionNegotiationFailed": 400,
    "TileOutOfRange": 400,
    "PointIJOutOfRange": 400,
    "OperationNotSupported": 400,  # a request this service does not offer: the client's error
    "NoApplicableCode": 500,
}


def ows_exception(message: str, code: str = "NoApplicableCode", locator: str | None = None,
                  status: int | None = None) -> Response:
    """An ExceptionReport; the status follows ``code`` unless given."""
    loc = f" locator={xml_attr(echo(locator))}" if locator else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ExceptionReport xmlns="http://www.opengis.net/ows/1.1" version="1.1.0" xml:lang="en">\n'
        f'  <Exception exceptionCode="{code}"{loc}>\n    <ExceptionText>{xml_text(short_message(message))}</ExceptionText>\n'
        "  </Exception>\n</ExceptionReport>\n"
    )
    return Response(body, status or STATUS.get(code, 400), "text/xml; charset=utf-8")


class WMTSError(Exception):
    """A request WMTS answers with an exception report."""

    def __init__(self, message: str, code: str = "InvalidParameterValue", locator: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.code = code
        self.locator = locator
        self.status = status

    def response(self) -> Response:
        return ows_exception(str(self), self.code, self.locator, self.status)


def tile_error(message: str, status: int) -> Response:
    """Errors of the tile pipeline (source failures 500, timeouts 504, ...)."""
    code = "TileOutOfRange" if status == 404 else "NoApplicableCode"
    return ows_exception(message, code, status=status)
