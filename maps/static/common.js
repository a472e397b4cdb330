/* geostudies page helpers. Record text only ever reaches the page through textContent. */
(function () {
  "use strict";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696"];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value == null ? "" : String(value);
      else if (key === "style") Object.assign(node.style, value);
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else if (key === "href") node.setAttribute("href", safeHref(value));
      else node[key] = value;
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function safeHref(value) {
    const text = String(value || "");
    return /^(https?:\/\/|\/(?!\/))/i.test(text) ? text : "#";
  }

  function pageData() {
    return JSON.parse(document.getElementById("page-data").textContent);
  }

  /* Panes under the data: the outline, then opt-in tiles (which cover it when switched on), then the
     graticule and its labels. Leaflet's own panes: tiles 200, overlays 400, markers 600. */
  function pane(map, name, zIndex) {
    const node = map.getPane(name) || map.createPane(name);
    node.style.zIndex = zIndex;
    node.style.pointerEvents = "none";
    return name;
  }

  /* The offline world outline: Natural Earth 1:50m countries (world-atlas on npm, served from /vendor), on a
     sea-coloured map. Countries rather than merged land: Russia alone can be unwrapped across the
     antimeridian, while Eurasia as one polygon could not. */
  function addWorldOutline(map, outline) {
    map.getContainer().classList.add("earth-map");
    return fetch(outline.href).then(r => r.json()).then(topology => {
      const land = topojson.feature(topology, topology.objects.countries);
      // Polygons crossing the antimeridian (Chukotka, Fiji) come with a 360-degree jump: unwrap them.
      // Only rings that are narrow once unwrapped: Antarctica really spans every longitude.
      const unwrap = ring => {
        if (!ring.some((p, i) => i && Math.abs(p[0] - ring[i - 1][0]) > 180)) return ring;
        const shifted = ring.map(([x, y]) => [x < 0 ? x + 360 : x, y]);
        const xs = shifted.map(p => p[0]);
        return Math.max(...xs) - Math.min(...xs) < 180 ? shifted : ring;
      };
      for (const f of land.features || [land]) {
        const g = f.geometry || f;
        if (!g) continue;
        if (g.type === "Polygon") g.coordinates = g.coordinates.map(unwrap);
        if (g.type === "MultiPolygon") g.coordinates = g.coordinates.map(poly => poly.map(unwrap));
      }
      const layer = L.geoJSON(land, { interactive: false, pane: pane(map, "outline", 250),
        renderer: L.canvas({ pane: "outline", padding: 0.2 }), attribution: outline.attribution,
        style: { color: "#9aa8b6", weight: 0.6, fill: true, fillColor: "#f4f1ea", fillOpacity: 1 } });
      layer.addTo(map);
      map.getContainer().setAttribute("data-outline", "ready");
      return layer;
    });
  }

  /* A lon/lat graticule whose spacing follows the zoom (30 degrees on the whole world, down to 0.1), with
     its latitudes labelled along the left edge and its longitudes along the top (30°N, 120°E). */
  const STEPS = [30, 15, 10, 5, 2, 1, 0.5, 0.25, 0.1];

  function degrees(value, positive, negative, step) {
    const digits = step >= 1 ? 0 : step >= 0.5 ? 1 : 2;
    const v = Number(value.toFixed(digits));
    if (v === 0) return "0°";
    if (Math.abs(v) === 180 && positive === "E") return "180°";
    return `${Math.abs(v).toFixed(digits)}°${v > 0 ? positive : negative}`;
  }

  function addGraticule(map) {
    const lines = L.layerGroup([], { pane: pane(map, "graticule", 350) });
    const labels = L.layerGroup([], { pane: "graticule" });
    const layer = L.layerGroup([lines, labels]);
    const wrap = lon => ((((lon + 180) % 360) + 360) % 360) - 180;
    const label = (latlng, text, className) => L.marker(latlng, { pane: "graticule", interactive: false,
      keyboard: false, icon: L.divIcon({ className: "graticule-label " + className, html: text, iconSize: null }) });

    function draw() {
      lines.clearLayers(); labels.clearLayers();
      const size = map.getSize();
      if (!size.x || !size.y) return;
      const perDegree = Math.abs(map.latLngToContainerPoint([0, 1]).x - map.latLngToContainerPoint([0, 0]).x);
      const step = STEPS.filter(s => s * perDegree >= 70).pop() || STEPS[0];  // lines 70 px apart or more
      const bounds = map.getBounds();
      const limit = map.options.crs === L.CRS.EPSG3857 ? 85 : 90;
      const south = Math.max(-limit, bounds.getSouth()), north = Math.min(limit, bounds.getNorth());
      let west = bounds.getWest(), east = bounds.getEast();
      if (!map.options.worldCopyJump) { west = Math.max(-180, west); east = Math.min(180, east); }  // one body
      const path = [];
      const left = Math.max(west, map.containerPointToLatLng([4, 0]).lng);
      const top = Math.min(north, map.containerPointToLatLng([0, 4]).lat);
      const topY = map.latLngToContainerPoint([top, 0]).y, leftX = map.latLngToContainerPoint([0, left]).x;
      for (let lat = Math.ceil(south / step) * step; lat <= north + 1e-9; lat += step) {
        path.push([[lat, west], [lat, east]]);
        if (map.latLngToContainerPoint([lat, left]).y - topY < 18) continue;  // under the longitude labels
        labels.addLayer(label([lat, left], degrees(lat, "N", "S", step), "graticule-lat"));
      }
      for (let lon = Math.ceil(west / step) * step; lon <= east + 1e-9; lon += step) {
        path.push([[south, lon], [north, lon]]);
        if (map.latLngToContainerPoint([top, lon]).x - leftX < 40) continue;  // beside the latitude labels
        labels.addLayer(label([top, lon], degrees(wrap(lon), "E", "W", step), "graticule-lon"));
      }
      lines.addLayer(L.polyline(path, { pane: "graticule", color: "#7d8c9b", weight: 0.6, opacity: 0.6,
        interactive: false }));
      map.getContainer().setAttribute("data-graticule-step", step);
    }
    layer.on("add", () => { map.on("moveend zoomend resize", draw); draw(); });
    layer.on("remove", () => { map.off("moveend zoomend resize", draw); });
    layer.addTo(map);
    return layer;
  }

  /* A note on the map (e.g. that the tiles could not be loaded), read out by screen readers. */
  function mapNote(map) {
    const Note = L.Control.extend({ options: { position: "bottomleft" },
      onAdd: () => el("div", { className: "map-note", role: "status", hidden: true }) });
    const control = new Note().addTo(map);
    return text => { const node = control.getContainer(); node.textContent = text; node.hidden = !text; };
  }

  /* The base map of a page: Earth gets the Natural Earth outline, every body a labelled graticule; the
     configured tiles are a layer the reader may switch on. If they cannot load (offline), the layer switches
     itself off again and a note says so: nothing is asked of a tile server unless the reader asks for it. */
  function addBaseMap(map, base) {
    base = base || {};
    const overlays = {};
    let layers = null;
    let outline = Promise.resolve(null);
    if (base.outline) outline = addWorldOutline(map, base.outline).then(layer => {
      if (layers) layers.addOverlay(layer, "Country outlines (Natural Earth)");
      return layer;
    });
    else {  // another body: its lon/lat extent, so that the map shows where the body ends
      L.rectangle([[-90, -180], [90, 180]], { pane: pane(map, "outline", 250), interactive: false,
        color: "#b9b2a5", weight: 1, fillColor: "#f1ede6", fillOpacity: 1 }).addTo(map);
      map.getContainer().classList.add("body-map");
    }
    overlays["Graticule"] = addGraticule(map);
    if (base.tiles) {
      const note = mapNote(map);
      const tiles = L.tileLayer(base.tiles.url, { attribution: base.tiles.attribution, maxZoom: 18,
        pane: pane(map, "optin-tiles", 300) });
      let failed = 0;
      tiles.on("tileerror", () => {
        if (failed++) return;
        map.removeLayer(tiles);
        note("Map tiles could not be loaded; showing the offline map.");
        map.getContainer().setAttribute("data-tiles", "failed");
      });
      tiles.on("add", () => { failed = 0; note(""); map.getContainer().setAttribute("data-tiles", "on"); });
      tiles.on("remove", () => { if (!failed) map.getContainer().setAttribute("data-tiles", "off"); });
      overlays["Street map tiles (online)"] = tiles;
      map.getContainer().setAttribute("data-tiles", "off");
    }
    layers = L.control.layers(null, overlays, { collapsed: true, position: "topright" }).addTo(map);
    return outline;
  }

  /* One marker position per footprint: the centre of its largest part, so an antimeridian-split
     MultiPolygon gets its marker on the footprint, not at longitude 0. */
  function markerPoint(geometry) {
    if (geometry.type === "Point") return [geometry.coordinates[1], geometry.coordinates[0]];
    if (geometry.type !== "Polygon" && geometry.type !== "MultiPolygon") {
      const b = L.geoJSON(geometry).getBounds().getCenter();
      return [b.lat, b.lng];
    }
    const polys = geometry.type === "MultiPolygon" ? geometry.coordinates : [geometry.coordinates];
    let best = null, bestArea = -1;
    for (const poly of polys) {
      const ring = poly[0];
      let minx = 180, maxx = -180, miny = 90, maxy = -90;
      for (const [x, y] of ring) { minx = Math.min(minx, x); maxx = Math.max(maxx, x); miny = Math.min(miny, y); maxy = Math.max(maxy, y); }
      const area = (maxx - minx) * (maxy - miny);
      if (area > bestArea) { bestArea = area; best = [(miny + maxy) / 2, (minx + maxx) / 2]; }
    }
    return best;
  }

  window.geostudies = { el, safeHref, pageData, addBaseMap, addWorldOutline, addGraticule, markerPoint, PALETTE };
})();
