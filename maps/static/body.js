/* Another body's map: a labelled lon/lat graticule instead of Earth's outline, the footprints (drawn by
   folium) and a marker on each, so that a site of a few kilometres is not lost at the scale of the body. */
(function () {
  "use strict";
  const G = window.geostudies;
  const map = window.geostudiesMap;
  const data = G.pageData();
  G.addBaseMap(map, data.base);
  const markers = L.featureGroup().addTo(map);
  for (const s of data.studies) {
    if (!s.geometry || s.scope === "global") continue;
    const marker = L.marker(G.markerPoint(s.geometry), { title: s.title, alt: s.title,
      icon: L.divIcon({ className: "study-marker body-marker", html: "", iconSize: [14, 14] }) });
    marker.on("add", () => { const node = marker.getElement(); if (node) node.setAttribute("data-id", s.id); });
    marker.bindTooltip(() => G.el("span", { text: s.title }));
    marker.bindPopup(() => G.el("a", { href: "/studies/" + encodeURIComponent(s.id), text: s.title,
      className: "study-link" }));
    markers.addLayer(marker);
  }
  map.options.zoomSnap = 0.25;  // the whole body as large as the map allows
  map.fitBounds([[-90, -180], [90, 180]], { animate: false });
  document.getElementById("mapbox").setAttribute("data-markers", markers.getLayers().length);
})();
