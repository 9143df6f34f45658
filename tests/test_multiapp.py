"""MultiMapProxy: every ``NAME.yaml`` of a directory served under ``/NAME/`` by one
app, each project with its own layers and URLs, a broken one failing alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from support.configs import dump, wms_cache_config, write_config
from support.source_server import SourceServer
from support.wsgi import call, fetch, free_port, wait_for_server

from tileproxy import make_multi_wsgi_app

WMS_TMS = {"tms": None, "wms": {"srs": ["EPSG:3857"], "md": {"title": "multi"}}}


def project(layer: str) -> dict:
    """One layer ``layer`` over a WMS source on the local source server, its cache in
    the project's own directory."""
    return wms_cache_config(layer_name=layer, title=layer, services=WMS_TMS,
                            globals={"cache": {"base_dir": f"./cache_{layer}"}})


def three_projects(tmp_path: Path, source: SourceServer) -> Path:
    for name, layer in (("alpha", "a_layer"), ("beta", "b_layer"), ("gamma", "c_layer")):
        write_config(tmp_path / f"{name}.yaml", project(layer), source.url)
    return tmp_path


def touch_later(path: Path, seconds: float) -> None:
    """Give ``path`` a modification time ``seconds`` ahead (a change a coarse clock sees)."""
    later = time.time() + seconds
    os.utime(path, (later, later))


def test_each_project_serves_its_own_layers_under_its_name(tmp_path: Path, source: SourceServer) -> None:
    app = make_multi_wsgi_app(three_projects(tmp_path, source))
    for name, layer, other in (("alpha", "a_layer", "b_layer"), ("beta", "b_layer", "c_layer"),
                               ("gamma", "c_layer", "a_layer")):
        caps = call(app, f"/{name}/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1")
        assert caps.status == 200
        assert f"<Name>{layer}</Name>" in caps.text and f"<Name>{other}</Name>" not in caps.text
        assert f'xlink:href="http://localhost/{name}/service?' in caps.text
        tms = call(app, f"/{name}/tms/1.0.0/")
        assert f'href="http://localhost/{name}/tms/1.0.0/{layer}/' in tms.text
        tile = call(app, f"/{name}/tms/1.0.0/{layer}/EPSG3857/1/0/0.png")
        assert tile.status == 200 and tile.body[:4] == b"\x89PNG"
        assert (tmp_path / f"cache_{layer}").is_dir()
        assert call(app, f"/{name}/tms/1.0.0/{other}/EPSG3857/1/0/0.png").status == 404


def test_proxy_prefix_comes_before_the_project_name(tmp_path: Path, source: SourceServer) -> None:
    app = make_multi_wsgi_app(three_projects(tmp_path, source))
    caps = call(app, "/maps/beta/service?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1",
                headers={"X-Script-Name": "/maps"})
    assert 'xlink:href="http://localhost/maps/beta/service?' in caps.text
    mounted = call(app, "/beta/tms/1.0.0/", headers={})
    assert 'href="http://localhost/beta/tms/1.0.0/b_layer/' in mounted.text


def test_broken_config_fails_alone_with_its_file_and_key_path(tmp_path: Path, source: SourceServer) -> None:
    three_projects(tmp_path, source)
    broken = project("d_layer")
    broken["caches"]["c"]["grids"] = ["no_such_grid"]
    write_config(tmp_path / "delta.yaml", broken, source.url)
    app = make_multi_wsgi_app(tmp_path)
    answer = call(app, "/delta/service?SERVICE=WMS&REQUEST=GetCapabilities")
    assert answer.status == 500
    assert "configuration error in project delta" in answer.text
    assert "delta.yaml" in answer.text and "caches.c.grids" in answer.text and "no_such_grid" in answer.text
    assert "Traceback" not in answer.text
    for name in ("alpha", "beta", "gamma"):
        assert call(app, f"/{name}/tms/1.0.0/").status == 200
    # fixed: served at the next request
    write_config(tmp_path / "delta.yaml", project("d_layer"), source.url)
    touch_later(tmp_path / "delta.yaml", 5)
    assert b"d_layer" in call(app, "/delta/tms/1.0.0/").body


