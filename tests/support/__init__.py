"""The test harness of tileproxy's suite (pytest puts tests/ on sys.path, so this is
the package ``support``; conftest.py holds only thin fixtures over it).

- ``wsgi``: the one WSGI client: ``call(app, url)`` in-process, ``LiveServer`` and
  ``fetch`` over real HTTP, ``environ`` for code that takes an environ; ``Answer``.
- ``configs``: mapproxy.yaml as dicts (``wms_source``, ``cache``, ``layer``,
  ``cache_config`` ...), ``merge``/``put``/``fill`` to vary them, ``dump`` to write
  them with ``yaml.safe_dump``. Keep YAML text only where the text is under test.
- ``source_server``, ``arcgis_server``, ``http_stub``: real local HTTP servers.
- ``wms``, ``seed``, ``stores``, ``freshness``, ``demo``: helpers of those tests.
"""
