"""The ``geostudies`` command line: one subcommand per library entry point."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import orjson

from catalog.records import RECORDS_DIR, RecordsInvalid
from catalog.store import Store, StoreError, default_location, open_store, redacted

db_option = click.option("--db", "db", default=default_location, show_default="$GEOSTUDIES_DB or ./geostudies.db",
                         help="Catalogue store: a SQLite file, or postgresql://user:password@host:port/database.")
records_option = click.option("--records", type=click.Path(file_okay=False, path_type=Path), default=RECORDS_DIR,
                              show_default="the bundled catalog/", help="Folder with studies/ and datasets/.")


class Commands(click.Group):
    """A user's mistake or a store that cannot be used ends in one line saying what to do, never a traceback.

    Bugs still show their traceback: only the errors a user can act on are caught here.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (StoreError, OSError) as exc:
            message = str(exc) if isinstance(exc, StoreError) else (
                f"{exc.strerror or exc.__class__.__name__}: {exc.filename}" if exc.filename else str(exc))
            raise click.ClickException(message) from None


def store_at(db: str, *, readonly: bool = False) -> Store:
    """Open the catalogue named by --db, or fail with a usage line (an unknown URL scheme, a missing file)."""
    try:
        return open_store(db, readonly=readonly)
    except FileNotFoundError as exc:
        raise click.ClickException(f"{exc} (or give --db / set GEOSTUDIES_DB)") from None
    except ValueError as exc:
        raise click.UsageError(f"--db {redacted(db)}: {exc}") from None


@click.group(cls=Commands)
@click.version_option(package_name="geostudies")
def main() -> None:
    """geostudies: published geoscience studies as STAC, with the public data behind them."""


@main.command()
@records_option
@click.option("--no-schemas", is_flag=True, help="Skip JSON Schema validation (domain checks still run).")
def validate(records: Path, no_schemas: bool) -> None:
    """Check every record and the STAC built from it; report all problems, exit 1 if any."""
    from catalog.build import validate as run_validate

    result = run_validate(records, schemas=not no_schemas)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in result.problems:
        click.echo(str(problem), err=True)
    click.echo(f"{len(result.records.studies)} studies, {len(result.records.datasets)} datasets, "
               f"{len(result.items)} items, {len(result.collections)} collections: "
               f"{len(result.problems)} problem(s), {len(result.warnings)} warning(s)")
    sys.exit(1 if result.problems else 0)


@main.command()
@db_option
@records_option
@click.option("--no-schemas", is_flag=True, help="Skip JSON Schema validation.")
def build(db: str, records: Path, no_schemas: bool) -> None:
    """Validate the records and load them into the store (all or nothing).

    The records are checked before the store is opened: a refused build leaves the catalogue as it was and
    creates no database.
    """
    from catalog.build import validate as run_validate
    from catalog.build import write_validated

    click.echo(f"checking the records in {records} ...", err=True)
    result = run_validate(records, schemas=not no_schemas)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.ok:
        click.echo(f"{len(result.records.studies)} studies and {len(result.records.datasets)} datasets are valid; "
                   f"writing {len(result.items)} items and {len(result.collections)} collections to {redacted(db)} ...",
                   err=True)
    else:
        for problem in result.problems:
            click.echo(str(problem), err=True)
        click.echo(f"build refused: {len(result.problems)} problem(s); the catalogue at {redacted(db)} is unchanged",
                   err=True)
        sys.exit(1)
    with store_at(db) as store:
        try:
            report = write_validated(store, result)
        except RecordsInvalid as exc:  # the store refused the write (disk full, busy, damaged): rolled back
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            click.echo(f"build refused; the catalogue at {redacted(db)} is unchanged", err=True)
            sys.exit(1)
    click.echo(f"built {redacted(db)}: " + ", ".join(f"{k}={v}" for k, v in report.items()))


@main.command()
@db_option
@click.argument("kind", type=click.Choice(["geojson", "geoparquet", "csv", "static"]))
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--collection", default="studies", show_default=True,
              help="Collection to export (geojson/geoparquet/csv).")
def export(db: str, kind: str, path: Path, collection: str) -> None:
    """Export the catalogue: GeoJSON, stac-geoparquet, CSV, or a static STAC catalog folder."""
    from catalog import export as exporters

    with store_at(db, readonly=True) as store:
        if kind != "static" and store.get_collection(collection) is None:
            raise click.UsageError(f"no collection {collection!r} in {redacted(db)}")
        count = store.count_items(None if kind == "static" else collection)
        click.echo(f"exporting {count} items{'' if kind == 'static' else f' of {collection}'} as {kind} ...",
                   err=True)
        if kind == "geoparquet":
            click.echo(exporters.export_geoparquet(store, path, collection).summary(path))
            return
        if kind == "geojson":
            n = exporters.export_geojson(store, path, collection)
        elif kind == "csv":
            n = exporters.export_csv(store, path, collection)
        else:
            n = exporters.export_static(store, path)
            path = path / "catalog.json"
    click.echo(f"wrote {n} items to {path}")


