"""INSPIRE View Service metadata (``services.wms.inspire_md``) as the
ExtendedCapabilities of WMS 1.3.0 capabilities: linked (a metadata URL) or
embedded (resource locators, conformities, contacts, keywords...)."""

from __future__ import annotations

from typing import Any

from .xml import XMLWriter

COMMON = "http://inspire.ec.europa.eu/schemas/common/1.0"
VIEW_SERVICE = "http://inspire.ec.europa.eu/schemas/inspire_vs/1.0"
INSPIRE_NAMESPACES = {"xmlns__inspire_common": COMMON, "xmlns__inspire_vs": VIEW_SERVICE}
INSPIRE_SCHEMA = f"{VIEW_SERVICE} {VIEW_SERVICE}/inspire_vs.xsd"

_DATES = (("date_of_publication", "DateOfPublication"), ("date_of_creation", "DateOfCreation"),
          ("date_of_last_revision", "DateOfLastRevision"))


def inspire_capabilities(w: XMLWriter, md: dict[str, Any]) -> None:
    """The ``inspire_vs:ExtendedCapabilities`` element for ``md``."""
    w.open("inspire_vs:ExtendedCapabilities")
    if md.get("type") == "linked":
        _metadata_url(w, md.get("metadata_url"))
        _languages(w, md)
    else:
        _embedded(w, md)
    w.close("inspire_vs:ExtendedCapabilities")


def _leaf(w: XMLWriter, tag: str, value: Any) -> None:
    w.leaf(f"inspire_common:{tag}", "" if value is None else str(value))


def _embedded(w: XMLWriter, md: dict[str, Any]) -> None:
    for locator in _list(md.get("resource_locators")):
        _locator(w, "ResourceLocator", locator)
    _leaf(w, "ResourceType", "service")
    w.open("inspire_common:TemporalReference")
    _dates(w, md.get("temporal_reference") or {})
    w.close("inspire_common:TemporalReference")
    for conformity in _list(md.get("conformities")):
        w.open("inspire_common:Conformity")
        w.open("inspire_common:Specification")
        _leaf(w, "Title", conformity.get("title"))
        _citation(w, conformity)
        w.close("inspire_common:Specification")
        _leaf(w, "Degree", conformity.get("degree"))
        w.close("inspire_common:Conformity")
    for contact in _list(md.get("metadata_points_of_contact")):
        w.open("inspire_common:MetadataPointOfContact")
        _leaf(w, "OrganisationName", contact.get("organisation_name"))
        _leaf(w, "EmailAddress", contact.get("email"))
        w.close("inspire_common:MetadataPointOfContact")
    _leaf(w, "MetadataDate", md.get("metadata_date"))
    _leaf(w, "SpatialDataServiceType", "view")
    for keyword in md.get("mandatory_keywords") or []:
        w.open("inspire_common:MandatoryKeyword")
        _leaf(w, "KeywordValue", keyword)
        w.close("inspire_common:MandatoryKeyword")
    for keyword in _list(md.get("keywords")):
        w.open("inspire_common:Keyword")
        w.open("inspire_common:OriginatingControlledVocabulary")
        _leaf(w, "Title", keyword.get("title"))
        _citation(w, keyword)
        w.close("inspire_common:OriginatingControlledVocabulary")
        _leaf(w, "KeywordValue", keyword.get("keyword_value"))
        w.close("inspire_common:Keyword")
    _languages(w, md)
    if md.get("metadata_url"):
        _metadata_url(w, md["metadata_url"])


def _citation(w: XMLWriter, entry: dict[str, Any]) -> None:
    """Dates, URIs and resource locators of a specification or vocabulary."""
    _dates(w, entry)
    for uri in entry.get("uris") or []:
        _leaf(w, "URI", uri)
    for locator in _list(entry.get("resource_locators")):
        _locator(w, "ResourceLocator", locator)


def _dates(w: XMLWriter, entry: dict[str, Any]) -> None:
    for key, tag in _DATES:
        if key in entry:
            _leaf(w, tag, entry[key])  # a YAML date prints as 2015-07-23


def _locator(w: XMLWriter, tag: str, locator: dict[str, Any]) -> None:
    w.open(f"inspire_common:{tag}")
    _leaf(w, "URL", locator.get("url"))
    _leaf(w, "MediaType", locator.get("media_type"))
    w.close(f"inspire_common:{tag}")


def _metadata_url(w: XMLWriter, url: Any) -> None:
    _locator(w, "MetadataUrl", url if isinstance(url, dict) else {})


def _languages(w: XMLWriter, md: dict[str, Any]) -> None:
    default = (md.get("languages") or {}).get("default")
    w.open("inspire_common:SupportedLanguages")
    w.open("inspire_common:DefaultLanguage")
    _leaf(w, "Language", default)
    w.close("inspire_common:DefaultLanguage")
    w.close("inspire_common:SupportedLanguages")
    w.open("inspire_common:ResponseLanguage")
    _leaf(w, "Language", default)
    w.close("inspire_common:ResponseLanguage")


def _list(value: Any) -> list[dict[str, Any]]:
    return [e for e in value or [] if isinstance(e, dict)]
