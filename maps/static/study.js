/* Study page: outline (Earth only) and harvested records (scenes, stations, events) on the study map. */
(function () {
  "use strict";
  const G = window.geostudies;
  const map = window.geostudiesMap;
  if (!map) return;
  const data = G.pageData();
  if (data.target === "earth") G.addWorldOutline(map).catch(() => {}); else G.addGraticule(map, 30);
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
