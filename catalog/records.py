"""Study and dataset records: the human-edited YAML files under ``catalog/``.

Loading never stops at the first problem: every file is read, every field checked, and each
problem is reported as a :class:`Problem` naming the file, the field and the reason.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .geometry import lonlat_problem, to_shape

RECORDS_DIR = Path(__file__).resolve().parent
REPO_ROOT = RECORDS_DIR.parent
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SCOPES = ("site", "multi-site", "region", "global", "lab")
NON_PUBLIC_KINDS = ("fieldwork", "lab", "literature", "model", "restricted", "other")
ACCESS_KINDS = (
    "stac-api", "cmr", "cds", "fdsn-station", "fdsn-event", "fdsn-dataselect", "erddap", "sciencebase", "file-index",
    "download", "web",
)
PROVIDER_ROLES = ("producer", "licensor", "processor", "host")
DISCIPLINES = (
    "seismology", "geodynamics", "tectonics", "volcanology", "geochemistry", "petrology", "mineral-physics",
    "geochronology", "geodesy", "hydrology", "glaciology", "oceanography", "atmospheric-science", "climate",
    "paleoclimate", "biogeochemistry", "geomorphology", "sedimentology", "soil-science", "remote-sensing",
    "natural-hazards", "economic-geology", "planetary-science", "ecology", "geomagnetism",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one record."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


class RecordsInvalid(Exception):
    """Raised when records cannot be built; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in records:\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class DatasetUse:
    """A data source of a study: a public dataset (``dataset_id``) or a named non-public source.

    For a public dataset, what the study used of it, where the seed or a cited source says so: ``product``
    (the upstream identifier among the dataset's routes: a STAC collection, CMR short name or CDS dataset),
    ``version``, ``params`` (service parameters for the study's links, e.g. CDS variables), ``area``
    (``worldwide``, or ``{latitude, longitude, maxradius}`` for a distance from a source) and ``time``
    (``none``: the study's time window does not apply to this dataset).
    """

    use: str
    dataset_id: str | None = None
    name: str | None = None
    kind: str | None = None
    product: str | None = None
    version: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    area: str | dict[str, float] | None = None
    time: str | None = None


@dataclass(frozen=True)
class TimeSpan:
    start: dt.date
    end: dt.date
    note: str = ""


@dataclass(frozen=True)
class StudyArea:
    scope: str
    places: list[str]
    note: str
    geometry: dict[str, Any] | None


@dataclass(frozen=True)
class StudyRecord:
    path: Path
    id: str
    seed_line: int | None
    title_en: str
    title_zh: str
    journal: str
    published: dt.date
    doi: str | None
    disciplines: list[str]
    keywords: list[str]
    summary_en: str
    summary_zh: str
    target: str
    time_span: TimeSpan | None
    geologic_time: str | None
    study_area: StudyArea
    datasets: list[DatasetUse]
    flags: list[str]


@dataclass(frozen=True)
class AccessRoute:
    """One machine route to a dataset: a service kind, its endpoint and the upstream identifier."""

    kind: str
    endpoint: str | None = None
    url: str | None = None
    collection: str | None = None
    short_name: str | None = None
    dataset: str | None = None
    networks: list[str] = field(default_factory=list)
    source: str | None = None
    item_search: bool = True  # False: a STAC API of collections only (e.g. the CDS catalogue)
    version: str | None = None          # CMR version, product version
    concept_id: str | None = None       # CMR collection concept id
    params: dict[str, Any] = field(default_factory=dict)  # service parameters every link must carry
    protocol: str | None = None         # ERDDAP: tabledap or griddap
    item: str | None = None             # ScienceBase item id
    pattern: str | None = None          # file index: what the files are called
    variables: list[str] = field(default_factory=list)  # ERDDAP variables
    area: str | None = None             # "none": the service takes no area
    time: str | None = None             # "none": the service takes no time
    note: str | None = None
    options: dict[str, list[Any]] = field(default_factory=dict)  # allowed values of request fields (CDS form)
    required: list[str] = field(default_factory=list)          # request fields a query must give
    defaults: dict[str, Any] = field(default_factory=dict)     # what a query asks when the study does not say

    @property
    def identifier(self) -> str | None:
        return self.collection or self.short_name or self.dataset or self.item


