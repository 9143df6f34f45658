"""Resolution limits (``min_res``/``max_res`` or scales of layers and sources, and
what caches draw): one rule everywhere, MapProxy's. Both axes' resolutions of a
map must lie in the range, both ends count as inside, and degrees are measured
at the equator."""

from __future__ import annotations

from support.wms import getmap, wms_config
from support.wsgi import call

from tileproxy.grid import METERS_PER_DEGREE, ResRange
from tileproxy.srs import get_srs

MERC = get_srs("EPSG:3857")
GEO = get_srs("EPSG:4326")


def test_both_ends_are_inside() -> None:
    limits = ResRange(min_res=1000, max_res=10)
    assert limits.contains((0, 0, 100000, 100000), (100, 100), MERC)  # 1000 m/px: min_res itself
    assert not limits.contains((0, 0, 100000, 100000), (99, 99), MERC)  # a little coarser
    assert limits.contains((0, 0, 100000, 100000), (10000, 10000), MERC)  # 10 m/px: max_res itself
    assert not limits.contains((0, 0, 100000, 100000), (10001, 10001), MERC)  # a little finer


def test_both_axes_must_be_inside() -> None:
    # 1000 m/px across, 2000 m/px down
    bbox, size = (0, 0, 512000, 1024000), (512, 512)
    assert not ResRange(min_res=1000).contains(bbox, size, MERC)  # the coarser axis is outside
    assert ResRange(min_res=2000).contains(bbox, size, MERC)
    assert not ResRange(max_res=2000).contains(bbox, size, MERC)  # the finer axis is outside
    assert ResRange(max_res=1000).contains(bbox, size, MERC)


def test_degrees_count_as_at_the_equator() -> None:
    # one degree over 100 pixels
    assert ResRange(min_res=METERS_PER_DEGREE / 100).contains((0, 0, 1, 1), (100, 100), GEO)
    assert not ResRange(min_res=METERS_PER_DEGREE / 101).contains((0, 0, 1, 1), (100, 100), GEO)


def test_open_ranges_and_merging() -> None:
    assert ResRange.of(None, None) is None
    assert ResRange.of(1000, None) == ResRange(1000, None)
    assert ResRange.merge([ResRange(1000, 10), ResRange(500, 1)]) == ResRange(1000, 1)
    assert ResRange.merge([ResRange(1000, 10), ResRange(None, 100)]) == ResRange(None, 10)
    assert ResRange.merge([ResRange(1000, 10), None]) is None  # unlimited wins
    assert ResRange.merge([]) is None


def _drawn(app, layer: str, bbox: str) -> bool:
    answer = call(app, getmap(layer, bbox, "EPSG:3857", size=(512, 512), transparent="true"))
    assert answer.status == 200, answer.body
    return answer.image.convert("RGBA").getextrema()[3][1] > 0


def test_wms_layers_compare_both_axes(make_app, source) -> None:
    app = make_app(wms_config())
    # the configuration's fine_only layer has min_res 1000, coarse_only max_res 1000
    square = "0,5000000,512000,5512000"  # 1000 m/px both ways: both layers draw it
    assert _drawn(app, "fine_only", square) and _drawn(app, "coarse_only", square)
    tall = "0,5000000,512000,6024000"  # 1000 m/px across, 2000 m/px down
    assert not _drawn(app, "fine_only", tall)
    assert _drawn(app, "coarse_only", tall)
