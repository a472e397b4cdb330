/* Dataset page: the extent (drawn by folium) and the footprints of the studies that used the dataset. */
(function () {
  "use strict";
  const G = window.geostudies;
  const map = window.geostudiesMap;
  const data = G.pageData();
  G.addBaseMap(map, data.base).catch(() => {});
  const layer = L.featureGroup().addTo(map);
  for (const s of data.studies) {
    if (!s.geometry || s.scope === "global") continue;
    const footprint = L.geoJSON(s.geometry, { style: { color: "#c0392b", weight: 1.5, fillOpacity: 0.2 } });
    footprint.bindTooltip(() => G.el("span", { text: s.title }));
    footprint.bindPopup(() => G.el("a", { href: "/studies/" + encodeURIComponent(s.id), text: s.title }));
    layer.addLayer(footprint);
  }
  document.getElementById("mapbox").setAttribute("data-studies", layer.getLayers().length);
})();