@main.command()
@db_option
@click.option("--bbox", help="west,south,east,north")
@click.option("--place", help="A gazetteer name (Taiwan, 青藏高原, Sichuan Basin) or id; searched by its outline")
@click.option("--datetime", "datetime_", help="RFC 3339 instant or interval")
@click.option("-q", "--q", "text", help="Free text (English or Chinese)")
@click.option("--filter", "cql", help="CQL2 text filter")
@click.option("--collection", "collections", multiple=True)
@click.option("--geologic-time", "geologic_time", help="ICS name (Toarcian) or older/younger Ma (190/170)")
@click.option("--sortby", help="Sort fields, e.g. -geostudies:area_km2 (a spatial search is sorted by relevance, "
                               "-geostudies:relevance, unless this says otherwise)")
@click.option("--limit", default=10, show_default=True)
def search(db: str, bbox: str | None, place: str | None, datetime_: str | None, text: str | None, cql: str | None,
           collections: tuple[str, ...], geologic_time: str | None, sortby: str | None, limit: int) -> None:
    """Search items like the API's /search and print them as GeoJSON lines.

    A search by --bbox or --place is listed by relevance (the share of each study's area inside the box, then the
    smallest area first), so site and regional studies come before global ones; --sortby changes that."""
    from catalog.store import RELEVANCE
    from service.extensions import ExtensionSet, default_extensions
    from service.params import SearchParamError

    if bbox and not sortby:
        sortby = f"-{RELEVANCE}"
    params = {"bbox": bbox, "place": place, "datetime": datetime_, "q": text, "filter": cql, "limit": str(limit),
              "collections": ",".join(collections) or None, "geologic_time": geologic_time, "sortby": sortby}
    try:
        search_request = ExtensionSet(default_extensions()).parse({k: v for k, v in params.items() if v is not None})
    except SearchParamError as exc:
        raise click.UsageError(exc.description) from exc
    with store_at(db, readonly=True) as store:
        page = store.search(search_request.query)
    for item in page.items:
        click.echo(orjson.dumps(item).decode())
    click.echo(f"{len(page.items)} of {page.matched} matched", err=True)


@main.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="Processes.")
@click.option("--threads", default=2, show_default=True, type=int, help="Application threads per process.")
@click.option("--timeout", default=60.0, show_default=True, type=float,
              help="Seconds a request may run before its process is restarted.")
@click.option("--request-timeout", default=30.0, show_default=True, type=float,
              help="Seconds a client has to send a whole request (line, headers, body).")
