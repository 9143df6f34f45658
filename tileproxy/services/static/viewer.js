/* tileproxy demo viewer: a small slippy map for any tile grid.
 *
 * The demo page embeds the grid as JSON (<script id="viewer-config">, written
 * by tileproxy/services/demo.py):
 *   matrices  [{id, level, res, scale, left, top, width, height}], coarse to fine;
 *             left/top is the matrix's top-left corner in map units
 *   tileSize  [width, height] in pixels
 *   url       tile URL template with {z} (matrix id), {x} (column), {y} (row),
 *             or (WMS) a GetMap URL with {bbox}: minx,miny,maxx,maxy of the tile
 *             (miny,minx,maxy,maxx when bboxYX)
 *   yAxis     "down": rows count from the top (WMTS, WMS); "up": from the bottom (TMS)
 *   bbox, srs, units; fit (optional): the bbox to show first instead of bbox
 * The view is a center in map units plus a matrix index; each render places the
 * tiles of that matrix that intersect the viewport. Plain ES5, no dependencies.
 */
(function () {
  "use strict";

  // ---- tile maths: pure functions (run by node in tests/test_demo.py) ----

  /** Tiles of `matrix` that cover a viewport of `size` [w, h] px centred on
   *  `center` [x, y]: [{col, row, x, y}], x/y being the tile's top-left corner
   *  in viewport pixels, nearest to the centre first. */
  function visibleTiles(matrix, tileSize, center, size) {
    var res = matrix.res, tw = tileSize[0], th = tileSize[1];
    // the matrix corner in viewport pixels, rounded once so that neighbouring
    // tiles always meet without gaps or overlaps
    var ox = Math.round((matrix.left - center[0]) / res + size[0] / 2);
    var oy = Math.round((center[1] - matrix.top) / res + size[1] / 2);
    var col0 = Math.max(0, Math.floor(-ox / tw));
    var col1 = Math.min(matrix.width - 1, Math.ceil((size[0] - ox) / tw) - 1);
    var row0 = Math.max(0, Math.floor(-oy / th));
    var row1 = Math.min(matrix.height - 1, Math.ceil((size[1] - oy) / th) - 1);
    var tiles = [];
    for (var row = row0; row <= row1; row++) {
      for (var col = col0; col <= col1; col++) {
        tiles.push({col: col, row: row, x: ox + col * tw, y: oy + row * th});
      }
    }
    var cx = size[0] / 2 - tw / 2, cy = size[1] / 2 - th / 2;
    tiles.sort(function (a, b) {
      return Math.hypot(a.x - cx, a.y - cy) - Math.hypot(b.x - cx, b.y - cy);
    });
    return tiles;
  }

  /** Map bbox [minx, miny, maxx, maxy] of a tile; `row` counts from the top. */
  function tileBBox(matrix, tileSize, col, row) {
    var w = tileSize[0] * matrix.res, h = tileSize[1] * matrix.res;
    return [matrix.left + col * w, matrix.top - (row + 1) * h, matrix.left + (col + 1) * w, matrix.top - row * h];
  }

  /** The URL of a tile; `row` counts from the top of the matrix. */
  function tileUrl(conf, matrix, col, row) {
    if (conf.url.indexOf("{bbox}") >= 0) {
      var b = tileBBox(matrix, conf.tileSize, col, row);
      if (conf.bboxYX) b = [b[1], b[0], b[3], b[2]];
      return conf.url.replace("{bbox}", b.join(","));
    }
    var y = conf.yAxis === "up" ? matrix.height - 1 - row : row;
    return conf.url.replace("{z}", matrix.id).replace("{x}", col).replace("{y}", y);
  }

  /** Index of the finest matrix at which `bbox` fits into `size` px. */
  function fitLevel(matrices, bbox, size) {
    var need = Math.max((bbox[2] - bbox[0]) / size[0], (bbox[3] - bbox[1]) / size[1]);
    for (var i = matrices.length - 1; i > 0; i--) {
      if (matrices[i].res >= need * 0.999) return i;
    }
    return 0;
  }

  /** Map coordinates of viewport pixel `px` [x, y]. */
  function toMap(res, center, size, px) {
    return [center[0] + (px[0] - size[0] / 2) * res, center[1] - (px[1] - size[1] / 2) * res];
  }

  /** Spherical web mercator metres to lon/lat degrees. */
  function mercatorToLonLat(p) {
    var r = 6378137;
    return [p[0] / r * 180 / Math.PI, (2 * Math.atan(Math.exp(p[1] / r)) - Math.PI / 2) * 180 / Math.PI];
  }

  /** Decimals that show one pixel's worth of precision at `res`. */
  function decimals(res) {
    return Math.max(0, Math.min(10, Math.ceil(-Math.log10(res))));
  }

  // ---- the map widget ----

  function Viewer(el, conf, info) {
    this.el = el;
    this.conf = conf;
    this.info = info || {};
    this.tiles = {};         // "id/col/row" -> <img> in this.pane
    this.backdrop = null;    // previous level's tiles, kept scaled until the new ones load
    this.extent = el.appendChild(makeDiv("tp-extent"));
    this.pane = el.appendChild(makeDiv("tp-tiles"));
    this.addControls();
    this.bindEvents();
    if (!this.readHash()) this.fit();
    this.render();
  }

  Viewer.prototype.size = function () {
    return [this.el.clientWidth, this.el.clientHeight];
  };

  Viewer.prototype.matrix = function () {
    return this.conf.matrices[this.level];
  };

  Viewer.prototype.fit = function () {
    var b = this.conf.fit || this.conf.bbox;
    this.level = fitLevel(this.conf.matrices, b, this.size());
    this.center = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  };

  /** Restore the view from a "#<matrix id>/<x>/<y>" permalink. */
  Viewer.prototype.readHash = function () {
    var parts = window.location.hash.slice(1).split("/");
    if (parts.length !== 3) return false;
    var ids = this.conf.matrices.map(function (m) { return m.id; });
    var level = ids.indexOf(parts[0]), x = parseFloat(parts[1]), y = parseFloat(parts[2]);
    if (level < 0 || !isFinite(x) || !isFinite(y)) return false;
    this.level = level;
    this.center = [x, y];
    this.clampCenter();
    return true;
  };

  Viewer.prototype.writeHash = function () {
    var d = decimals(this.matrix().res);
    var hash = "#" + this.matrix().id + "/" + this.center[0].toFixed(d) + "/" + this.center[1].toFixed(d);
    window.history.replaceState(null, "", hash);
  };

  /** Keep the centre inside the grid's bbox so the map cannot be lost. */
  Viewer.prototype.clampCenter = function () {
    var b = this.conf.bbox;
    this.center = [Math.min(Math.max(this.center[0], b[0]), b[2]),
                   Math.min(Math.max(this.center[1], b[1]), b[3])];
  };

  /** Change the level by `step`, keeping the map point under `px` (default: centre) still. */
  Viewer.prototype.zoom = function (step, px) {
    var level = Math.min(Math.max(this.level + step, 0), this.conf.matrices.length - 1);
    if (level === this.level) return;
    var size = this.size();
    px = px || [size[0] / 2, size[1] / 2];
    var anchor = toMap(this.matrix().res, this.center, size, px);
    var res = this.conf.matrices[level].res;
    // keep what is on screen now, scaled, until the new level has loaded
    if (this.backdrop) this.el.removeChild(this.backdrop.pane);
    this.backdrop = {pane: this.pane, res: this.matrix().res, center: this.center};
    this.backdrop.pane.classList.add("tp-backdrop");
    this.pane = this.el.insertBefore(makeDiv("tp-tiles"), this.backdrop.pane.nextSibling);
    this.tiles = {};
    this.level = level;
    this.center = [anchor[0] - (px[0] - size[0] / 2) * res, anchor[1] + (px[1] - size[1] / 2) * res];
    this.clampCenter();
    this.render();
    this.writeHash();
  };

  Viewer.prototype.render = function () {
    var self = this, m = this.matrix(), size = this.size(), ts = this.conf.tileSize;
    var keep = {};
    visibleTiles(m, ts, this.center, size).forEach(function (t) {
      var key = m.id + "/" + t.col + "/" + t.row;
      var img = self.tiles[key] || self.addTile(m, t, ts);
      img.style.left = t.x + "px";
      img.style.top = t.y + "px";
      keep[key] = img;
    });
    Object.keys(this.tiles).forEach(function (key) {
      if (!keep[key]) self.pane.removeChild(self.tiles[key]);
    });
    this.tiles = keep;
    // the grid's bbox, so that "outside the grid" differs from "empty tile"
    var b = this.conf.bbox, tl = this.toPixel([b[0], b[3]]), br = this.toPixel([b[2], b[1]]);
    setBox(this.extent, tl[0], tl[1], br[0] - tl[0], br[1] - tl[1]);
    if (this.backdrop) this.placeBackdrop(size);
    this.showLevel();
    if (this.pointer) this.showCursor(this.pointer);
  };

  Viewer.prototype.addTile = function (m, t, ts) {
    var self = this, img = document.createElement("img");
    img.className = "tp-tile";
    img.alt = "";
    img.draggable = false;
    img.width = ts[0];
    img.height = ts[1];
    img.onload = img.onerror = function () { self.tileDone(img); };
    img.src = tileUrl(this.conf, m, t.col, t.row);
    this.pane.appendChild(img);
    return img;
  };

  /** A tile finished: hide it when broken, drop the backdrop once all have loaded. */
  Viewer.prototype.tileDone = function (img) {
    if (!img.naturalWidth) img.classList.add("tp-broken");
    if (!this.backdrop) return;
    var tiles = this.tiles;
    if (Object.keys(tiles).every(function (k) { return tiles[k].complete; })) {
      this.el.removeChild(this.backdrop.pane);
      this.backdrop = null;
    }
  };

  /** Scale and move the backdrop so that it matches the current view. */
  Viewer.prototype.placeBackdrop = function (size) {
    var bd = this.backdrop, res = this.matrix().res, k = bd.res / res;
    var tx = size[0] / 2 * (1 - k) + (bd.center[0] - this.center[0]) / res;
    var ty = size[1] / 2 * (1 - k) - (bd.center[1] - this.center[1]) / res;
    bd.pane.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + k + ")";
  };

  Viewer.prototype.toPixel = function (p) {
    var res = this.matrix().res, size = this.size();
    return [(p[0] - this.center[0]) / res + size[0] / 2, (this.center[1] - p[1]) / res + size[1] / 2];
  };

  Viewer.prototype.showLevel = function () {
    var m = this.matrix();
    if (this.info.level) {
      this.info.level.textContent = "level " + m.id + " (grid level " + m.level + ") · resolution " +
        m.res.toPrecision(8) + " " + this.conf.units + "/px · 1:" + Math.round(m.scale).toLocaleString("en");
    }
  };

  /** Show the map coordinates under viewport pixel `px` (none: clear). */
  Viewer.prototype.showCursor = function (px) {
    this.pointer = px;
    if (!this.info.cursor) return;
    if (!px) { this.info.cursor.textContent = ""; return; }
    var res = this.matrix().res, p = toMap(res, this.center, this.size(), px), d = decimals(res);
    var text = p[0].toFixed(d) + ", " + p[1].toFixed(d) + " " + this.conf.srs;
    if (this.conf.webMercator) {
      var ll = mercatorToLonLat(p), dd = decimals(res / 111319.49);
      text += " (lon " + ll[0].toFixed(dd) + ", lat " + ll[1].toFixed(dd) + ")";
    }
    this.info.cursor.textContent = text;
  };

  Viewer.prototype.addControls = function () {
    var self = this, box = this.el.appendChild(makeDiv("tp-controls"));
    [["+", "Zoom in", function () { self.zoom(1); }],
     ["\u2212", "Zoom out", function () { self.zoom(-1); }],
     ["\u2302", "Whole grid", function () { self.fit(); self.render(); self.writeHash(); }]
    ].forEach(function (c) {
      var b = box.appendChild(document.createElement("button"));
      b.type = "button";
      b.textContent = c[0];
      b.title = c[1];
      b.setAttribute("aria-label", c[1]);
      b.addEventListener("click", c[2]);
    });
  };

  Viewer.prototype.bindEvents = function () {
    var self = this, el = this.el, drag = null, wheel = 0;
    function pos(e) {
      var r = el.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    }
    el.addEventListener("pointerdown", function (e) {
      if (e.button !== 0 || e.target.closest("button")) return;
      drag = {x: e.clientX, y: e.clientY, center: self.center};
      el.setPointerCapture(e.pointerId);
      el.classList.add("tp-dragging");
    });
    el.addEventListener("pointermove", function (e) {
      if (drag) {
        var res = self.matrix().res;
        self.center = [drag.center[0] - (e.clientX - drag.x) * res,
                       drag.center[1] + (e.clientY - drag.y) * res];
        self.clampCenter();
        self.render();
      }
      self.showCursor(pos(e));
    });
    function endDrag() {
      if (!drag) return;
      drag = null;
      el.classList.remove("tp-dragging");
      self.writeHash();
    }
    el.addEventListener("pointerup", endDrag);
    el.addEventListener("pointercancel", endDrag);
    el.addEventListener("pointerleave", function () { self.showCursor(null); });
    el.addEventListener("wheel", function (e) {
      e.preventDefault();
      // one level per wheel notch; trackpads send many small deltas that add up
      var delta = e.deltaY * (e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1);
      wheel = (wheel * delta < 0 ? 0 : wheel) + delta;
      if (Math.abs(wheel) >= 50) {
        self.zoom(wheel < 0 ? 1 : -1, pos(e));
        wheel = 0;
      }
    }, {passive: false});
    el.addEventListener("dblclick", function (e) {
      if (!e.target.closest("button")) self.zoom(e.shiftKey ? -1 : 1, pos(e));
    });
    el.addEventListener("keydown", function (e) {
      var res = self.matrix().res, step = 100 * res;
      var moves = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step]};
      if (e.key === "+" || e.key === "=") self.zoom(1);
      else if (e.key === "-") self.zoom(-1);
      else if (moves[e.key]) {
        self.center = [self.center[0] + moves[e.key][0], self.center[1] + moves[e.key][1]];
        self.clampCenter();
        self.render();
        self.writeHash();
      } else return;
      e.preventDefault();
    });
    // re-render whenever the map's box changes size (window, layout, fonts)
    if (window.ResizeObserver) new ResizeObserver(function () { self.render(); }).observe(el);
    else window.addEventListener("resize", function () { self.render(); });
  };

  function makeDiv(cls) {
    var div = document.createElement("div");
    div.className = cls;
    return div;
  }

  function setBox(el, x, y, w, h) {
    el.style.left = x + "px";
    el.style.top = y + "px";
    el.style.width = w + "px";
    el.style.height = h + "px";
  }

  var api = {visibleTiles: visibleTiles, tileBBox: tileBBox, tileUrl: tileUrl, fitLevel: fitLevel, toMap: toMap,
             mercatorToLonLat: mercatorToLonLat, decimals: decimals, Viewer: Viewer};
  if (typeof module === "object" && module.exports) {
    module.exports = api;  // node, for the tests
  } else {
    window.TileViewer = api;
    var confEl = document.getElementById("viewer-config"), mapEl = document.getElementById("map");
    if (confEl && mapEl) {
      window.tileViewer = new Viewer(mapEl, JSON.parse(confEl.textContent), {
        level: document.getElementById("map-level"),
        cursor: document.getElementById("map-cursor")
      });
    }
  }
})();
