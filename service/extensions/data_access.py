"""Data access: the pixels of a study area, read from the raster assets of catalogued Items.

Routes (all GET, all in the OpenAPI document, errors as ``{code, description}``):

- ``/collections/{c}/items/{i}/preview.{png|jpg|webp}``, ``.../overlay.{png|webp}``, ``.../clip.tif``,
  ``.../statistics``, ``.../point/{lon},{lat}``: one Item, for an area given as ``study=ID``,
  ``bbox=w,s,e,n`` or ``geometry=<GeoJSON>`` (``target=`` names the body of a bbox/geometry; with none of
  them, the Item's own footprint);
- ``/studies/{id}/data``: the study's data Items grouped by collection, each with ready links to the above;
- ``/studies/{id}/timeseries``: one statistic per band for every Item of the study in one collection;
- ``/studies/{id}/mosaic.{tif|png|jpg|webp}``: the study's Items of one collection merged over its area.

The reading is :mod:`rasters`' (rio-tiler over GDAL); this module only parses parameters, finds Items in
the store (only hrefs of catalogued Items are ever read) and shapes responses.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from flask import Blueprint, Response, request
from rio_tiler.colormap import cmap

from catalog.store import CatalogReader
from rasters import Area, DataAccessError, timeseries_csv
from rasters.access import MOSAIC_METHODS
from rasters.assets import MAX_ASSETS, raster_assets
from rasters.bodies import BODIES
from rasters.catalog import study_items
from rasters.settings import RasterSettings

from ..context import current_store, raster_access
from ..contract import check_query
from ..errors import ApiError, error_response
from ..limits import MAX_ID_CHARS
from ..oas import AREA_GEOMETRY, error_responses, json_content, path_param
from ..params import NUMBER, SearchParamError, parse_bbox, parse_datetime, parse_geometry, parse_list
from ..responses import GEOJSON, base, json_response, link
from .base import Extension
from .core import BBOX_DOC, BBOX_TEXT, DATETIME, DATETIME_DOC

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
PICTURES = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp"}
COLORMAPS = sorted(cmap.list())
STATS = ("mean", "min", "max", "median", "std", "count", "valid_percent")
_NUMBER = re.compile(NUMBER)
LON = "-?(?:180(?:\\.0{1,15})?|(?:1[0-7][0-9]|[1-9]?[0-9])(?:\\.[0-9]{1,15})?)"
LAT = "-?(?:90(?:\\.0{1,15})?|[1-8]?[0-9](?:\\.[0-9]{1,15})?)"
_LON, _LAT = re.compile(LON), re.compile(LAT)

bp = Blueprint("data", __name__)


@bp.errorhandler(DataAccessError)
def data_error(exc: DataAccessError) -> Response:
    headers = [("Retry-After", str(exc.retry_after))] if hasattr(exc, "retry_after") else []
    return error_response(exc.status, exc.code, exc.description, headers)


# -- parameters ------------------------------------------------------------------------------------

AREA_PARAMS = {"study", "bbox", "geometry", "target"}
READ_PARAMS = {"assets", "expression"}
PICTURE_PARAMS = {"max_size", "rescale", "colormap"}


def _check(allowed: set[str], declared: list[dict[str, Any]] | None = None) -> None:
    """Unknown parameters, then every value against the schema the OpenAPI document declares for it (before
    any Item is looked up: a bad request is a 400 whether or not the Item exists)."""
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise SearchParamError(f"unknown parameter(s): {', '.join(unknown)}; this endpoint takes "
                               f"{', '.join(sorted(allowed))}")
    if declared is not None:
        check_query(request.args, declared)
        for name in request.args:  # a repeated parameter (rescale): every value
            for value in request.args.getlist(name)[1:]:
                check_query({name: value}, [p for p in declared if p["name"] == name])


def _int(name: str, low: int, high: int) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise SearchParamError(f"'{name}' must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _numbers(text: str, name: str) -> list[float]:
    parts = text.split(",")
    if not all(_NUMBER.fullmatch(p) for p in parts):
        raise SearchParamError(f"'{name}' must be comma-separated numbers, got {text[:100]!r}")
    return [float(p) for p in parts]


def _rescale() -> list[list[float]] | None:
    """``rescale=min,max`` (all bands), repeated or ``;``-separated for one range per band."""
    ranges = [r for value in request.args.getlist("rescale") for r in value.split(";") if r.strip()]
    if not ranges:
        return None
    out = [_numbers(r, "rescale") for r in ranges]
    if any(len(r) != 2 or r[0] >= r[1] for r in out):
        raise SearchParamError("'rescale' ranges are min,max with min < max, e.g. rescale=0,3000")
    return out


def _reading() -> dict[str, Any]:
    expression = request.args.get("expression") or None
    if expression is not None and len(expression) > 1000:
        raise SearchParamError("'expression' is longer than 1000 characters", code="PayloadTooLarge")
    return {"assets": parse_list(request.args.get("assets"), "assets"), "expression": expression}


def _picture() -> dict[str, Any]:
    colormap = request.args.get("colormap") or None
    return {"max_size": _int("max_size", 1, RasterSettings.max_size_cap), "rescale": _rescale(),
            "colormap": colormap}


def _study(store: CatalogReader, study_id: str) -> dict[str, Any]:
    study = store.get_item("studies", study_id)
    if study is None:
        raise ApiError(404, "NotFound", f"no study {study_id!r}")
    return study


def _item(store: CatalogReader, collection_id: str, item_id: str) -> dict[str, Any]:
    doc = store.get_item(collection_id, item_id)
    if doc is None:
        if store.get_collection(collection_id) is None:
            raise ApiError(404, "NotFound", f"no collection {collection_id!r}")
        raise ApiError(404, "NotFound", f"no item {item_id!r} in collection {collection_id!r}")
    return doc


def _area(store: CatalogReader, item: dict[str, Any]) -> tuple[Area, str]:
    """The area of a request and a short name of it (for file names): study, bbox, geometry or the Item."""
    given = [k for k in ("study", "bbox", "geometry") if request.args.get(k)]
    if len(given) > 1:
        raise SearchParamError(f"give one area: study, bbox or geometry (got {', '.join(given)})")
    target = (request.args.get("target") or "earth").lower()
    if given == ["study"]:
        study_id = request.args["study"]
        return Area.from_item(_study(store, study_id)), study_id
    if given == ["bbox"]:
        bbox = parse_bbox(request.args["bbox"]) or []
        return Area.from_bbox(bbox[:2] + bbox[-2:] if len(bbox) == 6 else bbox, body=target), "bbox"
    if given == ["geometry"]:
        geometry = parse_geometry(request.args["geometry"], "geometry")
        return Area.from_geojson(geometry or {}, body=target), "area"
    return Area.from_item(item), "footprint"


def _attachment(response: Response, name: str) -> Response:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150]
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response


# -- one Item ----------------------------------------------------------------------------------------

ITEM = "/collections/<collection_id>/items/<item_id>"


@bp.get(f"{ITEM}/preview.<fmt>")
def preview(collection_id: str, item_id: str, fmt: str) -> Response:
    _check(AREA_PARAMS | READ_PARAMS | PICTURE_PARAMS, PICTURE_QUERY)
    if fmt not in PICTURES:
        raise ApiError(404, "NotFound", f"no preview format {fmt!r}; use png, jpg or webp")
    store = current_store()
    item = _item(store, collection_id, item_id)
    area, _ = _area(store, item)
    body, media_type = raster_access().preview(item, area, fmt=PICTURES[fmt], **_reading(), **_picture())
    return Response(body, mimetype=media_type)


@bp.get(f"{ITEM}/overlay.<fmt>")
def overlay(collection_id: str, item_id: str, fmt: str) -> Response:
    """A preview warped for a web map; its lon/lat bounds are in the ``Geostudies-Bounds`` header."""
    _check(AREA_PARAMS | READ_PARAMS | PICTURE_PARAMS, PICTURE_QUERY)
    if fmt not in ("png", "webp"):
        raise ApiError(404, "NotFound", f"no overlay format {fmt!r}; use png or webp")
    store = current_store()
    item = _item(store, collection_id, item_id)
    area, _ = _area(store, item)
    body, media_type, bounds = raster_access().overlay(item, area, fmt=fmt, **_reading(), **_picture())
    response = Response(body, mimetype=media_type)
    response.headers["Geostudies-Bounds"] = ",".join(f"{v:.8f}" for v in bounds)
    return response


@bp.get(f"{ITEM}/clip.tif")
def clip(collection_id: str, item_id: str) -> Response:
    _check(AREA_PARAMS | READ_PARAMS | {"dst_crs"}, CLIP_QUERY)
    store = current_store()
    item = _item(store, collection_id, item_id)
    area, label = _area(store, item)
    body = raster_access().clip(item, area, dst_crs=request.args.get("dst_crs") or None, **_reading())
    return _attachment(Response(body, mimetype=COG), f"{item_id}-{label}.tif")


@bp.get(f"{ITEM}/statistics")
def statistics(collection_id: str, item_id: str) -> Response:
    _check(AREA_PARAMS | READ_PARAMS | {"percentiles", "histogram_bins", "histogram_range"}, STATISTICS_QUERY)
    store = current_store()
    item = _item(store, collection_id, item_id)
    area, _ = _area(store, item)
    options: dict[str, Any] = {}
    if request.args.get("percentiles"):
        options["percentiles"] = _numbers(request.args["percentiles"], "percentiles")
    if (bins := _int("histogram_bins", 1, 1000)) is not None:
        options["histogram_bins"] = bins
    if request.args.get("histogram_range"):
        options["histogram_range"] = _numbers(request.args["histogram_range"], "histogram_range")
    return json_response(raster_access().statistics(item, area, **_reading(), **options))


@bp.get(f"{ITEM}/point/<lon>,<lat>")
def point(collection_id: str, item_id: str, lon: str, lat: str) -> Response:
    _check(READ_PARAMS, READ_DOC)
    if not (_LON.fullmatch(lon) and _LAT.fullmatch(lat)):
        raise SearchParamError(f"the point must be lon,lat in decimal degrees within ±180, ±90, got {lon[:40]},"
                               f"{lat[:40]}")
    item = _item(current_store(), collection_id, item_id)
    body = str((item.get("properties") or {}).get("geostudies:target") or "earth")
    return json_response(raster_access().point(item, float(lon), float(lat), body=body, **_reading()))


# -- a study's data -----------------------------------------------------------------------------------

def item_data_links(item: dict[str, Any], study_id: str) -> dict[str, str]:
    """Ready links to the data routes of one Item, for a study's area."""
    root = f"{base()}/collections/{quote(item['collection'])}/items/{quote(item['id'])}"
    area = urlencode({"study": study_id})
    return {"preview": f"{root}/preview.png?{area}", "overlay": f"{root}/overlay.png?{area}",
            "clip": f"{root}/clip.tif?{area}", "statistics": f"{root}/statistics?{area}",
            "item": root}


