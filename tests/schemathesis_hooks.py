"""schemathesis hooks for tests/test_conformance.py: the rules the OpenAPI document can state only in words.

/api declares every parameter with the JSON Schema the service enforces (``service/contract.py`` refuses
whatever the schema calls invalid), so ``negative_data_rejection`` runs unfiltered. A few rules of what is
*valid* are beyond JSON Schema (draft 4, the dialect of OpenAPI 3.0): an order between two numbers of one
value, date arithmetic, a server-signed token, the CQL2 grammar, sums over several members. A schema-valid
request that breaks one of them is refused with a 400 (or 413 for a cap) whose description names the rule.

``filter_failure`` drops a ``positive_data_acceptance`` failure only when the service's answer is that
{code, description} JSON error *and* its description is one of the rules below, for the parameter the rule
is about. Every other failure stands: a 5xx, a response that violates the document, negative data that is
accepted, and a schema-valid request refused for any other reason. The run's summary counts what was dropped.
"""
from __future__ import annotations

import json
import sys

import schemathesis
from hypothesis.internal import lambda_sources
from schemathesis.openapi.checks import RejectedPositiveData

# Not rules, but two work-arounds in the schemathesis process (this file is loaded into it). The GeoJSON
# schemas nest arrays five deep inside objects; drawing data for them runs deep, past Python's default
# recursion limit, and there Hypothesis, describing one of its own lambdas, calls ast.parse, which CPython
# 3.11 fails with "SystemError: AST constructor recursion depth mismatch" (a bug of the interpreter, not of
# the data). A failed description becomes "lambda: <unknown>", as Hypothesis does for sources it cannot read.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
_describe_lambda = lambda_sources._lambda_description


def _lambda_description(f):  # type: ignore[no-untyped-def]
    try:
        return _describe_lambda(f)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _lambda_description

# (what the description starts with, what it then says, why JSON Schema cannot say it)
RULES: tuple[tuple[str, str, str], ...] = (
    ("'bbox'", "south must not be greater than north", "an order between two numbers of one value"),
    ("'bbox'", "minimum elevation must not be greater than maximum", "an order between two numbers of one value"),
    ("'datetime'", "interval starts after it ends", "an order between the two instants of an interval"),
    ("'datetime'", "outside the years 0001-9999 in UTC",
     "date arithmetic: an offset carrying 9999-12-31 or 0001-01-01 past the years a timestamp can hold"),
    ("invalid paging token", "", "item-search tokens are signed by the server (HMAC): only those it issued are "
     "valid (the /collections token is an offset, exactly described, and not covered here)"),
    ("'filter'", "", "CQL2 text is a grammar and CQL2-JSON a recursive expression language; the cql2 parser "
     "decides, as do the caps on nesting and vertices"),
    ("'intersects'", "is not a valid GeoJSON geometry", "positions of equal dimension throughout a geometry"),
    ("'intersects'", "has coordinates outside lon [-180, 180] / lat [-90, 90]",
     "the range of the second number of a position (OpenAPI 3.0 has no tuple schemas)"),
    ("'intersects'", "vertices", "a count over every part of every geometry"),
    ("'intersects'", "geometries", "a count over nested GeometryCollections"),
    ("'ids'", "lists more than", "a count of comma-separated entries (a pattern counting to 1000 is too large)"),
    ("'collections'", "lists more than", "a count of comma-separated entries"),
    ("use either 'bbox' or 'intersects'", "", "two query-string parameters that exclude each other"),
    ("use one of 'place', 'bbox' or 'intersects'", "", "three parameters that exclude each other"),
    ("'place'", "no place named", "the gazetteer's names (some 40,000 in several languages; GET /places lists "
     "them as they are typed)"),
    ("give one area: study, bbox or geometry", "", "three query-string parameters that exclude each other"),
    ("'geometry'", "is not a valid GeoJSON geometry", "positions of equal dimension throughout a geometry"),
    ("'geometry'", "has coordinates outside lon [-180, 180] / lat [-90, 90]",
     "the range of the second number of a position (OpenAPI 3.0 has no tuple schemas)"),
    ("invalid expression", "", "rio-tiler band math is a grammar"),
    ("the expression is empty", "", "band math with no operand (blank text) is a grammar rule too"),
    ("unknown CRS", "", "what PROJ can read as a CRS"),
    ("each rescale pair needs min < max", "", "an order between two numbers of one value"),
    ("histogram_range needs min < max", "", "an order between two numbers of one value"),
    ("rescale needs one (min, max) pair or one per band", "", "depends on the Item's number of bands"),
    ("a colormap applies to one band only", "", "depends on the Item's number of bands"),
    ("a picture shows 1 band", "", "depends on the Item's number of bands"),
    ("'q'", "may have at most", "terms and characters summed over the members of a list"),
    ("'q'", "words", "words are counted by the service's tokenizer"),
    ("'query'", "is not a valid property name", "property names (OpenAPI 3.0 has no propertyNames)"),
    ("'query'", "conditions", "a count summed over every property's operators"),
    ("'query'", "must be a number for this property", "the type of a value depends on the property's type"),
    ("'geologic_time'", "is not a unit of the ICS chart", "the names of the ICS chart's units (a list of 179 "
     "names in several spellings; the description points at the chart)"),
    ("'geologic_time'", "the older end comes first", "an order between the two ends of a span"),
    ("'geologic_time'", "write one name, or two ends", "the shape of a span (one name, or older/younger)"),
    ("'geologic_time'", "is older than the Earth", "a range of Ma values"),
    ("'geologic_time'", "an end of the span is empty", "the shape of a span (one name, or older/younger)"),
)


# Every value may be schema-valid and the request line still over the 64 KiB the HTTP server reads (a long
# geometry or filter belongs in a POST body): a limit of the transport, over the sum of all values.
URI_TOO_LONG = "the request line is capped at 64 KiB (the sum of every value, percent-encoded)"


# Data-access refusals that depend on the Item (its rasters, bands, footprint and body) or on an area's
# geometry (a valid polygon with an extent, within the raster): the request is well formed, the data decides.
CODES = {
    "InvalidArea": "an area's geometry (a valid polygon with an extent) and whether it meets the Item's raster",
    "NotARasterAsset": "whether a named asset of the Item is a GeoTIFF",
    "TooLarge": "the pixels the area covers in the Item's raster, over the operator's cap",
}


def broken_rule(path: str, response_status: int, body: bytes) -> str | None:
    """The rule a refusal names, or None when it names none of them."""
    if response_status not in (400, 413, 414):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or set(doc) != {"code", "description"}:
        return None
    if response_status == 414:
        return URI_TOO_LONG if doc["code"] == "URITooLong" else None
    if doc["code"] in CODES:
        return CODES[doc["code"]]
    description = str(doc["description"])
    for start, says, why in RULES:
        if description.startswith(start) and says in description:
            if start == "invalid paging token" and path == "/collections":
                continue
            return why
    return None


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:  # type: ignore[no-untyped-def]
    if not isinstance(failure, RejectedPositiveData):
        return True
    return broken_rule(case.operation.path, response.status_code, response.content) is None
