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

  /* An always-available world outline (Natural Earth 1:110m countries via world-atlas), so the map is
     usable when tiles cannot load. Countries rather than merged land: Russia alone can be unwrapped across
     the antimeridian, while Eurasia as one polygon could not. */
  function addWorldOutline(map) {
    return fetch("/vendor/world-atlas/countries-110m.json").then(r => r.json()).then(topology => {
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
        if (g.type === "Polygon") g.coordinates = g.coordinates.map(unwrap);
        if (g.type === "MultiPolygon") g.coordinates = g.coordinates.map(poly => poly.map(unwrap));
      }
      const layer = L.geoJSON(land, { interactive: false, style: { color: "#a9b6c3", weight: 0.6, fill: true,
        fillColor: "#eef2f5", fillOpacity: 1 } });
      layer.addTo(map);
      layer.bringToBack();
      return layer;
    });
  }

  function addGraticule(map, step) {
    const lines = [];
    for (let lon = -180; lon <= 180; lon += step) lines.push([[-90, lon], [90, lon]]);
    for (let lat = -90; lat <= 90; lat += step) lines.push([[lat, -180], [lat, 180]]);
    L.polyline(lines, { color: "#b8c2cc", weight: 1, interactive: false }).addTo(map);
  }

  /* One marker position per footprint: the centre of its largest part, so an antimeridian-split
     MultiPolygon gets its marker on the footprint, not at longitude 0. */
  function markerPoint(geometry) {
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

  window.geostudies = { el, safeHref, pageData, addWorldOutline, addGraticule, markerPoint, PALETTE };
})();
