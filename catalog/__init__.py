"""geostudies catalogue core: records (YAML) -> validation -> STAC -> store."""

__version__ = "0.1.0"

#: The STAC version of every document geostudies writes (built records, harvested records, API documents).
STAC_VERSION = "1.1.0"
