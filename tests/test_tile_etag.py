"""ETags of tiles from backends without tile times: cheap checksums of the bytes."""

from tileproxy.http import tile_etag


def test_etag_follows_the_bytes_of_untimed_tiles():
    a = b"\x89PNG" + bytes(range(256)) * 8
    b = a[:-1] + b"\x00"  # same size, last byte changed
    assert tile_etag(None, a) == tile_etag(None, bytes(a))
    assert tile_etag(None, a) != tile_etag(None, b)
    assert tile_etag(None, a) != tile_etag(None, a + b"\x00")
    assert tile_etag(None, a).isalnum()  # a plain token, valid bare and inside quotes


def test_timed_tiles_keep_the_time_and_size_etag():
    assert tile_etag(1700000000.0, b"abc") == tile_etag(1700000000.0, b"xyz")
    assert tile_etag(1700000000.0, b"abc") != tile_etag(1700000001.0, b"abc")