def study_data(store: CatalogReader, study_id: str) -> dict[str, Any]:
    """The study's data Items grouped by collection, with links; what the page and ``/data`` show."""
    study = _study(store, study_id)
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in study_items(store, study_id):
        groups.setdefault(item["collection"], []).append(item)
    collections = []
    for collection_id, items in groups.items():
        doc = store.get_collection(collection_id) or {}
        entries = []
        for item in items:
            rasters = raster_assets(item)
            entry = {"id": item["id"], "datetime": item["properties"].get("datetime"), "raster_assets": rasters,
                     "title": item["properties"].get("title") or item["id"]}
            if rasters:
                entry["links"] = item_data_links(item, study_id)
            entries.append(entry)
        readable = [e for e in entries if e["raster_assets"]]
        group: dict[str, Any] = {"id": collection_id, "title": doc.get("title") or collection_id,
                                 "items": entries, "readable": len(readable)}
        args = urlencode({"collection": collection_id})
        if len([e for e in readable if e["datetime"]]) >= 2:
            group["timeseries"] = f"{base()}/studies/{quote(study_id)}/timeseries?{args}"
            group["timeseries_csv"] = f"{base()}/studies/{quote(study_id)}/timeseries?{args}&format=csv"
        if readable:
            group["mosaic"] = f"{base()}/studies/{quote(study_id)}/mosaic.tif?{args}"
            group["mosaic_preview"] = f"{base()}/studies/{quote(study_id)}/mosaic.png?{args}"
        collections.append(group)
    return {"study": study_id, "title": study["properties"].get("title"), "geometry": study.get("geometry"),
            "bbox": study.get("bbox"), "collections": collections,
            "links": [link("self", f"{base()}/studies/{quote(study_id)}/data"),
                      link("collection", f"{base()}/collections/studies/items/{quote(study_id)}", GEOJSON)]}


