"""The batch GeoJSON reader both stores write with (catalog.geometry.shapes_of): its fast path for plain
Polygons must give exactly what GEOS's own GeoJSON reader gives, and refuse exactly what it refuses."""
from __future__ import annotations

from typing import Any

import orjson
import pytest
import shapely

from catalog.geometry import shapes_of

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
HOLE = [[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.2]]
MIXED: list[Any] = [
    {"type": "Polygon", "coordinates": [[[124.4372223, -37.822773], [124.45693625, -38.81030688],
                                         [125.72361856, -38.78772942], [124.4372223, -37.822773]]]},
    None,
    {"type": "Polygon", "coordinates": [SQUARE, HOLE]},                       # with a hole
    {"type": "Polygon", "coordinates": [[[x, y, 5.0] for x, y in SQUARE]]},  # 3D: the GeoJSON path
    {},
    {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[x + 2, y] for x, y in SQUARE]]]},
    {"type": "Point", "coordinates": [120.5, 22.0]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]},          # 3 positions: GEOS takes it
    {"type": "Polygon", "coordinates": [[[179.5, -1], [180, -1], [180, 1], [179.5, 1], [179.5, -1]]]},
]


def geos_reads(geometry: Any) -> bytes:
    return shapely.to_wkb(shapely.from_geojson(orjson.dumps(geometry)))


def test_every_shape_is_what_geos_reads_from_the_geojson_and_absent_ones_are_skipped():
    present, shapes = shapes_of(MIXED)
    assert present == [i for i, g in enumerate(MIXED) if g]
    assert [shapely.to_wkb(s) for s in shapes] == [geos_reads(MIXED[i]) for i in present]
    nothing, no_shapes = shapes_of([None, {}])
    assert nothing == [] and len(no_shapes) == 0


@pytest.mark.parametrize("bad, message", [
    ([[0, 0], [1, 0], [1, 1], [0, 0.5]], "closed"),          # a ring that does not close
    ([[True, 0], [1, 0], [1, 1], [True, 0]], "boolean"),     # numbers only
    ([["0", 0], [1, 0], [1, 1], ["0", 0]], "string"),
    ([[0], [1, 0, 3], [1, 1], [0]], "coordinates found one"),  # positions of the wrong length
])
def test_a_polygon_geos_refuses_is_refused_in_any_batch(bad: list[Any], message: str):
    with pytest.raises(shapely.errors.GEOSException, match=message):
        geos_reads({"type": "Polygon", "coordinates": [bad]})
    with pytest.raises(shapely.errors.GEOSException, match=message):
        shapes_of([MIXED[0], {"type": "Polygon", "coordinates": [bad]}, MIXED[2]])