@click.option("--access-log", is_flag=True, help="Log every request to stderr (off by default).")
@click.option("--dev", is_flag=True, help="Flask's development server (reloader off) instead of waitress.")
def serve(db: str, host: str, port: int, workers: int, threads: int, timeout: float, request_timeout: float,
          access_log: bool, dev: bool) -> None:
    """Serve the STAC API and the map pages (waitress in --workers processes, or --dev for Flask's server).

    The catalogue is checked first (schema version, a quick integrity check): a damaged or outdated file is
    refused with the reason, before any process starts. Links use $GEOSTUDIES_PUBLIC_URL, else a Host in
    $GEOSTUDIES_ALLOWED_HOSTS (default: localhost names and --host); see the README's deployment section.
    """
    from service.app import create_app
    from service.config import LOCAL_HOSTS, ServiceConfig

    try:  # refuse to start on a catalogue the service could not read, with the reason, before any worker forks
        store = store_at(db, readonly=True)
        try:
            check = getattr(store, "check", None)
            problems = check(timeout=5.0) if check else []
        finally:
            store.close()
    except (OSError, StoreError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    if problems:
        raise click.UsageError(f"the catalogue at {redacted(db)} failed its integrity check: "
                               f"{'; '.join(problems[:5])}; "
                               "rebuild it (geostudies build) or restore a copy")
    config = ServiceConfig.from_env(store=db)
    if config.allowed_hosts is None and not config.public_url and host not in ("0.0.0.0", "::", ""):
        config = ServiceConfig.from_env(store=db, allowed_hosts=(*LOCAL_HOSTS, host))
    if dev:
        create_app(config).run(host=host, port=port, threaded=True)
        return
    from service.wsgi import serve as run_server

    run_server(config, host=host, port=port, workers=workers, threads=threads, timeout=timeout,
               request_timeout=request_timeout, access_log=access_log)


class HarvestCommand(click.Command):
    """``harvest --help`` ends with the sources installed here (entry points), looked up only when asked."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from harvesters.registry import sources

        formatter.write_paragraph()
        formatter.write_text("Sources: " + ", ".join(sources()) + " (default: all).")


@main.command(cls=HarvestCommand)
@db_option
@click.argument("sources", nargs=-1)
@click.option("--study", "studies", multiple=True, help="Only these study ids.")
@click.option("--since", help="Only upstream records changed since this date (default: last successful harvest).")
@click.option("--dry-run", is_flag=True, help="Fetch and normalise, write nothing.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="Harvest config (endpoints, caps).")
def harvest(db: str, sources: tuple[str, ...], studies: tuple[str, ...], since: str | None, dry_run: bool,
            config: Path | None) -> None:
    """Fetch metadata from the datasets' own services into the store."""
    from harvesters.base import HarvestTask
    from harvesters.registry import sources as available_sources
    from harvesters.run import load_config, run_harvest, task_label

    unknown = [name for name in sources if name not in available_sources()]
    if unknown:
        raise click.UsageError(f"unknown source(s) {', '.join(unknown)}; choose from "
                               f"{', '.join(available_sources())}")
    settings = load_config(config)
    if os.environ.get("GEOSTUDIES_CONTACT"):
        settings.http.setdefault("contact", os.environ["GEOSTUDIES_CONTACT"])

    def progress(task: HarvestTask, n: int, total: int) -> None:
        click.echo(f"{task.source} [{n}/{total}] {task_label(task)}" + (" (dry run)" if dry_run else ""), err=True)

    with store_at(db) as store:
        reports = run_harvest(store, list(sources), studies=list(studies), since=since, dry_run=dry_run,
                              config=settings, progress=progress)
    failed = False
    for report in reports:
        click.echo(report.summary())
        failed = failed or bool(report.failures)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--from", "source", required=True, help="The catalogue to copy: a SQLite file or a postgresql:// URL.")
@click.option("--to", "target", required=True, help="Where to: a new SQLite file or an empty (migrated or new) "
                                                    "PostgreSQL database's URL.")
def copy(source: str, target: str) -> None:
    """Copy a whole catalogue between stores (SQLite <-> PostgreSQL): collections, every Item (harvested ones
    too) and the harvest state, streamed, all or nothing; progress on stderr."""
    import time

    from tqdm import tqdm

    from catalog.copy import copy_catalogue

    started = time.perf_counter()
    with store_at(source, readonly=True) as src:
        total = src.count_items()
        with store_at(target) as dst, tqdm(desc="copying", unit=" items", total=total, file=sys.stderr,
                                           mininterval=1.0, disable=False) as bar:
            report = copy_catalogue(src, dst, progress=bar.update)
            shown = dst.location  # a URL without its password
    seconds = time.perf_counter() - started
    click.echo(f"copied {report.collections} collections, {report.items} items and {report.state} harvest-state "
               f"entries to {shown} in {seconds:.1f} s ({report.items / max(seconds, 1e-9):,.0f} items/s)")

@main.command()
@db_option
@click.argument("items", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--collection", "collection_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A STAC Collection JSON to create or update first; its id is given to every Item.")
@click.option("--skip-invalid", is_flag=True, help="Load the good lines and report the bad ones (default: refuse).")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Processes that decode and prepare Items while this one writes (default: one per core, at most "
                   "4; 0: all in this process). Used for files of 20,000 Items or more on SQLite.")
def load(db: str, items: Path, collection_file: Path | None, skip_invalid: bool, workers: int | None) -> None:
    """Bulk-load STAC Items (newline-delimited JSON) through the store, all or nothing.

    Give an Item a 'geostudies:studies' property naming studies to attach it to them (data access then
    reads its raster assets for those studies).
    """
    import time

    from tqdm import tqdm

    from catalog.load import LoadRefused, load_items

    collection = orjson.loads(collection_file.read_bytes()) if collection_file else None
    if collection is not None and not (isinstance(collection, dict) and isinstance(collection.get("id"), str)):
        raise click.UsageError(f"{collection_file}: not a STAC Collection (no string 'id')")
    started = time.perf_counter()
    with store_at(db) as store, tqdm(desc="loading", unit=" items", disable=None) as bar:
        try:
            report = load_items(store, items, collection=collection, skip_invalid=skip_invalid, progress=bar.update,
                                workers=workers)
        except LoadRefused as exc:
            for problem in exc.problems[:50]:
                click.echo(str(problem), err=True)
            more = len(exc.problems) - 50
            click.echo((f"... and {more} more\n" if more > 0 else "") + f"load refused: {exc}; the catalogue at "
                       f"{redacted(db)} is unchanged (use --skip-invalid to load the good lines)", err=True)
            sys.exit(1)
    for problem in report.skipped:
        click.echo(f"skipped: {problem}", err=True)
    seconds = time.perf_counter() - started
    click.echo(f"loaded {report.read} items into {redacted(db)} in {seconds:.1f} s "
               f"({report.read / max(seconds, 1e-9):,.0f} "
               f"items/s): {report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.skipped)} problem(s) skipped"
               + (f"; {report.by_workers} prepared in worker processes" if report.by_workers else ""))


@main.command()
@db_option
@click.argument("study")
@click.option("--collection", help="Only the Items of this collection.")
@click.option("--assets", help="Comma-separated asset names (default: the Items' raster data assets).")
@click.option("--format", "fmt", type=click.Choice(["tif", "png", "csv"]), default="tif", show_default=True,
              help="tif: a clip (COG) per Item; png: a preview per Item; csv: a time series per collection.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
def data(db: str, study: str, collection: str | None, assets: str | None, fmt: str, out: Path) -> None:
    """Fetch the data of a study's area: every clip (or preview, or the time series), resumable."""
    from tqdm import tqdm

    from rasters import DataAccessError, RasterAccess, RasterSettings
    from rasters.download import fetch_study

    access = RasterAccess(RasterSettings.from_env(os.environ))
    names = [a.strip() for a in assets.split(",") if a.strip()] if assets else None
    with store_at(db, readonly=True) as store, tqdm(desc=f"{study}", unit=" files", disable=None) as bar:
        try:
            report = fetch_study(store, access, study, out, collection=collection, assets=names, fmt=fmt,
                                 progress=lambda _: bar.update(1))
        except (LookupError, DataAccessError) as exc:
            raise click.UsageError(getattr(exc, "description", None) or str(exc)) from None
    click.echo(f"{study} -> {out}: {report.summary()}")
    sys.exit(1 if report.failed else 0)


@main.command("check-links")
@db_option
@click.option("--study", "studies", multiple=True, help="Only these study ids.")
@click.option("--offline", is_flag=True, help="Check the links against the records only; send nothing.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Harvest-style config: 'endpoints' maps upstream URLs elsewhere (a mirror, a replay server).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per link instead of text lines.")
def check_links(db: str, studies: tuple[str, ...], offline: bool, config: Path | None, as_json: bool) -> None:
    """Run every access link (or check it offline) and report what each returned; exit 1 on unexplained
    failures (a link that returns nothing, fails or is invalid without a flag in the records saying why)."""
    from catalog.linkcheck import check_links as run_checks
    from catalog.linkcheck import summary
    from harvesters.base import HarvestContext
    from harvesters.run import load_config

    settings = load_config(config)
    fetch = None
    with store_at(db, readonly=True) as store:
        if not offline:
            ctx = HarvestContext(store, settings)

            def fetch(method: str, url: str, body: object) -> tuple[int, dict[str, str], bytes] | None:
                response = ctx.http.request(method, ctx.endpoint(url), json=body)
                return None if response is None else (response.status, response.headers, response.body)

        results = run_checks(store, study_ids=studies, fetch=fetch)
    for result in results:
        click.echo(orjson.dumps(result.to_dict()).decode() if as_json else result.line())
    click.echo(summary(results), err=True)
    sys.exit(1 if any(r.problem for r in results) else 0)


@main.command()
@db_option
@click.argument("study")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: STUDY.py).")
def script(db: str, study: str, out: Path | None) -> None:
    """Write a Python script that fetches the public data the study used, limited to its area and time."""
    from catalog.replicate import study_script
    from service.extensions.replication import catalogue_label

    with store_at(db, readonly=True) as store:
        item = store.get_item("studies", study)
        if item is None:
            raise click.UsageError(f"no study {study!r} in {redacted(db)}")
        text = study_script(item, catalogue=catalogue_label(store, db))
    path = out or Path(f"{study}.py")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} ({text.count(chr(10))} lines); run: python {path} --out {study}-data")


@main.command()
@db_option
@click.argument("study")
@click.option("--format", "fmt", type=click.Choice(["text", "bibtex", "ris"]), default="text", show_default=True)
def cite(db: str, study: str, fmt: str) -> None:
    """Print the study's citation and data-availability statement."""
    from catalog.citation import cite as citation

    with store_at(db, readonly=True) as store:
        item = store.get_item("studies", study)
        if item is None:
            raise click.UsageError(f"no study {study!r} in {redacted(db)}")
        click.echo(citation(item, {c["id"]: c for c in store.collections()}, fmt), nl=False)


if __name__ == "__main__":
    main()