@bp.get("/studies/<study_id>/data")
def data(study_id: str) -> Response:
    _check(set(), [])
    return json_response(study_data(current_store(), study_id))


def _collection_items(study_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    store = current_store()
    study = _study(store, study_id)
    collection_id = request.args.get("collection")
    if not collection_id:
        raise SearchParamError("'collection' is required: the collection whose Items are read")
    window = parse_datetime(request.args.get("datetime"))
    items = study_items(store, study_id, collection=collection_id, datetime=window, rasters_only=True)
    if not items:
        raise ApiError(404, "NotFound", f"study {study_id!r} has no raster Items in collection {collection_id!r}"
                       + (" in that time window" if window else ""))
    return study, items, collection_id


@bp.get("/studies/<study_id>/timeseries")
def timeseries(study_id: str) -> Response:
    _check(READ_PARAMS | {"collection", "datetime", "stat", "format"}, TIMESERIES_QUERY)
    stat = request.args.get("stat") or "mean"
    if stat not in STATS:
        raise SearchParamError(f"'stat' must be one of {', '.join(STATS)}, got {stat!r}")
    fmt = request.args.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise SearchParamError(f"'format' must be json or csv, got {fmt!r}")
    study, items, collection_id = _collection_items(study_id)
    rows = raster_access().timeseries(items, Area.from_item(study), stat=stat, **_reading())
    if fmt == "csv":
        return _attachment(Response(timeseries_csv(rows), mimetype="text/csv"),
                           f"{study_id}-{collection_id}-{stat}.csv")
    return Response(orjson.dumps({"study": study_id, "collection": collection_id, "stat": stat, "rows": rows}),
                    mimetype="application/json")


@bp.get("/studies/<study_id>/mosaic.<fmt>")
def mosaic(study_id: str, fmt: str) -> Response:
    _check(READ_PARAMS | PICTURE_PARAMS | {"collection", "datetime", "method"}, MOSAIC_QUERY)
    if fmt not in ("tif", *PICTURES):
        raise ApiError(404, "NotFound", f"no mosaic format {fmt!r}; use tif, png, jpg or webp")
    study, items, collection_id = _collection_items(study_id)
    options = _picture() if fmt != "tif" else {}
    body, media_type = raster_access().mosaic(items, Area.from_item(study), fmt=PICTURES.get(fmt, "tif"),
                                              method=request.args.get("method") or "first", **_reading(),
                                              **options)
    response = Response(body, mimetype=media_type)
    return _attachment(response, f"{study_id}-{collection_id}-mosaic.{fmt}") if fmt == "tif" else response


# -- OpenAPI -------------------------------------------------------------------------------------------

def _q(name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False) -> dict[str, Any]:
    # An empty value means the parameter is absent (not for a required one: empty is missing).
    out = {"name": name, "in": "query", "required": required, "description": description,
           "schema": schema or {"type": "string"}}
    if not required:
        out["allowEmptyValue"] = True
    return out


def _json_q(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "content": {"application/json": {"schema": schema}}}


def _numbers_schema(least: int, most: int) -> dict[str, Any]:
    more = "" if most == 1 else f"(?:,{NUMBER}){{{least - 1},{most - 1}}}"
    return {"type": "string", "pattern": f"^{NUMBER}{more}$"}


_RANGE = f"{NUMBER},{NUMBER}"
AREA_DOC = [
    _q("study", "Area: the study area of this study id", {"type": "string", "maxLength": MAX_ID_CHARS}),
    _q("bbox", "Area: " + BBOX_DOC + " (south strictly less than north, west not equal to east)", BBOX_TEXT),
    _json_q("geometry", "Area: a GeoJSON Polygon or MultiPolygon (JSON text), valid, within lon ±180 / lat ±90",
            AREA_GEOMETRY),
    _q("target", "Body of bbox/geometry coordinates (earth by default)", {"type": "string", "enum": list(BODIES)}),
]
_ASSET = f"[^,]{{0,{MAX_ID_CHARS}}}"
_PERCENT = "(?:100|[1-9]?[0-9])"
READ_DOC = [
    _q("assets", f"Comma-separated asset names, at most {MAX_ASSETS} (default: the Item's raster data assets; "
       "three give RGB)", {"type": "string", "pattern": f"^{_ASSET}(?:,{_ASSET}){{0,{MAX_ASSETS - 1}}}$"}),
    _q("expression", "Band math in rio-tiler syntax over asset names or b1..bN, e.g. (nir-red)/(nir+red)",
       {"type": "string", "maxLength": 1000}),
]
PICTURE_DOC = [
    _q("max_size", f"Longer side of the picture in pixels (default {RasterSettings.max_size_default})",
       {"type": "integer", "minimum": 1, "maximum": RasterSettings.max_size_cap}),
    _q("rescale", "min,max stretch with min < max (repeat or ';'-separate for one range per band)",
       {"type": "string", "pattern": f"^{_RANGE}(?:;{_RANGE}){{0,99}}$"}),
    _q("colormap", "A named colormap for one band (rio-tiler's names)", {"type": "string", "enum": COLORMAPS}),
]
CID, IID, SID = (path_param("collectionId", "Collection id"), path_param("itemId", "Item id"),
                 path_param("studyId", "Study id"))
BINARY = {"type": "string", "format": "binary"}
PICTURE_CONTENT = {m: {"schema": BINARY} for m in ("image/png", "image/jpeg", "image/webp")}
DATA_ERRORS = error_responses(400, 403, 404, 413, 502, 503, 504)


def _op(summary: str, op_id: str, params: list[dict[str, Any]], content: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "operationId": op_id, "parameters": params,
                    "responses": {"200": {"description": summary, "content": content}, **DATA_ERRORS}}}


