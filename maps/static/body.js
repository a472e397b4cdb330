/* Another body's map: a lon/lat graticule instead of Earth tiles. */
(function () {
  "use strict";
  const map = window.geostudiesMap;
  window.geostudies.addGraticule(map, 30);
  map.fitBounds([[-90, -180], [90, 180]]);
})();
