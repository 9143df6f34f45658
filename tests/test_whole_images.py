"""Nothing undecodable is stored or served as fresh: every image from a source is
checked to be whole (PNG chunk CRCs and its zlib stream to the end, JPEG markers
through the end of the scan) and of the size asked for, before it is stored or
passed on. A bad image is a source error: 500 on tile services, the ``on_error``
answer where one is configured, the stale tile kept, a failed tile in seeding."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from support.configs import cache, layer, wms_source
from support.freshness import META, age, read, tile_path
from support.freshness import config as freshness_config
from support.freshness import url as tms_url
from support.seed import cached, run_seed, write_configs
from support.source_server import damaged_png
from support.wsgi import call

from tileproxy.image import whole
from tileproxy.image.errors import ImageDataError
from tileproxy.image.result import whole_image
from tileproxy.image.whole import ImageSizeError, check_whole

# -- the check itself ----------------------------------------------------------


def encoded(img: Image.Image, fmt: str = "PNG", **opts) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def noise(size=(67, 45), mode="RGB") -> Image.Image:
    img = Image.merge("RGB", [Image.effect_noise(size, 30 + 25 * k) for k in range(3)])
    return img.convert(mode)


GOOD = {
    "png rgb": (encoded(noise()), "image/png"),
    "png rgba": (encoded(noise(mode="RGBA")), "image/png"),
    "png paletted": (encoded(noise().quantize(64)), "image/png"),
    "png grey 16 bit": (encoded(noise().convert("I;16")), "image/png"),
    "png 1 bit": (encoded(noise().convert("1")), "image/png"),
    "png interlaced": (None, "image/png"),  # built below
    "png in many IDAT chunks": (None, "image/png"),  # built below
    "jpeg": (encoded(noise(), "JPEG", quality=80), "image/jpeg"),
    "jpeg progressive": (encoded(noise(), "JPEG", progressive=True, optimize=True), "image/jpeg"),
    "jpeg with restart markers": (encoded(noise(), "JPEG", restart_marker_blocks=1), "image/jpeg"),
    "gif": (encoded(noise().quantize(16), "GIF"), "image/gif"),
    "tiff": (encoded(noise(), "TIFF"), "image/tiff"),
}


def chunked(data: bytes, pieces: int) -> bytes:
    """A PNG with its image data split over ``pieces`` IDAT chunks."""
    out, pos, stream = [data[:8]], 8, b""
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IDAT":
            stream += body
        else:
            if kind == b"IEND":
                step = -(-len(stream) // pieces)
                out += [chunk(b"IDAT", stream[i:i + step]) for i in range(0, len(stream), step)]
            out.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def interlaced(img: Image.Image) -> bytes:
    """``img`` (RGB) as an Adam7-interlaced PNG (Pillow writes none)."""
    w, h = img.size
    px = img.load()
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                           (0, 1, 1, 2)):
        if x0 < w and y0 < h:
            for y in range(y0, h, dy):
                raw += b"\x00" + b"".join(bytes(px[x, y]) for x in range(x0, w, dx))
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


GOOD["png in many IDAT chunks"] = (chunked(GOOD["png rgb"][0], 5), "image/png")
GOOD["png interlaced"] = (interlaced(noise()), "image/png")


@pytest.mark.parametrize("name", GOOD)
def test_whole_images_pass_with_their_size(name) -> None:
    data, mime = GOOD[name]
    whole = check_whole(data, mime, (67, 45))
    assert whole.mime == mime and whole.size == (67, 45)
    result = whole_image(data, (67, 45))
    want = Image.open(io.BytesIO(data))
    want.load()
    # a decode that follows the check gives Pillow's image (PNGs: from the rows the check inflated)
    got = result.image
    assert got.mode == want.mode and got.tobytes() == want.tobytes()
    assert got.getpalette() == want.getpalette()
    assert got.convert("RGBA").tobytes() == want.convert("RGBA").tobytes()


PALETTED = {
    "16 colours": encoded(noise().quantize(16)),
    "2 colours": encoded(noise().quantize(2)),
    "one transparent index": encoded(noise().quantize(64), transparency=3),
    "alpha per palette entry": encoded(noise(mode="RGBA").quantize(64)),
    "grey with a transparent value": encoded(noise().convert("L"), transparency=17),
    "RGB with a transparent colour": encoded(noise(), transparency=(1, 2, 3)),
    "grey and alpha": encoded(noise().convert("LA")),
}


@pytest.mark.parametrize("name", PALETTED)
def test_pngs_decoded_from_the_checked_rows_are_what_pillow_reads(name) -> None:
    data = PALETTED[name]
    whole = check_whole(data, "image/png", (67, 45))
    assert whole.rows is not None and whole.rows.mode is None  # read through Pillow's reader, pixels from the rows
    want = Image.open(io.BytesIO(data))
    want.load()
    got = whole_image(data, (67, 45)).image
    assert (got.mode, got.info, got.getpalette()) == (want.mode, want.info, want.getpalette())
    assert got.convert("RGBA").tobytes() == want.convert("RGBA").tobytes()


def test_the_check_keeps_the_inflated_rows_of_non_interlaced_pngs() -> None:
    assert check_whole(GOOD["png rgb"][0], "image/png").rows.mode == "RGB"
    assert check_whole(GOOD["png rgba"][0], "image/png").rows.mode == "RGBA"
    assert check_whole(GOOD["png paletted"][0], "image/png").rows.mode is None
    assert check_whole(GOOD["png interlaced"][0], "image/png").rows is None


def without_iend(data: bytes) -> bytes:
    return data[:-12]


def recrc(data: bytes) -> bytes:
    """``data`` with the CRC of each chunk made right again."""
    out, pos = [data[:8]], 8
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        out.append(chunk(data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return b"".join(out)


def with_idat(data: bytes, stream: bytes) -> bytes:
    """A PNG with ``stream`` as its (only) image data, all CRCs right."""
    out, pos = [data[:8]], 8
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        kind = data[pos + 4:pos + 8]
        out.append(chunk(b"IDAT", stream) if kind == b"IDAT" else data[pos:pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


RGB = GOOD["png rgb"][0]


def idat_stream(data: bytes) -> bytes:
    pos, out = 8, b""
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            out += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return out


JPEG = GOOD["jpeg"][0]
SOS = JPEG.index(b"\xff\xda")

BAD = {
    "png: IDAT bytes damaged under the old CRC": (damaged_png(RGB, keep_crc=True), "image/png", "bad CRC"),
    "png: zlib stream cut short, CRC right": (damaged_png(RGB, keep_crc=False), "image/png", "ends early"),
    "png: Adler-32 of the stream wrong, CRC right": (
        with_idat(RGB, idat_stream(RGB)[:-4] + b"\x00\x00\x00\x00"), "image/png", "image data"),
    "png: stream garbled, CRC right": (recrc(damaged_png(RGB, keep_crc=True)), "image/png", "image data"),
    "png: more rows than the header says": (
        with_idat(RGB, zlib.compress(zlib.decompress(idat_stream(RGB)) + b"\x00" * 202)), "image/png", "more image data"),
    "png: fewer rows than the header says": (
        with_idat(RGB, zlib.compress(zlib.decompress(idat_stream(RGB))[:-202])), "image/png", "ends early"),
    "png: no IEND": (without_iend(RGB), "image/png", "truncated"),
    "png: cut inside a chunk": (RGB[:len(RGB) // 2] + RGB[-12:], "image/png", "truncated"),
    "png: header CRC wrong": (RGB[:29] + b"\x00\x00\x00\x00" + RGB[33:], "image/png", "bad CRC of chunk IHDR"),
    "jpeg: cut in the scan": (JPEG[:len(JPEG) // 2], "image/jpeg", "truncated JPEG"),
    "jpeg: cut in the header": (JPEG[:SOS - 20], "image/jpeg", "truncated JPEG"),
    "jpeg: no scan": (JPEG[:SOS] + b"\xff\xd9", "image/jpeg", "no image data"),
    "jpeg: garbage between segments": (JPEG[:SOS] + b"\x00\x00" + JPEG[SOS:], "image/jpeg", "no marker"),
    "gif: cut": (GOOD["gif"][0][:40], "image/gif", "damaged image"),
}


@pytest.mark.parametrize("name", BAD)
def test_damaged_and_cut_images_are_refused(name) -> None:
    data, mime, reason = BAD[name]
    with pytest.raises(ImageDataError, match=reason):
        check_whole(data, mime, (67, 45))


@pytest.mark.parametrize("name", [n for n in BAD if n.startswith("png")])
def test_large_pngs_inflated_piece_by_piece_are_refused_alike(name, monkeypatch) -> None:
    # rows above ROWS_KEPT are not kept: the stream is inflated in pieces (of 2 rows here)
    monkeypatch.setattr(whole, "ROWS_KEPT", 0)
    monkeypatch.setattr(whole, "_PIECE", 2 * (1 + 67 * 3))
    data, mime, reason = BAD[name]
    with pytest.raises(ImageDataError, match=reason):
        check_whole(data, mime, (67, 45))


@pytest.mark.parametrize("name", ["png rgb", "png rgba", "png paletted", "png in many IDAT chunks"])
def test_large_pngs_keep_no_rows_and_decode_as_pillow_reads_them(name, monkeypatch) -> None:
    monkeypatch.setattr(whole, "ROWS_KEPT", 1000)
    monkeypatch.setattr(whole, "_PIECE", 999)
    data = GOOD[name][0]
    assert check_whole(data, "image/png", (67, 45)).rows is None
    img = whole_image(data, (67, 45)).image
    expected = Image.open(io.BytesIO(data))
    assert img.mode == expected.mode and img.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ["png rgb", "png paletted", "jpeg", "gif"])
def test_another_size_than_asked_for_is_refused(name) -> None:
    data, mime = GOOD[name]
    with pytest.raises(ImageSizeError, match="an image of 67x45 pixels, expected 256x256"):
        check_whole(data, mime, (256, 256))
    # where the caller decides (maps are scaled), other sizes pass, up to 4x the pixels
    assert check_whole(data, mime, (60, 40), exact=False).size == (67, 45)


def test_an_image_far_larger_than_asked_for_is_refused_before_it_is_inflated() -> None:
    # a few kB that would inflate to 400 MB: refused from the header
    ihdr = struct.pack(">IIBBBBB", 10000, 10000, 8, 6, 0, 0, 0)
    bomb = zlib.compress(b"\x00" * 1000, 9)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bomb) + chunk(b"IEND", b""))
    with pytest.raises(ImageSizeError, match="far more than the 256x256"):
        check_whole(data, "image/png", (256, 256), exact=False)


# -- serving -------------------------------------------------------------------

CONFIG = {
    "services": {
        "tms": None,
        "wmts": None,
        "wms": {"srs": ["EPSG:3857"], "image_formats": ["image/png", "image/jpeg"]},
    },
    "layers": [
        layer("map", "Map", "map_cache"), layer("meta", "Meta", "meta_cache"), layer("jpeg", "JPEG", "jpeg_cache"),
        layer("tiles", "Tiles", "tile_cache"), layer("jpegtiles", "JPEG tiles", "jpeg_tile_cache"),
        layer("direct", "Direct", "wms"),
    ],
    "caches": {
        "map_cache": cache("wms"),
        "meta_cache": cache("wms", meta_size=(2, 2), meta_buffer=10),
        "jpeg_cache": cache("wms", format="image/jpeg"),
        "tile_cache": cache("tile_server", meta_size=None),
        "jpeg_tile_cache": cache("tile_server", meta_size=None, format="image/jpeg"),
    },
    "sources": {
        "wms": wms_source(),
        "tile_server": {
            "type": "tile",
            "grid": "GLOBAL_WEBMERCATOR",
            "url": "{source}/tiles/%(z)s/%(x)s/%(y)s.%(format)s",
        },
    },
    "globals": {"cache": {"base_dir": "./cache_data"}},
}


@pytest.fixture
def app(make_app):
    return make_app(CONFIG)


def stored(root: Path, layer_cache: str) -> list[Path]:
    return [p for p in (root / "cache_data").glob(f"{layer_cache}_*/**/*") if p.is_file()]


# (layer, its cache, tile extension, source mode, what the error says)
BAD_SOURCES = [
    ("map", "map_cache", "png", "damaged", "damaged PNG image (bad CRC of chunk IDAT)"),
    ("map", "map_cache", "png", "shortstream", "truncated PNG image (the image data ends early)"),
    ("map", "map_cache", "png", "wrongsize", "10x10 pixels, expected 256x256"),
    ("meta", "meta_cache", "png", "damaged", "bad CRC of chunk IDAT"),
    ("meta", "meta_cache", "png", "shortstream", "the image data ends early"),
    ("jpeg", "jpeg_cache", "jpeg", "truncated", "truncated JPEG image"),
    ("tiles", "tile_cache", "png", "damaged", "bad CRC of chunk IDAT"),
    ("tiles", "tile_cache", "png", "shortstream", "the image data ends early"),
    ("tiles", "tile_cache", "png", "wrongsize", "10x10 pixels, expected 256x256"),
    ("jpegtiles", "jpeg_tile_cache", "jpeg", "truncated", "truncated JPEG image"),
]


@pytest.mark.parametrize(("layer", "cache", "ext", "mode", "reason"), BAD_SOURCES,
                         ids=[f"{b[0]}-{b[3]}" for b in BAD_SOURCES])
def test_bad_source_images_are_source_errors_on_tile_services(app, source, tmp_path, layer, cache, ext, mode,
                                                              reason) -> None:
    source.reset(mode)
    for path in (f"/tms/1.0.0/{layer}/EPSG3857/1/1/1.{ext}", f"/wmts/{layer}/GLOBAL_WEBMERCATOR/2/1/1.{ext}",
                 f"/tiles/{layer}/EPSG3857/2/1/1.{ext}"):
        answer = call(app, path)
        assert answer.status == 500, (path, answer.body[:200])
        assert reason in answer.text, (path, answer.text)
        assert "detail=source-error" in answer.headers["Cache-Status"]
        assert answer.headers["Pragma"] == "no-cache"
    # one tile of the grid as a WMS map: the same error, in the WMS's words
    wms = call(app, "/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&SRS=EPSG:3857&STYLES="
                    f"&BBOX=0,0,20037508.342789244,20037508.342789244&WIDTH=256&HEIGHT=256&LAYERS={layer}"
                    f"&FORMAT=image/{ext}")
    assert wms.content_type.startswith("application/vnd.ogc.se_xml") and reason in wms.text, wms.body[:300]
    assert stored(tmp_path, cache) == []
    # the source is well again: the tile is made and stored, and then a hit
    source.reset("ok")
    answer = call(app, f"/tms/1.0.0/{layer}/EPSG3857/1/1/1.{ext}")
    assert answer.status == 200 and "stored" in answer.headers["Cache-Status"]
    assert answer.image.size == (256, 256)
    assert stored(tmp_path, cache)
    assert call(app, f"/tms/1.0.0/{layer}/EPSG3857/1/1/1.{ext}").headers["Cache-Status"] == "tileproxy; hit"


def direct_map(fmt: str = "image/png", size: int = 256) -> str:
    return ("/service?SERVICE=WMS&REQUEST=GetMap&VERSION=1.1.1&SRS=EPSG:3857&STYLES=&LAYERS=direct"
            f"&BBOX=0,0,5000000,5000000&WIDTH={size}&HEIGHT={size}&FORMAT={fmt}")


@pytest.mark.parametrize(("mode", "fmt", "reason"), [
    ("damaged", "image/png", "bad CRC of chunk IDAT"),
    ("shortstream", "image/png", "the image data ends early"),
    ("truncated", "image/jpeg", "truncated JPEG image"),
])
def test_an_uncached_layer_passes_no_bad_image_on(app, source, mode, fmt, reason) -> None:
    source.reset(mode)
    answer = call(app, direct_map(fmt))
    assert answer.content_type.startswith("application/vnd.ogc.se_xml") and reason in answer.text, answer.body[:300]


def test_an_uncached_layer_scales_a_map_of_another_size_to_the_size_asked_for(app, source) -> None:
    """MapProxy passes such a map on as it came (its own tests answer 200x200 requests
    with 256x256 images and expect a map); a client asked for 256x256 and gets that."""
    source.reset("wrongsize")
    answer = call(app, direct_map())
    assert answer.status == 200 and answer.content_type == "image/png"
    assert answer.image.size == (256, 256)
    assert answer.image.convert("RGB").getpixel((128, 128)) == (1, 2, 3)


def test_a_good_stale_tile_stays_when_the_refresh_is_a_bad_image(make_app, source) -> None:
    app = make_app(freshness_config(on_error={"other": {"response": "#ff0000", "authorize_stale": True}}))
    coord = META[0]
    assert call(app, tms_url(coord)).status == 200
    good = read(app, coord)
    age(app, [coord])
    mtime = os.stat(tile_path(app, coord)).st_mtime
    for mode in ("damaged", "shortstream", "wrongsize"):
        source.reset(mode)
        answer = call(app, tms_url(coord))
        assert answer.status == 200 and answer.body == good, mode
        assert answer.headers["Cache-Status"] == "tileproxy; fwd=stale; detail=stale-if-error"
        assert read(app, coord) == good and os.stat(tile_path(app, coord)).st_mtime == mtime
        assert source.count("wms") == 1


def test_without_on_error_the_stale_tile_stays_too(make_app, source) -> None:
    app = make_app(freshness_config())
    coord = META[0]
    call(app, tms_url(coord))
    good = read(app, coord)
    age(app, [coord])
    source.reset("damaged")
    answer = call(app, tms_url(coord))
    assert answer.status == 200 and answer.body == good
    assert answer.headers["Cache-Status"] == "tileproxy; fwd=stale; detail=stale-if-error"
    assert read(app, coord) == good


def test_on_error_answers_a_bad_image_like_any_source_error(make_app, source) -> None:
    app = make_app(freshness_config(on_error={"other": {"response": "#ff0000"}}))
    source.reset("damaged")
    answer = call(app, tms_url(META[0]))
    assert answer.status == 200 and answer.image.convert("RGB").getpixel((9, 9)) == (255, 0, 0)
    assert answer.headers["Cache-Status"] == "tileproxy; fwd=miss; detail=error-tile"
    assert read(app, META[0]) is None  # the error tile is not stored (no cache: true)


# -- seeding -------------------------------------------------------------------

SEED = {"seeds": {"world": {"caches": ["osm_cache"], "levels": {"to": 2}}}}


@pytest.mark.parametrize("mode", ["damaged", "shortstream", "wrongsize"])
@pytest.mark.parametrize("meta", [1, 2])
def test_seeding_counts_bad_images_as_failed_and_writes_none(tmp_path: Path, source, mode: str, meta: int) -> None:
    write_configs(tmp_path, source.url, SEED, meta=meta)
    source.reset(mode)
    failed = tmp_path / "failed.txt"
    status, out, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"), "--max-retries", "0",
                                "--failed-tiles", str(failed))
    assert status == 1, (out, err)
    assert cached(tmp_path) == set()
    assert len([line for line in failed.read_text().splitlines() if line]) == 1 + 4 + 16
    assert ", 0 written" in out + err
    source.reset("ok")
    status, out, err = run_seed(tmp_path, "-s", str(tmp_path / "seed.yaml"))
    assert status == 0, err
    assert len(cached(tmp_path)) == 21