@dataclass(frozen=True)
class Provider:
    name: str
    roles: list[str]
    url: str | None = None


@dataclass(frozen=True)
class DatasetRecord:
    path: Path
    id: str
    title: str
    description: str
    keywords: list[str]
    providers: list[Provider]
    license: str
    license_url: str | None
    bbox: list[float]
    interval: tuple[dt.date | None, dt.date | None]
    landing_page: str | None
    access: list[AccessRoute]
    flags: list[str]
    sources: list[str]
    dois: list[str] = field(default_factory=list)  # one DOI, or one per product of a multi-product dataset
    static: bool = False                 # the data do not vary in time: links get no time filter
    no_machine_route: str | None = None  # why there is no machine interface

    def flagged(self, prefix: str) -> bool:
        """Whether a flag speaks about ``prefix`` (a field such as 'license' or 'extent.interval'), or about a
        field that contains it ('extent' speaks about 'extent.interval')."""
        fields = [f.split(":", 1)[0].strip() for f in self.flags]
        return any(f.startswith(prefix) or prefix.startswith(f + ".") for f in fields)


@dataclass
class Records:
    studies: list[StudyRecord] = field(default_factory=list)
    datasets: list[DatasetRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def dataset(self, dataset_id: str) -> DatasetRecord | None:
        return next((d for d in self.datasets if d.id == dataset_id), None)


class _Reader:
    """Reads one YAML mapping, recording a Problem for each bad field instead of raising."""

    def __init__(self, path: Path, data: dict[str, Any], problems: list[Problem]):
        self.path, self.data, self.problems = path, data, problems

    def problem(self, field_name: str, message: str) -> None:
        self.problems.append(Problem(display_path(self.path), field_name, message))

    def get(self, dotted: str, kind: type | tuple[type, ...], required: bool = True, default: Any = None) -> Any:
        value: Any = self.data
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            if required:
                self.problem(dotted, "is required")
            return default
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problem(dotted, f"must be {names}, got {type(value).__name__}")
            return default
        if isinstance(value, str) and not value.strip() and required:
            self.problem(dotted, "must not be empty")
        return value

    def record_id(self) -> str:
        """The record's ``id``: a lowercase slug equal to the file name."""
        record_id = self.text("id")
        if record_id and not SLUG.match(record_id):
            self.problem("id", f"must be a lowercase slug like 'pingtung-doublet', got {record_id!r}")
        if record_id and record_id != self.path.stem:
            self.problem("id", f"must equal the file name {self.path.stem!r}, got {record_id!r}")
        return record_id

    def text(self, dotted: str, required: bool = True) -> str:
        value = self.get(dotted, (str, int, float), required, "")
        return str(value).strip() if value is not None else ""

    def strings(self, dotted: str, required: bool = True) -> list[str]:
        values = self.get(dotted, list, required, [])
        bad = [v for v in values if not isinstance(v, str)]
        if bad:
            self.problem(dotted, f"must be a list of strings, found {bad[0]!r}")
        return [v for v in values if isinstance(v, str)]

    def date(self, dotted: str, required: bool = True) -> dt.date | None:
        value = self.get(dotted, (dt.date, str), required)
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.problem(dotted, f"is not an ISO date (YYYY-MM-DD): {value!r}")
            return None


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_yaml(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. 2025-13-45
        problems.append(Problem(display_path(path), "(file)", f"cannot be read as YAML: {exc}".replace("\n", " ")))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(display_path(path), "(file)", "must contain a YAML mapping"))
        return None
    return data


def check_geometry(geometry: Any, target: str = "earth") -> str | None:
    """Return why ``geometry`` is not a valid lon/lat Polygon/MultiPolygon, or None when it is."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return "must be a GeoJSON Polygon or MultiPolygon"
    try:
        shape = to_shape(geometry)
    except ValueError as exc:
        return str(exc)
    if shape.is_empty:
        return "is empty"
    if not shape.is_valid:
        from shapely.validation import explain_validity

        return f"is not a valid polygon: {explain_validity(shape)}"
    return lonlat_problem(shape)


def _study(path: Path, data: dict[str, Any], problems: list[Problem]) -> StudyRecord:
    r = _Reader(path, data, problems)
    record_id = r.record_id()
    disciplines = r.strings("disciplines")
    for d in disciplines:
        if d not in DISCIPLINES:
            r.problem("disciplines", f"unknown discipline {d!r} (see RECORDS.md for the vocabulary)")
    if not disciplines:
        r.problem("disciplines", "must name at least one discipline")
    doi = r.get("doi", str, required=False)
    if doi and not re.match(r"^10\.\d{4,9}/\S+$", doi):
        r.problem("doi", f"is not a DOI (10.NNNN/...): {doi!r}")

    time_span = None
    span = r.get("time_span", dict, required=False)
    if span is not None:
        start, end = r.date("time_span.start"), r.date("time_span.end")
        if start and end:
            if end < start:
                r.problem("time_span", f"ends ({end}) before it starts ({start})")
            time_span = TimeSpan(start, end, r.text("time_span.note", required=False))

    target = r.text("target").lower() or "earth"
    scope = r.text("study_area.scope")
    if scope and scope not in SCOPES:
        r.problem("study_area.scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
    geometry = r.get("study_area.geometry", dict, required=False)
    note = r.text("study_area.note", required=False)
    if geometry is None:
        if scope != "lab":
            r.problem("study_area.geometry", f"is missing; only scope 'lab' may have no geometry (scope is {scope!r})")
        elif not note:
            r.problem("study_area.note", "must say why a lab study has no geometry")
    else:
        why = check_geometry(geometry, target)
        if why:
            r.problem("study_area.geometry", why)
            geometry = None
    if geometry is not None and scope not in ("global",) and not note:
        r.problem("study_area.note", "must say how the study area was drawn")

    uses: list[DatasetUse] = []
    for i, entry in enumerate(r.get("datasets", list, default=[])):
        where = f"datasets[{i}]"
        if not isinstance(entry, dict):
            r.problem(where, "must be a mapping with 'id' or 'name'")
            continue
        use = str(entry.get("use") or "").strip()
        if entry.get("id"):
            uses.append(_dataset_use(r, where, entry, use))
        elif entry.get("name"):
            kind = entry.get("kind")
            if kind not in NON_PUBLIC_KINDS:
                r.problem(f"{where}.kind", f"must be one of {', '.join(NON_PUBLIC_KINDS)}, got {kind!r}")
            uses.append(DatasetUse(use=use, name=str(entry["name"]), kind=kind))
        else:
            r.problem(where, "needs 'id' (a public dataset) or 'name' + 'kind' (a non-public source)")

    flags = [_flag_text(f) for f in r.get("flags", list, required=False, default=[])]
    seed_line = r.get("seed.line", int, required=False)
    return StudyRecord(
        path=path, id=record_id, seed_line=seed_line,
        title_en=r.text("title.en"), title_zh=r.text("title.zh"), journal=r.text("journal"),
        published=r.date("published") or dt.date(1970, 1, 1), doi=doi or None,
        disciplines=disciplines, keywords=r.strings("keywords", required=False),
        summary_en=r.text("summary.en"), summary_zh=r.text("summary.zh"), target=target,
        time_span=time_span, geologic_time=r.get("geologic_time", str, required=False),
        study_area=StudyArea(scope, r.strings("study_area.places", required=False), note, geometry),
        datasets=uses, flags=flags,
    )


def _dataset_use(r: _Reader, where: str, entry: dict[str, Any], use: str) -> DatasetUse:
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        r.problem(f"{where}.params", "must be a mapping of service parameters")
        params = {}
    area = entry.get("area")
    if area is not None and area != "worldwide":
        keys = {"latitude", "longitude", "maxradius"}
        numbers = isinstance(area, dict) and all(isinstance(v, (int, float)) for v in area.values())
        if not (numbers and set(area) == keys):
            r.problem(f"{where}.area", "must be 'worldwide' or {latitude, longitude, maxradius} in degrees")
            area = None
    time = entry.get("time")
    if time not in (None, "none"):
        r.problem(f"{where}.time", "must be 'none' (the study's time window does not apply) or absent")
        time = None
    version = entry.get("version")
    return DatasetUse(use=use, dataset_id=str(entry["id"]), product=entry.get("product") or None,
                      version=str(version) if version is not None else None, params=dict(params), area=area,
                      time=time)


def _flag_text(flag: Any) -> str:
    if isinstance(flag, dict):
        return "; ".join(f"{k}: {v}" for k, v in flag.items())
    return str(flag)


def _dataset(path: Path, data: dict[str, Any], problems: list[Problem]) -> DatasetRecord:
    r = _Reader(path, data, problems)
    record_id = r.record_id()
    providers = []
    for i, p in enumerate(r.get("providers", list, default=[])):
        if not isinstance(p, dict) or not p.get("name"):
            r.problem(f"providers[{i}]", "must be a mapping with a name")
            continue
        roles = p.get("roles") or []
        for role in roles:
            if role not in PROVIDER_ROLES:
                r.problem(f"providers[{i}].roles", f"unknown role {role!r} (one of {', '.join(PROVIDER_ROLES)})")
        providers.append(Provider(str(p["name"]), [x for x in roles if x in PROVIDER_ROLES], p.get("url")))
    flags = [_flag_text(f) for f in r.get("flags", list, required=False, default=[])]
    bbox = r.get("extent.bbox", list, required=False)
    if bbox is None:
        # STAC needs a spatial extent: an unknown one is served as the globe and says so.
        flags.append("extent.bbox: not established; the whole globe is used as a placeholder")
        bbox = [-180, -90, 180, 90]
    if len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox):
        r.problem("extent.bbox", f"must be [west, south, east, north], got {bbox!r}")
        bbox = [-180, -90, 180, 90]
    elif not (-180 <= bbox[0] <= 180 and -180 <= bbox[2] <= 180 and -90 <= bbox[1] <= bbox[3] <= 90):
        r.problem("extent.bbox", f"is outside lon/lat bounds or south > north: {bbox!r}")
    interval = r.get("extent.interval", list, required=False, default=[None, None])
    start = end = None
    if len(interval) != 2:
        r.problem("extent.interval", f"must be [start, end], got {interval!r}")
    else:
        sub = _Reader(path, {"start": interval[0], "end": interval[1]}, problems)
        start, end = sub.date("start", required=False), sub.date("end", required=False)
    access = []
    for i, a in enumerate(r.get("access", list, required=False, default=[])):
        where = f"access[{i}]"
        if not isinstance(a, dict) or a.get("kind") not in ACCESS_KINDS:
            r.problem(f"{where}.kind", f"must be one of {', '.join(ACCESS_KINDS)}")
            continue
        if not (a.get("endpoint") or a.get("url")):
            r.problem(where, "needs an endpoint or url")
        networks = a.get("networks") or []
        params = a.get("params") or {}
        if not isinstance(params, dict):
            r.problem(f"{where}.params", "must be a mapping of service parameters")
            params = {}
        options = a.get("options") or {}
        if not (isinstance(options, dict) and all(isinstance(v, list) for v in options.values())):
            r.problem(f"{where}.options", "must map request fields to lists of allowed values")
            options = {}
        if a["kind"] == "erddap" and a.get("protocol") not in (None, "tabledap", "griddap"):
            r.problem(f"{where}.protocol", "must be tabledap or griddap")
        if a["kind"] == "sciencebase" and not a.get("item"):
            r.problem(f"{where}.item", "is required for a sciencebase route (the ScienceBase item id)")
        for key in ("area", "time"):
            if a.get(key) not in (None, "none"):
                r.problem(f"{where}.{key}", "must be 'none' (the service takes none) or absent")
        version = a.get("version")
        access.append(AccessRoute(
            kind=a["kind"], endpoint=a.get("endpoint"), url=a.get("url"), collection=a.get("collection"),
            short_name=a.get("short_name"), dataset=a.get("dataset"),
            networks=[str(n) for n in networks], source=a.get("source"),
            item_search=a.get("item_search", True) is not False,
            version=str(version) if version is not None else None, concept_id=a.get("concept_id"),
            params=dict(params), protocol=a.get("protocol"), item=a.get("item"), pattern=a.get("pattern"),
            variables=[str(v) for v in a.get("variables") or []], area=a.get("area"), time=a.get("time"),
            note=a.get("note"), options=dict(options), required=[str(f) for f in a.get("required") or []],
            defaults=dict(a.get("defaults") or {}),
        ))
    license_id = r.text("license", required=False) or "other"
    doi_value = r.get("doi", (str, list), required=False)
    dois = [doi_value] if isinstance(doi_value, str) else [str(d) for d in doi_value or []]
    for doi in dois:
        if not re.match(r"^10\.\d{4,9}/\S+$", doi):
            r.problem("doi", f"is not a DOI (10.NNNN/...): {doi!r}")
    return DatasetRecord(
        path=path, id=record_id, title=r.text("title"), description=r.text("description"),
        keywords=r.strings("keywords", required=False), providers=providers,
        license=license_id, license_url=r.get("license_url", str, required=False),
        bbox=[float(v) for v in bbox], interval=(start, end),
        landing_page=r.get("landing_page", str, required=False), access=access, flags=flags,
        sources=[str(s) for s in r.get("sources", list, required=False, default=[])],
        dois=dois, static=r.get("static", bool, required=False, default=False),
        no_machine_route=r.text("no_machine_route", required=False) or None,
    )


def load_records(root: Path | str = RECORDS_DIR) -> Records:
    """Read every study and dataset record under ``root`` and cross-check them.

    Problems are collected in ``Records.problems``; records with problems are still returned so
    that one bad field does not hide the others.
    """
    root = Path(root)
    records = Records()
    for path in sorted((root / "datasets").glob("*.yaml")):
        data = _read_yaml(path, records.problems)
        if data is not None:
            records.datasets.append(_dataset(path, data, records.problems))
    for path in sorted((root / "studies").glob("*.yaml")):
        data = _read_yaml(path, records.problems)
        if data is not None:
            records.studies.append(_study(path, data, records.problems))
    if not records.studies:  # an empty or mistyped --records folder must not build an empty catalogue
        records.problems.append(Problem(str(root), "studies/", "no study records (studies/*.yaml) in this folder; "
                                        "--records must name a folder with studies/ and datasets/"))

    known = {d.id for d in records.datasets}
    if "studies" in known:
        records.problems.append(Problem("catalog/datasets/studies.yaml", "id", "'studies' is reserved"))
    seen: dict[str, Path] = {}
    every: list[StudyRecord | DatasetRecord] = [*records.datasets, *records.studies]
    for rec in every:
        if rec.id in seen:
            records.problems.append(Problem(display_path(rec.path), "id",
                                            f"duplicates the id of {display_path(seen[rec.id])}"))
        seen[rec.id] = rec.path
    for study in records.studies:
        for i, use in enumerate(study.datasets):
            if use.dataset_id and use.dataset_id not in known:
                records.problems.append(Problem(
                    display_path(study.path), f"datasets[{i}].id",
                    f"refers to unknown dataset {use.dataset_id!r} (no catalog/datasets/{use.dataset_id}.yaml)",
                ))
    return records
