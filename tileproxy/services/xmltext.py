"""Text for XML documents built by string formatting."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

# characters XML 1.0 does not allow at all (C0 controls other than tab, LF, CR; lone surrogates; U+FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: str) -> str:
    """``value`` escaped for XML element content; characters XML cannot carry become U+FFFD."""
    return escape(_NOT_XML.sub("\ufffd", value))


def xml_attr(value: str) -> str:
    """``value`` quoted as an XML attribute value, with the same replacements as ``xml_text``."""
    return quoteattr(_NOT_XML.sub("\ufffd", value))
