"""The files ``tileproxy create`` writes (same purpose and keys as mapproxy-util's templates)."""

WSGI_APP = '''\
# WSGI entry point for gunicorn, uWSGI or mod_wsgi: gunicorn -w 4 {module}:application
#
# For logging, write a log.ini (tileproxy create -t log-ini log.ini) and uncomment:
# import os.path
# from logging.config import fileConfig
# fileConfig(r"{here}/log.ini", {{"here": os.path.dirname(__file__)}})

from tileproxy import make_wsgi_app

application = make_wsgi_app(r"{mapproxy_conf}")
'''

LOG_INI = '''\
# Python logging configuration (logging.config.fileConfig); %(here)s is this file's directory
# (tileproxy serve --log-config, TILEPROXY_LOG_CONFIG of tileproxy.deploy), or the directory
# a WSGI module passes, as the one from `tileproxy create -t wsgi-app` does.
[loggers]
keys=root,source_requests,access

[handlers]
keys=tileproxy,source_requests,access

[formatters]
keys=default,requests,access

[logger_root]
level=INFO
handlers=tileproxy

# every request sent to a source, in a file of its own (propagate=0: not in the main log too)
[logger_source_requests]
level=INFO
qualname=tileproxy.source.request
propagate=0
handlers=source_requests

# one line per request served (time, path, status, bytes, duration, layer, cache result,
# source time); globals.log_format: json in the mapproxy.yaml makes them JSON.
# level=WARNING turns it off; /healthz and /readyz are logged at DEBUG only
[logger_access]
level=INFO
qualname=tileproxy.access
propagate=0
handlers=access

[handler_tileproxy]
class=FileHandler
formatter=default
args=(r"%(here)s/tileproxy.log", "a")

[handler_source_requests]
class=FileHandler
formatter=requests
args=(r"%(here)s/source-requests.log", "a")

[handler_access]
class=FileHandler
formatter=access
args=(r"%(here)s/access.log", "a")

[formatter_default]
format=%(asctime)s %(levelname)s %(name)s: %(message)s

[formatter_requests]
format=[%(asctime)s] %(message)s

[formatter_access]
format=%(message)s
'''

MAPPROXY_YAML = '''\
# A small configuration to start from: one WMS source, cached in web mercator tiles,
# served as WMS, WMTS, TMS, /tiles and KML, with a demo page.
#   demo:  http://localhost:8080/demo/
#   WMS:   http://localhost:8080/service?SERVICE=WMS&REQUEST=GetCapabilities
#   WMTS:  http://localhost:8080/wmts/1.0.0/WMTSCapabilities.xml
#   tiles: http://localhost:8080/tiles/osm/webmercator/0/0/0.png (origin top left)
#   TMS:   http://localhost:8080/tms/1.0.0/osm/webmercator/0/0/0.png
#   KML:   http://localhost:8080/kml/osm/webmercator
# More options: full_example.yaml next to this file.

services:
  demo:
  kml:
    use_grid_names: true
  tms:
    use_grid_names: true
    origin: 'nw'
  wmts:
  wms:
    md:
      title: tileproxy WMS
      abstract: A WMS served by tileproxy from a cached source.

layers:
  - name: osm
    title: OpenStreetMap (from the terrestris demo WMS)
    sources: [osm_cache]

caches:
  osm_cache:
    grids: [webmercator]
    sources: [osm_wms]

sources:
  osm_wms:
    type: wms
    req:
      url: https://ows.terrestris.de/osm/service?
      layers: OSM-WMS

grids:
  webmercator:
    base: GLOBAL_WEBMERCATOR

globals:
'''

