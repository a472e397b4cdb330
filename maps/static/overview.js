/* Overview map: every Earth study as footprint + clustered marker, filters and region search.
   All data comes from the STAC API's /search; the URL always holds the current query. */
(function () {
  "use strict";
  const G = window.geostudies;
  const map = window.geostudiesMap;
  const data = G.pageData();
  // A study's colour is its first discipline's family's (the families and colours are the server's, as in the
  // legend, maps/views.py FAMILIES).
  const colour = {};
  for (const family of data.families) for (const d of family.disciplines) colour[d] = family.colour;
  const colourOf = p => colour[(p["geostudies:disciplines"] || [])[0]] || data.other;

  const footprints = L.featureGroup().addTo(map);
  const markers = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 }).addTo(map);
  const globalLayer = L.featureGroup();
  const regionLayer = L.featureGroup().addTo(map);
  const byId = {};
  const form = document.getElementById("filters");
  const field = name => document.getElementById("f-" + name);
  const state = { q: "", place: "", discipline: "", dataset: "", time: "", from: "", to: "", geologic: "", bbox: "",
    intersects: "", global: "" };

  G.addBaseMap(map, data.base).catch(() => {});

  // -- state <-> URL <-> form ---------------------------------------------------------------
  function readUrl() {
    const params = new URLSearchParams(window.location.search);
    for (const key of Object.keys(state)) state[key] = params.get(key) || "";
    for (const key of ["q", "place", "discipline", "dataset", "time", "from", "to", "geologic"]) field(key).value = state[key];
    document.getElementById("toggle-global").checked = state.global === "1";
  }

  function writeUrl() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value) params.set(key, value);
    const query = params.toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
  }

  /* The current search as a POST /search body; `omit` leaves out one filter (for its own facet counts). */
  function searchBody(omit) {
    const args = [{ op: "=", args: [{ property: "geostudies:target" }, "earth"] }];
    if (state.discipline && omit !== "discipline") args.push({ op: "a_contains", args: [{ property: "geostudies:disciplines" }, [state.discipline]] });
    if (state.dataset && omit !== "dataset") args.push({ op: "a_contains", args: [{ property: "geostudies:datasets" }, [state.dataset]] });
    const year = value => (/^\d{1,4}$/.test(value) ? value.padStart(4, "0") : "");
    const from = year(state.from), to = year(state.to);
    let datetime = "";
    if (state.time === "data") {
      // The data's time: a datetime search, which studies without a calendar time span never match.
      if (from || to) datetime = `${from ? from + "-01-01T00:00:00Z" : ".."}/${to ? to + "-12-31T23:59:59Z" : ".."}`;
    } else {
      // Publication time: the geostudies:published queryable (a date).
      if (from) args.push({ op: ">=", args: [{ property: "geostudies:published" }, { date: from + "-01-01" }] });
      if (to) args.push({ op: "<=", args: [{ property: "geostudies:published" }, { date: to + "-12-31" }] });
    }
    const body = { collections: ["studies"], limit: 1000, "filter-lang": "cql2-json",
      filter: args.length > 1 ? { op: "and", args } : args[0] };
    if (datetime) body.datetime = datetime;
    if (state.geologic) body.geologic_time = state.geologic;
    if (state.q) body.q = state.q;
    if (state.place) body.place = state.place;
    else if (state.bbox) body.bbox = state.bbox.split(",").map(Number);
    else if (state.intersects) body.intersects = JSON.parse(state.intersects);
    // A region search lists by relevance: most of the study's area inside the region first, then the smallest,
    // so site and regional studies come before global ones.
    if (body.place || body.bbox || body.intersects) body.sortby = [{ field: "geostudies:relevance", direction: "desc" }];
    return body;
  }

  /* The current search as a GET /search URL (the same query as the map's POST), in a format of the API. */
  function searchUrl(format) {
    const body = searchBody();
    const params = new URLSearchParams({ collections: body.collections.join(","), limit: String(body.limit),
      "filter-lang": "cql2-json", filter: JSON.stringify(body.filter) });
    if (body.q) params.set("q", body.q);
    if (body.place) params.set("place", body.place);
    if (body.bbox) params.set("bbox", body.bbox.join(","));
    if (body.intersects) params.set("intersects", JSON.stringify(body.intersects));
    if (format) params.set("f", format);
    return "/search?" + params.toString();
  }

  const FORMATS = [["geojson", "GeoJSON", "", "studies.geojson"], ["csv", "CSV", "csv", "studies.csv"],
    ["parquet", "GeoParquet", "parquet", "studies.parquet"]];
  const Download = L.Control.extend({ options: { position: "topright" }, onAdd: () => {
    const box = G.el("div", { className: "leaflet-bar download-control", id: "download" }, [
      G.el("span", { className: "download-title", text: "Download these results" }),
      ...FORMATS.map(([key, label, , filename]) => G.el("a", { id: "download-" + key, text: label,
        download: filename, href: "/search" }))]);
    L.DomEvent.disableClickPropagation(box);
    return box;
  } });
  map.addControl(new Download());
  function updateDownloads() {
    for (const [key, , format] of FORMATS) document.getElementById("download-" + key).setAttribute("href", searchUrl(format));
  }

  /* Facet counts beside each discipline and dataset choice: how many studies the search would match with that
     choice, the other filters kept (POST /aggregate, the Aggregation extension). */
  const FACETS = [["discipline", "discipline_frequency", "f-discipline"], ["dataset", "dataset_frequency", "f-dataset"]];
  async function updateCounts(mine) {
    for (const [key, name, id] of FACETS) {
      const body = searchBody(key);
      delete body.limit; delete body.sortby;
      body.aggregations = [name, "total_count"];
      const response = await fetch("/aggregate", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
      if (!response.ok || mine !== generation) return;
      const result = await response.json();
      const frequency = new Map(result.aggregations.find(a => a.name === name).buckets.map(b => [b.key, b.frequency]));
      const total = result.aggregations.find(a => a.name === "total_count").value;
      for (const option of document.getElementById(id).options) {
        if (!option.dataset.label) option.dataset.label = option.textContent;
        const count = option.value ? (frequency.get(option.value) || 0) : total;
        option.textContent = `${option.dataset.label} (${count})`;
        option.dataset.count = String(count);
      }
    }
    document.body.setAttribute("data-counts", String(mine));
  }

  async function fetchAll(body) {
    const features = [];
    let request = { href: "/search", body };
    while (request) {
      const response = await fetch(request.href, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(request.body) });
      const page = await response.json();
      if (!response.ok) throw new Error(page.description || response.statusText);
      features.push(...page.features);
      request = (page.links || []).find(link => link.rel === "next") || null;
    }
    return features;
  }

  // -- rendering ----------------------------------------------------------------------------
  function popupFor(f) {
    const p = f.properties;
    return G.el("div", { className: "popup" }, [
      G.el("h3", { text: p.title }),
      G.el("p", { text: p["geostudies:title_zh"], lang: "zh-Hans" }),
      G.el("p", { text: `${p["geostudies:journal"]} · ${p["geostudies:published"]}` }),
      G.el("p", { text: (p["geostudies:disciplines"] || []).join(", ") }),
      G.el("p", {}, [G.el("a", { href: "/studies/" + encodeURIComponent(f.id), text: "Open study page", className: "study-link" })]),
    ]);
  }

  function listItem(f, swatchColour) {
    const p = f.properties;
    return G.el("li", { "data-id": f.id }, [
      G.el("span", { className: "swatch", style: { background: swatchColour } }),
      G.el("a", { href: "/studies/" + encodeURIComponent(f.id), text: p.title }),
      G.el("small", { text: ` ${p["geostudies:journal"]}, ${p["geostudies:year"]}` }),
    ]);
  }

  function highlight(id, on) {
    const entry = byId[id];
    if (!entry) return;
    entry.footprint.setStyle({ weight: on ? 4 : 1.5, fillOpacity: on ? 0.35 : 0.15 });
    if (entry.item) entry.item.classList.toggle("highlight", on);
  }

  function render(features) {
    footprints.clearLayers(); markers.clearLayers(); globalLayer.clearLayers();
    for (const key of Object.keys(byId)) delete byId[key];
    const lists = { mapped: document.getElementById("results"), global: document.getElementById("global-results"),
      unplaced: document.getElementById("unplaced-results") };
    Object.values(lists).forEach(list => list.replaceChildren());
    const counts = { mapped: 0, global: 0, unplaced: 0 };
    for (const f of features) {
      const p = f.properties;
      const c = colourOf(p);
      if (!f.geometry) {
        lists.unplaced.appendChild(listItem(f, c)); counts.unplaced++;
        continue;
      }
      const isGlobal = p["geostudies:scope"] === "global";
      const footprint = L.geoJSON(f.geometry, { style: { color: c, weight: 1.5, fillOpacity: 0.15 } });
      footprint.bindPopup(() => popupFor(f));
      footprint.bindTooltip(() => G.el("span", { text: p.title }), { sticky: true });
      const item = listItem(f, c);
      byId[f.id] = { footprint, item };
      item.addEventListener("mouseenter", () => highlight(f.id, true));
      item.addEventListener("mouseleave", () => highlight(f.id, false));
      footprint.on("mouseover", () => highlight(f.id, true));
      footprint.on("mouseout", () => highlight(f.id, false));
      if (isGlobal) {
        globalLayer.addLayer(footprint); lists.global.appendChild(item); counts.global++;
        continue;
      }
      footprints.addLayer(footprint);
      const marker = L.marker(G.markerPoint(f.geometry), { title: p.title,
        icon: L.divIcon({ className: "study-marker", html: "", iconSize: [14, 14] }) });
      marker.on("add", () => { const node = marker.getElement(); if (node) { node.style.background = c;
        node.style.borderRadius = "50%"; node.style.border = "2px solid #fff"; node.setAttribute("data-id", f.id); } });
      marker.bindPopup(() => popupFor(f));
      marker.bindTooltip(() => G.el("span", { text: p.title }));
      markers.addLayer(marker);
      lists.mapped.appendChild(item); counts.mapped++;
    }
    for (const [key, n] of Object.entries(counts)) document.getElementById("count-" + key).textContent = `(${n})`;
    const box = document.getElementById("mapbox");
    box.setAttribute("data-markers", counts.mapped);
    box.setAttribute("data-global", counts.global);
    if (state.global === "1") globalLayer.addTo(map); else map.removeLayer(globalLayer);
    if ((state.place || state.bbox || state.intersects) && footprints.getLayers().length && regionLayer.getLayers().length) {
      map.fitBounds(regionLayer.getBounds().pad(0.5), { maxZoom: 7, animate: false });
    }
  }

  const outline = { color: "#111", weight: 2, dashArray: "5 4", fill: false };
  async function drawRegion() {
    regionLayer.clearLayers();
    let text = "Name a place, or draw a rectangle or polygon on the map, to search a region.";
    if (state.place) {
      // The outline the search used: /places/{name} resolves the name as place= does.
      text = `Place: ${state.place}`;
      const response = await fetch("/places/" + encodeURIComponent(state.place));
      if (response.ok) {
        const place = await response.json();
        const p = place.properties;
        regionLayer.addLayer(L.geoJSON(place.geometry, { style: outline, interactive: false }));
        text = `Place: ${p.name}${p.name_zh ? " " + p.name_zh : ""} (${p.kind}${p.approximate ? ", approximate outline" : ""})`;
      }
    } else if (state.bbox) {
      const [w, s, e, n] = state.bbox.split(",").map(Number);
      regionLayer.addLayer(L.rectangle([[s, w], [n, e]], { color: "#111", weight: 2, dashArray: "5 4", fill: false,
        interactive: false }));
      text = `Region: bbox ${state.bbox}`;
    } else if (state.intersects) {
      regionLayer.addLayer(L.geoJSON(JSON.parse(state.intersects), { style: outline, interactive: false }));
      text = "Region: drawn polygon";
    }
    document.getElementById("region-status").textContent = text;
    document.getElementById("clear-region").hidden = !(state.place || state.bbox || state.intersects);
  }

  let generation = 0;
  async function refresh() {
    writeUrl();
    const region = drawRegion().catch(() => {});
    updateDownloads();
    const mine = ++generation;
    const status = document.getElementById("status");
    status.textContent = "Searching…";
    document.body.setAttribute("data-state", "loading");
    try {
      const features = await fetchAll(searchBody());
      await region;  // render() fits the map to the region's outline
      if (mine !== generation) return;
      render(features);
      status.textContent = `${features.length} ${features.length === 1 ? "study matches" : "studies match"}`;
      updateCounts(mine).catch(() => {});  // counts are a help, never a reason for the search to fail
    } catch (error) {
      if (mine !== generation) return;
      status.textContent = "Search failed: " + error.message;
    }
    document.body.setAttribute("data-state", "ready");
  }

  // -- controls -----------------------------------------------------------------------------
  // The place box suggests names as they are typed (GET /places) and searches once a name is chosen: a
  // suggestion picked or typed in full, or Enter / leaving the box. A half-typed name is not searched.
  let suggesting;
  const suggestions = document.getElementById("place-suggestions");
  function choosePlace(value) {
    state.place = value; state.bbox = ""; state.intersects = "";
    clearTimeout(typing);
    refresh();
  }
  function suggestPlaces(text) {
    clearTimeout(suggesting);
    suggesting = setTimeout(async () => {
      const response = await fetch("/places?limit=8&q=" + encodeURIComponent(text));
      if (!response.ok) return;
      const found = (await response.json()).places;
      suggestions.replaceChildren(...found.map(p => G.el("option", { value: p.name,
        label: `${p.name_zh ? p.name_zh + " · " : ""}${p.kind}` })));
      document.body.setAttribute("data-suggestions", String(found.length));
      if (found.some(p => [p.name, p.name_zh, ...(p.aliases || [])].includes(text))) choosePlace(text);
    }, 150);
  }
  field("place").addEventListener("change", event => {
    const value = event.target.value.trim();
    if (value !== state.place) choosePlace(value);
  });

  let typing;
  form.addEventListener("input", event => {
    const key = event.target.name;
    if (key === "place") {
      const value = event.target.value.trim();
      if (!value && state.place) choosePlace("");
      else if (value) suggestPlaces(value);
      return;
    }
    if (!(key in state)) return;
    state[key] = event.target.value.trim();
    clearTimeout(typing);
    typing = setTimeout(refresh, key === "q" || key === "geologic" ? 300 : 0);
  });
  form.addEventListener("submit", event => { event.preventDefault(); refresh(); });
  document.getElementById("reset").addEventListener("click", () => {
    for (const key of Object.keys(state)) state[key] = "";
    document.getElementById("toggle-global").checked = false;
    setTimeout(refresh, 0);
  });
  document.getElementById("clear-region").addEventListener("click", () => {
    state.place = ""; state.bbox = ""; state.intersects = ""; field("place").value = ""; refresh();
  });
  document.getElementById("toggle-global").addEventListener("change", event => {
    state.global = event.target.checked ? "1" : "";
    if (state.global) globalLayer.addTo(map); else map.removeLayer(globalLayer);
    writeUrl();
  });

  const draw = new L.Control.Draw({ position: "topleft", edit: false, draw: {
    polyline: false, circle: false, circlemarker: false, marker: false,
    rectangle: { shapeOptions: { color: "#111" } }, polygon: { allowIntersection: false, shapeOptions: { color: "#111" } } } });
  map.addControl(draw);
  const wrap = lon => ((((lon + 180) % 360) + 360) % 360) - 180;
  map.on(L.Draw.Event.CREATED, event => {
    if (event.layerType === "rectangle") {
      const b = event.layer.getBounds();
      const round = v => Math.round(v * 1e4) / 1e4;
      const west = b.getEast() - b.getWest() >= 360 ? -180 : wrap(b.getWest());
      const east = b.getEast() - b.getWest() >= 360 ? 180 : wrap(b.getEast());
      state.bbox = [west, Math.max(-90, b.getSouth()), east, Math.min(90, b.getNorth())].map(round).join(",");
      state.intersects = ""; state.place = ""; field("place").value = "";
    } else {
      state.place = "";
      const geometry = event.layer.toGeoJSON().geometry;
      geometry.coordinates = geometry.coordinates.map(ring => ring.map(([x, y]) => [wrap(x), y]));
      state.intersects = JSON.stringify(geometry);
      state.bbox = ""; field("place").value = "";
    }
    refresh();
  });

  readUrl();
  refresh();
})();
