"""Offline validation of STAC documents against the official JSON Schemas.

The schemas live outside the repository (``../shared/schemas`` by default, or ``$GEOSTUDIES_SCHEMAS``);
``index.json`` there maps each canonical URL to a file. Every file is registered under its URL with a
``referencing.Registry`` and nothing is ever fetched from the network.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.exceptions
import yaml
from referencing.jsonschema import DRAFT7

from . import STAC_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMAS = REPO_ROOT.parent / "shared" / "schemas"


class SchemasUnavailable(RuntimeError):
    """The offline schema folder is missing: schema validation cannot run."""


def schemas_dir() -> Path:
    return Path(os.environ.get("GEOSTUDIES_SCHEMAS", DEFAULT_SCHEMAS))


@lru_cache(maxsize=4)
def _registry(folder: str) -> referencing.Registry:
    root = Path(folder)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise SchemasUnavailable(f"no offline STAC schemas at {root} (index.json missing): set GEOSTUDIES_SCHEMAS to a "
                                 "folder of STAC JSON Schemas with an index.json (the checkout has one at "
                                 "../shared/schemas), or pass --no-schemas to skip this check knowingly")
    index = json.loads(index_path.read_text())
    resources = []
    for url, rel in index.items():
        path = root / rel
        text = path.read_text(encoding="utf-8")
        contents = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
        resources.append((url, referencing.Resource.from_contents(contents, default_specification=DRAFT7)))
        if isinstance(contents, dict) and isinstance(contents.get("$id"), str):
            resources.append((contents["$id"].rstrip("#"), referencing.Resource.from_contents(
                contents, default_specification=DRAFT7)))

    def refuse(uri: str) -> referencing.Resource[Any]:
        raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]  # attrs-made __init__

    registry: referencing.Registry[Any] = referencing.Registry(retrieve=refuse)  # type: ignore[call-arg]
    return registry.with_resources(resources)


def registry() -> referencing.Registry:
    return _registry(str(schemas_dir()))


def schema_document(url: str) -> Any:
    return registry().contents(url.rstrip("#"))


def core_schema_url(doc: dict[str, Any]) -> str:
    version = doc.get("stac_version", STAC_VERSION)
    kind = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}.get(str(doc.get("type")), "catalog")
    return f"https://schemas.stacspec.org/v{version}/{kind}-spec/json-schema/{kind}.json"


def schema_errors(doc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Yield (schema url, field path, message) for every violation of the core and extension schemas."""
    reg = registry()
    for url in [core_schema_url(doc), *doc.get("stac_extensions", [])]:
        try:
            schema = reg.contents(url.rstrip("#"))
        except (referencing.exceptions.NoSuchResource, referencing.exceptions.Unresolvable):
            yield url, "stac_extensions", f"no offline schema for {url}"
            continue
        validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        validator = validator_cls(schema, registry=reg)
        for error in validator.iter_errors(doc):
            best = jsonschema.exceptions.best_match([error])
            where = "/".join(str(p) for p in best.absolute_path) or "(document)"
            yield url, where, best.message[:300]