def _fmt(values: list[str]) -> dict[str, Any]:
    return {"name": "fmt", "in": "path", "required": True, "description": "Picture format",
            "schema": {"type": "string", "enum": values}}


ITEM_DOC = "/collections/{collectionId}/items/{itemId}"
PICTURE_QUERY = [*AREA_DOC, *READ_DOC, *PICTURE_DOC]
CLIP_QUERY = [*AREA_DOC, *READ_DOC, _q("dst_crs", "Output CRS, any PROJ understands, e.g. EPSG:3857 (default: native)",
                                       {"type": "string", "maxLength": 1000})]
STATISTICS_QUERY = [*AREA_DOC, *READ_DOC,
                    _q("percentiles", "Whole numbers from 0 to 100, e.g. 2,50,98",
                       {"type": "string", "pattern": f"^{_PERCENT}(?:,{_PERCENT}){{0,99}}$"}),
                    _q("histogram_bins", "Histogram bins", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _q("histogram_range", "min,max of the histogram (min < max)", _numbers_schema(2, 2))]
_COLLECTION = _q("collection", "Collection id", {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS},
                 required=True)
_WINDOW = _q("datetime", "Items in this RFC 3339 instant or interval (" + DATETIME_DOC + ")", DATETIME)
TIMESERIES_QUERY = [_COLLECTION, _WINDOW, *READ_DOC,
                    _q("stat", "Statistic", {"type": "string", "enum": list(STATS)}),
                    _q("format", "json or csv", {"type": "string", "enum": ["json", "csv"]})]
MOSAIC_QUERY = [_COLLECTION, _WINDOW, *READ_DOC, *PICTURE_DOC,
                _q("method", "How Items are merged (first valid pixel by default)",
                   {"type": "string", "enum": list(MOSAIC_METHODS)})]
_LONLAT = [{**path_param("lon", "Longitude, decimal degrees within ±180"), "schema": {
               "type": "string", "pattern": f"^{LON}$"}},
           {**path_param("lat", "Latitude, decimal degrees within ±90"), "schema": {
               "type": "string", "pattern": f"^{LAT}$"}}]
PATHS = {
    f"{ITEM_DOC}/preview.{{fmt}}": _op("Preview of an area of the Item's rasters", "getItemPreview",
                                       [CID, IID, _fmt(list(PICTURES)), *PICTURE_QUERY], PICTURE_CONTENT),
    f"{ITEM_DOC}/overlay.{{fmt}}": _op("Preview warped for a web map (bounds in the Geostudies-Bounds header)",
                                       "getItemOverlay", [CID, IID, _fmt(["png", "webp"]), *PICTURE_QUERY],
                                       PICTURE_CONTENT),
    f"{ITEM_DOC}/clip.tif": _op("Cloud-Optimized GeoTIFF of the area, masked outside it", "getItemClip",
                                [CID, IID, *CLIP_QUERY], {COG: {"schema": BINARY}}),
    f"{ITEM_DOC}/statistics": _op("Per-band statistics over the exact area", "getItemStatistics",
                                  [CID, IID, *STATISTICS_QUERY], json_content({"type": "object"})["content"]),
    f"{ITEM_DOC}/point/{{lon}},{{lat}}": _op("Band values at a point", "getItemPoint",
                                             [CID, IID, *_LONLAT, *READ_DOC],
                                             json_content({"type": "object"})["content"]),
    "/studies/{studyId}/data": _op("The study's data Items by collection, with data links", "getStudyData",
                                   [SID], json_content({"type": "object"})["content"]),
    "/studies/{studyId}/timeseries": _op(
        "One statistic per band for every Item of the study in a collection", "getStudyTimeseries",
        [SID, *TIMESERIES_QUERY],
        {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}}),
    "/studies/{studyId}/mosaic.{fmt}": _op(
        "The study's Items of a collection merged over its area", "getStudyMosaic",
        [SID, _fmt(["tif", *PICTURES]), *MOSAIC_QUERY], {COG: {"schema": BINARY}, **PICTURE_CONTENT}),
}

EXTENSION = Extension(name="data-access", blueprint=bp, paths=PATHS)
