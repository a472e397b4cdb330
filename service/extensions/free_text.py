"""Free-text search (``q``): English words and Chinese terms; a comma means OR."""
from __future__ import annotations

from typing import Any

from catalog.store.fulltext import WORD

from ..limits import MAX_Q_CHARS, MAX_Q_TERMS, MAX_Q_WORDS
from ..params import SearchParamError
from .base import Extension, Param, SearchBuilder


def parse_q(value: Any) -> list[str] | None:
    """Free-text terms, capped before they reach the FTS engine: characters, terms and words together."""
    if value is None or value == "":
        return None
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise SearchParamError("'q' must be a string or a list of strings")
        if len(value) > MAX_Q_TERMS or sum(len(v) for v in value) > MAX_Q_CHARS:
            raise _too_large()
        terms = [v for v in value if v.strip()]
    elif isinstance(value, str):
        if len(value) > MAX_Q_CHARS:
            raise _too_large()
        terms = [v for v in value.split(",") if v.strip()]
    else:
        raise SearchParamError("'q' must be a string or a list of strings")
    if len(terms) > MAX_Q_TERMS:
        raise _too_large()
    if sum(len(WORD.findall(t)) for t in terms) > MAX_Q_WORDS:
        raise SearchParamError(f"'q' has more than {MAX_Q_WORDS} words", code="PayloadTooLarge")
    return terms


def _too_large() -> SearchParamError:
    return SearchParamError(f"'q' may have at most {MAX_Q_TERMS} terms and {MAX_Q_CHARS} characters",
                            code="PayloadTooLarge")


def contribute(builder: SearchBuilder) -> None:
    builder.query.q = parse_q(builder.params.get("q"))


Q_LIMITS = (f"at most {MAX_Q_CHARS} characters, {MAX_Q_TERMS} terms and {MAX_Q_WORDS} words in all (terms and "
            "words are counted by the service: a schema cannot count them)")
Q_TEXT = {"type": "string", "maxLength": MAX_Q_CHARS}
Q_PARAM = Param("q", "Free text (comma = OR; a list of terms in a body); English words and Chinese terms; " + Q_LIMITS,
                {"oneOf": [Q_TEXT, {"type": "array", "maxItems": MAX_Q_TERMS, "items": Q_TEXT}]},
                get_schema=Q_TEXT, example="屏东,doublet")

EXTENSION = Extension(
    name="free-text",
    conformance=("https://api.stacspec.org/v1.0.0-rc.1/item-search#free-text",
                 "https://api.stacspec.org/v1.0.0-rc.1/ogcapi-features#free-text"),
    params=(Q_PARAM,),
    contribute=contribute,
)
