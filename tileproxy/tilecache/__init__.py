"""The tile cache: serving cached tiles, creating missing ones and refreshing stale
ones from the sources (see the modules' docstrings). Nothing is imported here, so
that importing one module (``locks``, say) does not import the others."""