def test_listing_on_and_off(tmp_path: Path, source: SourceServer) -> None:
    three_projects(tmp_path, source)
    (tmp_path / "notes.txt").write_text("not a project")
    listed = call(make_multi_wsgi_app(tmp_path), "/")
    assert listed.status == 200 and listed.content_type.startswith("text/html")
    assert "<h2>available instances:</h2>" in listed.text
    links = [f'<li><a href="http://localhost/{n}/">{n}</a></li>' for n in ("alpha", "beta", "gamma")]
    assert "\n".join(links) in listed.text and "notes" not in listed.text
    hidden = call(make_multi_wsgi_app(tmp_path, allow_listing=False), "/")
    assert hidden.status == 200 and "Welcome to tileproxy" in hidden.text
    assert "alpha" not in hidden.text and "available instances" not in hidden.text


def test_changed_config_is_reloaded(tmp_path: Path, source: SourceServer) -> None:
    three_projects(tmp_path, source)
    app = make_multi_wsgi_app(tmp_path, reload_interval=0)
    assert b"a_layer" in call(app, "/alpha/tms/1.0.0/").body
    write_config(tmp_path / "alpha.yaml", project("renamed"), source.url)
    touch_later(tmp_path / "alpha.yaml", 5)
    tms = call(app, "/alpha/tms/1.0.0/").text
    assert "renamed" in tms and "a_layer" not in tms
    (tmp_path / "alpha.yaml").unlink()
    assert call(app, "/alpha/tms/1.0.0/").status == 404
    assert "alpha" not in app.loaded()


def test_loaded_apps_are_bounded_least_recently_used_first(tmp_path: Path, source: SourceServer) -> None:
    three_projects(tmp_path, source)
    app = make_multi_wsgi_app(tmp_path, app_cache_size=2)
    call(app, "/alpha/tms/1.0.0/")
    call(app, "/beta/tms/1.0.0/")
    call(app, "/alpha/tms/1.0.0/")  # alpha is now the most recently used
    call(app, "/gamma/tms/1.0.0/")
    assert app.loaded() == ["alpha", "gamma"]
    assert call(app, "/beta/tms/1.0.0/").status == 200  # loaded again on demand
    assert app.loaded() == ["gamma", "beta"]


def test_names_are_plain_file_names(tmp_path: Path, source: SourceServer) -> None:
    (tmp_path / "projects").mkdir()
    projects = three_projects(tmp_path / "projects", source)
    write_config(tmp_path / "outside.yaml", project("x_layer"), source.url)
    (projects / ".hidden.yaml").write_text(dump(project("h_layer")))
    app = make_multi_wsgi_app(projects)
    for path in ("/../outside/tms/1.0.0/", "/%2e%2e/outside/tms/1.0.0/", "/..%2foutside/tms/1.0.0/",
                 "/.hidden/tms/1.0.0/", "/alpha.yaml/tms/1.0.0/", "/alpha.yaml", "/nothing/",
                 "/al%5cpha/", "/alpha%00/"):
        assert call(app, path).status == 404, path
    assert ".hidden" not in call(app, "/").text
    root = call(app, "/alpha")  # the project's root, as MapProxy answers it
    assert root.status == 200
    assert 'href="http://localhost/alpha/tms/1.0.0/"' in root.text


def test_serve_multiapp_command(tmp_path: Path, source: SourceServer) -> None:
    three_projects(tmp_path, source)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "tileproxy.cli.main", "serve-multiapp", str(tmp_path),
                             "-b", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(base, proc)
        assert f'href="{base}/beta/"' in fetch(base + "/").text
        tile = fetch(base + "/gamma/tms/1.0.0/c_layer/EPSG3857/0/0/0.png")
        assert tile.status == 200 and tile.body[:4] == b"\x89PNG"
        assert fetch(base + "/delta/").status == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
