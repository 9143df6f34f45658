"""OGC API exceptions: a JSON document (or an HTML page) with the HTTP status."""

from __future__ import annotations


class OGCAPIError(Exception):
    """An answer other than 200: ``kind`` is the document's ``type``."""

    def __init__(self, kind: str, detail: str, status: int = 400):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status

    def document(self) -> dict:
        return {"title": "OGCAPI", "type": self.kind, "status": self.status, "detail": self.detail}


def invalid(detail: str) -> OGCAPIError:
    return OGCAPIError("Invalid Parameter", detail, 400)


def unknown_parameter(name: str) -> OGCAPIError:
    return OGCAPIError("Bad Request", f"Unknown query parameter {name}", 400)


def not_found(detail: str) -> OGCAPIError:
    return OGCAPIError("Not Found", detail, 404)


def collection_not_found() -> OGCAPIError:
    return not_found("Collection not found")


def matrix_set_not_found() -> OGCAPIError:
    return not_found("TileMatrixSet not found")


def not_acceptable(what: str) -> OGCAPIError:
    return OGCAPIError("Not Acceptable", f"Unsupported image format {what}", 406)


def server_error(detail: str) -> OGCAPIError:
    return OGCAPIError("InternalError", detail, 500)
