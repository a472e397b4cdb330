/* Study page: outline (Earth only) and harvested records (scenes, stations, events) on the study map. */
(function () {
  "use strict";
  const G = window.geostudies;
  const map = window.geostudiesMap;
  if (!map) return;
  const data = G.pageData();
  G.addBaseMap(map, data.base).catch(() => {});
  // A footprint too small to see at the study zoom (a site of a few hundred metres) also gets a marker.
  if (data.geometry && data.geometry.type !== "Point") {
    const marker = L.marker(G.markerPoint(data.geometry), { interactive: false, keyboard: false,
      icon: L.divIcon({ className: "study-marker site-marker", html: "", iconSize: [12, 12] }) });
    const outline = L.geoJSON(data.geometry);
    const small = () => {
      const b = outline.getBounds();
      const a = map.latLngToContainerPoint(b.getSouthWest()), c = map.latLngToContainerPoint(b.getNorthEast());
      return Math.abs(a.x - c.x) < 12 && Math.abs(a.y - c.y) < 12;
    };
    const update = () => { if (small()) marker.addTo(map); else marker.remove(); };
    map.on("zoomend", update); update();
  }
  const records = L.featureGroup().addTo(map);
  for (const h of data.harvested) {
    const layer = L.geoJSON(h.geometry, {
      pointToLayer: (_, latlng) => L.circleMarker(latlng, { radius: 5, color: "#17324d", weight: 1, fillOpacity: 0.8 }),
      style: { color: "#17324d", weight: 1, fillOpacity: 0.05 } });
    layer.bindTooltip(() => G.el("span", { text: `${h.title} (${h.collection})` }));
    records.addLayer(layer);
  }
  document.getElementById("mapbox").setAttribute("data-harvested", data.harvested.length);
})();

/* Study data: previews laid over the map on request, and a time-series chart per collection (uPlot). */
(function () {
  "use strict";
  const map = window.geostudiesMap;
  let overlay = null;
  for (const button of document.querySelectorAll("button.overlay")) {
    button.addEventListener("click", async () => {
      if (!map) return;
      const response = await fetch(button.dataset.href);
      if (!response.ok) { button.textContent = "not available"; return; }
      const [west, south, east, north] = response.headers.get("Geostudies-Bounds").split(",").map(Number);
      const url = URL.createObjectURL(await response.blob());
      if (overlay) overlay.remove();
      overlay = L.imageOverlay(url, [[south, west], [north, east]], { opacity: 0.85 }).addTo(map);
      document.getElementById("mapbox").setAttribute("data-overlay", button.closest("li").dataset.item);
    });
  }
  const charts = document.querySelectorAll(".timeseries[data-href]");
  let pending = charts.length;
  const done = () => { if (--pending <= 0) document.body.setAttribute("data-charts", "ready"); };
  if (!pending) document.body.setAttribute("data-charts", "ready");
  for (const box of charts) {
    fetch(box.dataset.href).then(r => r.json()).then(series => {
      const rows = series.rows.filter(r => r.datetime && !r.error);
      const bands = [...new Set(rows.flatMap(r => Object.keys(r.values)))];
      const xs = rows.map(r => Date.parse(r.datetime) / 1000);
      const data = [xs, ...bands.map(b => rows.map(r => r.values[b]))];
      const colours = window.geostudies.PALETTE;
      new uPlot({ width: Math.min(box.clientWidth || 360, 420), height: 180,
        title: `${series.stat} over the study area`,
        series: [{}, ...bands.map((b, i) => ({ label: b, stroke: colours[i % colours.length], points: { show: true } }))],
        axes: [{}, { size: 60 }] }, data, box);
      box.setAttribute("data-points", rows.length);
    }).catch(() => { box.textContent = "time series not available"; }).finally(done);
  }
})();

/* Other studies here: /studies/{id}/related, with the reasons each is listed. */
(function () {
  "use strict";
  const G = window.geostudies;
  const list = document.getElementById("related");
  if (!list) return;
  fetch(list.dataset.href).then(r => (r.ok ? r.json() : Promise.reject(new Error(r.statusText)))).then(doc => {
    list.replaceChildren();
    for (const r of doc.related) {
      list.appendChild(G.el("li", { "data-id": r.id }, [
        G.el("a", { href: "/studies/" + encodeURIComponent(r.id), text: r.title }),
        G.el("small", { text: " " + r.reasons.join("; ") }),
      ]));
    }
    if (!doc.related.length) list.appendChild(G.el("li", { className: "muted", text: "No other study shares its place, data or disciplines." }));
    list.setAttribute("data-count", doc.related.length);
  }).catch(() => { list.replaceChildren(G.el("li", { className: "muted", text: "Related studies are not available." })); });
})();
