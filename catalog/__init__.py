"""geostudies catalogue core: records (YAML) -> validation -> STAC -> store."""

__version__ = "0.1.0"