SEED_YAML = '''\
# Seeding for mapproxy.yaml: tileproxy-seed -f mapproxy.yaml -s seed.yaml
# More options: full_seed_example.yaml next to this file.

seeds:
  first_levels:
    caches: [osm_cache]
    levels:
      to: 10
    # tiles older than this are fetched again
    refresh_before:
      days: 30

cleanups:
  old_detail:
    caches: [osm_cache]
    levels:
      from: 11
    remove_before:
      days: 14

coverages:
  germany:
    bbox: [5.8, 47.2, 15.1, 55.1]
    srs: 'EPSG:4326'
'''

FULL_EXAMPLE_YAML = '''\
# Most options of a mapproxy.yaml, each with a short note. Copy what you need.

services:
  demo:
  tms:
    use_grid_names: true
    origin: 'nw'
  kml:
    use_grid_names: true
  wmts:
    restful: true
    kvp: true
  wms:
    srs: ['EPSG:4326', 'EPSG:3857', 'EPSG:25832']
    image_formats: ['image/png', 'image/jpeg']
    # larger requests are refused
    max_output_pixels: [4000, 4000]
    md:
      title: tileproxy WMS
      abstract: Everything a capabilities document can say about the service.
      online_resource: http://localhost:8080/service
      contact:
        person: Your Name
        organization: Your Organisation
        email: info@example.org
      access_constraints: Free to use, see the data's licence.
      fees: 'None'

layers:
  - name: base
    title: Background maps
    layers:
      - name: osm
        title: OpenStreetMap
        sources: [osm_cache]
      - name: osm_direct
        title: OpenStreetMap, not cached
        sources: [osm_wms]
        min_res: 10
  - name: tiled
    title: From a tile service
    sources: [tile_cache]

caches:
  osm_cache:
    grids: [webmercator, GLOBAL_GEODETIC]
    sources: [osm_wms]
    format: image/png
    meta_size: [4, 4]
    meta_buffer: 80
    cache:
      type: file
      directory_layout: tc
  tile_cache:
    grids: [webmercator]
    sources: [osm_tiles]
    cache:
      type: mbtiles
      filename: tiles.mbtiles

sources:
  osm_wms:
    type: wms
    supported_srs: ['EPSG:4326', 'EPSG:3857']
    req:
      url: https://ows.terrestris.de/osm/service?
      layers: OSM-WMS
      transparent: true
    coverage:
      bbox: [-180, -85, 180, 85]
      srs: 'EPSG:4326'
    http:
      client_timeout: 30
  osm_tiles:
    type: tile
    grid: webmercator
    url: https://tile.openstreetmap.org/%(tms_path)s.png

grids:
  webmercator:
    base: GLOBAL_WEBMERCATOR
  utm32:
    srs: 'EPSG:25832'
    bbox: [280000, 5200000, 920000, 6110000]
    res: [1000, 500, 250, 100, 50, 25, 10, 5]
    origin: 'nw'

globals:
  cache:
    base_dir: './cache_data'
    lock_dir: './cache_data/locks'
    meta_size: [4, 4]
  image:
    resampling_method: bicubic
    paletted: false
  http:
    client_timeout: 60
'''

FULL_SEED_EXAMPLE_YAML = '''\
# Most options of a seed.yaml, each with a short note.

seeds:
  overview:
    caches: [osm_cache]
    grids: [webmercator]
    levels:
      to: 8
  germany_detail:
    caches: [osm_cache]
    coverages: [germany]
    levels: [9, 10, 11, 12]
    refresh_before:
      time: 2024-01-01T00:00:00
  capital:
    caches: [osm_cache]
    coverages: [berlin]
    resolutions: [10, 5]

cleanups:
  everything_old:
    caches: [osm_cache]
    remove_before:
      weeks: 4
    levels:
      from: 13
  outside_germany:
    caches: [osm_cache]
    coverages: [germany]
    # all levels, only tiles within the coverage
    remove_all: true

coverages:
  germany:
    bbox: [5.8, 47.2, 15.1, 55.1]
    srs: 'EPSG:4326'
  berlin:
    bbox: [13.08, 52.33, 13.77, 52.68]
    srs: 'EPSG:4326'
'''
