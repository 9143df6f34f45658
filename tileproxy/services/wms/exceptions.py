"""WMS service exceptions: XML per version, INIMAGE and BLANK images.

As in MapProxy, an XML exception answers HTTP 500 (whatever went wrong: a bad
parameter or a failed source), an image exception 200 with the map's format, and
neither may be cached by clients."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from PIL import Image

from ...http import Response, no_cache
from ...image.codec import encode
from ...image.formats import ImageOptions
from ...image.watermark import message_image
from ..client_input import echo, short_message
from ..xmltext import xml_attr, xml_text

XML_STATUS = 500


class WMSError(Exception):
    """A request the service answers with a service exception.

    ``code`` is the OGC exception code (None for none); ``status`` the HTTP status
    of the XML answer; ``xml_only`` keeps INIMAGE/BLANK from answering (an image
    of the requested size cannot be made)."""

    def __init__(self, message: str, code: str | None = None, locator: str | None = None,
                 status: int = XML_STATUS, xml_only: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.locator = locator
        self.status = status
        self.xml_only = xml_only


def missing_parameters(names: list[str]) -> WMSError:
    """The exception for absent required parameters, listed as MapProxy lists them."""
    return WMSError(f"missing parameters {names!r}", "MissingParameterValue", names[0])


def _response(body: str, status: int, content_type: str) -> Response:
    resp = Response(body, status, content_type)
    no_cache(resp.headers)
    return resp


def xml_exception(err: WMSError, version: str) -> Response:
    """The exception document of WMS ``version``."""
    msg = xml_text(short_message(err.message))
    if version == "1.0.0":
        body = f'<?xml version="1.0"?>\n<WMTException version="1.0.0">\n{msg}\n</WMTException>\n'
        return _response(body, err.status, "text/xml; charset=utf-8")
    code = err.code
    if version == "1.3.0":
        if code == "InvalidSRS":
            code = "InvalidCRS"
        attrs = f" code={quoteattr(code)}" if code else ""
        if err.locator:
            attrs += f" locator={xml_attr(echo(err.locator))}"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<ServiceExceptionReport version="1.3.0" xmlns="http://www.opengis.net/ogc"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xsi:schemaLocation="http://www.opengis.net/ogc http://schemas.opengis.net/wms/1.3.0/exceptions_1_3_0.xsd">\n'
            f"  <ServiceException{attrs}>{msg}</ServiceException>\n</ServiceExceptionReport>\n"
        )
        return _response(body, err.status, "text/xml; charset=utf-8")
    if code == "InvalidCRS":
        code = "InvalidSRS"
    attrs = f" code={quoteattr(code)}" if code else ""
    dtd = "exception_1_1_1.dtd" if version == "1.1.1" else "exception_1_1_0.dtd"
    body = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE ServiceExceptionReport SYSTEM "http://schemas.opengis.net/wms/{version}/{dtd}">\n'
        f'<ServiceExceptionReport version="{version}">\n'
        f"  <ServiceException{attrs}>{msg}</ServiceException>\n</ServiceExceptionReport>\n"
    )
    return _response(body, err.status, "application/vnd.ogc.se_xml; charset=utf-8")


def image_exception(err: WMSError, size: tuple[int, int], opts: ImageOptions, transparent: bool,
                    bgcolor: tuple[int, int, int], blank: bool) -> Response:
    """A map-sized image: empty (BLANK) or with the message (INIMAGE)."""
    if blank:
        img = Image.new("RGBA", size, (*bgcolor, 0 if transparent else 255))
    else:
        img = message_image(size, short_message(err.message), transparent, bgcolor)
    if not transparent:
        img = img.convert("RGB")
    data, mime = encode(img, opts)
    resp = Response(data, 200, mime)
    no_cache(resp.headers)
    return resp
