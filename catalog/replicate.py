"""A replication script per study: one self-contained Python file that fetches the public data the study used,
limited to its area and time, from the study's access links.

The script is generated from the study Item as stored (so it is exactly what the catalogue says), runs
with Python 3.9+ and ``requests``; each service uses the client its community uses where installed:
pystac-client for STAC, ObsPy for FDSN waveforms, cdsapi for the Copernicus CDS. Every part says what it
needs and skips with a clear message when that is missing. By default the script saves what the services
answer (scene and granule lists, station and event lists, CSV subsets, file lists) into ``--out``; with
``--download`` it also downloads the data files (credentials named in the script's header).

Endpoints can be remapped with ``GEOSTUDIES_ENDPOINTS`` (JSON: upstream URL prefix -> replacement), so the
test suite runs the generated scripts against its replay server.
"""
from __future__ import annotations

import datetime as dt
from pprint import pformat
from typing import Any

from . import STAC_VERSION, __version__

CREDENTIALS = {
    "stac-api": "Planetary Computer assets need a SAS token: pip install planetary-computer (signs hrefs); "
                "other STAC APIs' assets are usually open.",
    "cmr": "NASA Earthdata Login for granule downloads: an EARTHDATA_TOKEN environment variable (a bearer token "
           "from https://urs.earthdata.nasa.gov/) or ~/.netrc with machine urs.earthdata.nasa.gov.",
    "cds": "A Copernicus CDS API key in ~/.cdsapirc (url: https://cds.climate.copernicus.eu/api, key: <your key>), "
           "pip install cdsapi, and the dataset's licence accepted on its CDS page.",
    "fdsn-station": "none (FDSN station and event services are open).",
    "fdsn-event": "none (FDSN station and event services are open).",
    "fdsn-dataselect": "none for open networks; restricted networks need an FDSN account. pip install obspy.",
    "erddap": "none (ERDDAP subsets are open).",
    "sciencebase": "none for public ScienceBase items.",
    "file-index": "none (a public file server).",
}

RUNTIME = r'''
import argparse
import json
import os
import sys
import urllib.parse
from pathlib import Path

try:
    import requests
except ImportError:  # the one library every part needs
    sys.exit("this script needs requests: pip install requests")

MAP = json.loads(os.environ.get("GEOSTUDIES_ENDPOINTS", "{}"))


def endpoint(url):
    """The URL to call: GEOSTUDIES_ENDPOINTS maps an upstream prefix elsewhere (a mirror, a test server)."""
    for upstream, replacement in sorted(MAP.items(), key=lambda kv: -len(kv[0])):
        if url.startswith(upstream.rstrip("/")):
            return replacement.rstrip("/") + url[len(upstream.rstrip("/")):]
    return url


def get(url, **kwargs):
    response = requests.get(endpoint(url), timeout=60, **kwargs)
    if response.status_code in (204, 404):
        return None
    response.raise_for_status()
    return response


def save(out, name, data):
    path = out / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def download(out, url, headers=None):
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or "file"
    response = requests.get(endpoint(url), timeout=300, headers=headers or {}, stream=True)
    response.raise_for_status()
    path = out / "files" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for chunk in response.iter_content(1 << 20):
            handle.write(chunk)
    return path


def stac(q, out, args):
    split = urllib.parse.urlsplit(q["href"])
    root = q["href"][: q["href"].index("/search?")]
    params = dict(urllib.parse.parse_qsl(split.query))
    try:
        import pystac_client
    except ImportError:
        pystac_client = None
    if pystac_client is not None:
        client = pystac_client.Client.open(endpoint(root))
        search = client.search(collections=params["collections"].split(","), bbox=params.get("bbox"),
                               datetime=params.get("datetime"), limit=int(params.get("limit", 100)),
                               max_items=int(params.get("limit", 10)) if q["sample"] else args.max_items)
        items = list(search.items_as_dicts())
    else:  # plain HTTP: the first page only
        page = get(q["href"])
        items = page.json().get("features", []) if page else []
    save(out, f"{q['name']}.ndjson", "".join(json.dumps(i) + "\n" for i in items))
    if args.download:
        for item in items:
            for asset in item.get("assets", {}).values():
                if "data" in asset.get("roles", ["data"]):
                    download(out / q["name"], asset["href"])
    return len(items)


def cmr(q, out, args):
    page = get(q["href"])
    entries = page.json().get("feed", {}).get("entry", []) if page else []
    save(out, f"{q['name']}.json", json.dumps(entries, indent=1))
    if args.download:
        token = os.environ.get("EARTHDATA_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        for entry in entries:
            for link in entry.get("links", []):
                if link.get("rel", "").endswith("/data#"):
                    download(out / q["name"], link["href"], headers)
    return len(entries)


def text_answer(q, out, args, suffix):
    page = get(q["href"])
    body = page.content if page else b""
    save(out, f"{q['name']}.{suffix}", body)
    if q["service"] == "fdsn-event":
        return body.count(b"<event ")
    if q["service"] == "erddap":
        return max(0, len(body.decode("utf-8", "replace").strip().splitlines()) - 2)
    if q["service"] == "file-index":
        return 1 if body else 0
    return sum(1 for line in body.decode("utf-8", "replace").splitlines() if line.strip() and not line.startswith("#"))


def fdsn_stations(q, out, args):
    count = text_answer(q, out, args, "txt")
    if args.download and q["service"] == "fdsn-dataselect":
        try:
            from obspy.clients.fdsn import Client
        except ImportError:
            print("  waveforms: skipped (pip install obspy)")
            return count
        print("  waveforms: request them with obspy, e.g. Client(...).get_waveforms_bulk(...) for the channels in "
              f"{q['name']}.txt around each event of the study (not automated here)")
    return count


def sciencebase(q, out, args):
    page = get(q["href"])
    item = page.json() if page else {}
    save(out, f"{q['name']}.json", json.dumps(item, indent=1))
    if args.download:
        for entry in item.get("files", []):
            download(out / q["name"], entry["url"])
    return len(item.get("files", []))


def cds(q, out, args):
    request = json.loads(q["request"])
    save(out, f"{q['name']}.request.json", json.dumps(request, indent=1))
    if not args.download:
        return 0
    try:
        import cdsapi
    except ImportError:
        print("  skipped: pip install cdsapi, and put your key in ~/.cdsapirc")
        return 0
    cdsapi.Client().retrieve(request["dataset"], request["request"], str(out / f"{q['name']}.download"))
    return 1


RUN = {"stac-api": stac, "cmr": cmr, "fdsn-station": fdsn_stations, "fdsn-dataselect": fdsn_stations,
       "fdsn-event": lambda q, o, a: text_answer(q, o, a, "xml"), "erddap": lambda q, o, a: text_answer(q, o, a, "csv"),
       "file-index": lambda q, o, a: text_answer(q, o, a, "html"), "sciencebase": sciencebase, "cds": cds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=STUDY["id"], help="output folder (default: the study id)")
    parser.add_argument("--download", action="store_true", help="also download the data files (credentials above)")
    parser.add_argument("--max-items", type=int, default=1000, help="at most this many scenes per STAC query")
    parser.add_argument("--only", nargs="*", help="only these services (stac-api, cmr, fdsn-event, cds, ...)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"study": STUDY["id"], "catalogue": CATALOGUE, "queries": []}
    failed = 0
    for q in QUERIES:
        if args.only and q["service"] not in args.only:
            continue
        label = f"{q['dataset']} [{q['service']}]" + (" (sample query)" if q.get("sample") else "")
        try:
            count = RUN[q["service"]](q, out, args)
            print(f"{label}: {count} record(s) -> {out}")
            summary["queries"].append({"name": q["name"], "service": q["service"], "records": count})
        except Exception as exc:  # one service down must not stop the others
            failed += 1
            print(f"{label}: failed: {exc}", file=sys.stderr)
            summary["queries"].append({"name": q["name"], "service": q["service"], "error": str(exc)})
    save(out, "summary.json", json.dumps(summary, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _queries(item: dict[str, Any]) -> list[dict[str, Any]]:
    queries = []
    for n, link in enumerate(lk for lk in item.get("links", []) if lk.get("rel") == "geostudies:access"):
        query = {"name": f"{n + 1:02d}-{link['geostudies:dataset']}-{link['geostudies:service']}",
                 "dataset": link["geostudies:dataset"], "service": link["geostudies:service"],
                 "title": link.get("title", ""), "href": link["href"], "sample": bool(link.get("geostudies:sample"))}
        if link.get("geostudies:request"):
            query["request"] = link["geostudies:request"]
        queries.append(query)
    return queries


def study_script(item: dict[str, Any], *, catalogue: str, made: dt.datetime | None = None) -> str:
    """The replication script of one study Item, as Python source text."""
    made = made or dt.datetime.now(dt.timezone.utc)
    props = item["properties"]
    queries = _queries(item)
    services = sorted({q["service"] for q in queries})
    needs = "\n".join(f"  {s}: {CREDENTIALS.get(s, 'see the service')}" for s in services) or "  (no queries)"
    header = (f'#!/usr/bin/env python3\n"""Fetch the public data of a study, limited to its area and time.\n\n'
              f"Study: {props.get('title')} ({item['id']})\n"
              f"Citation: {props.get('sci:citation', '')}\n"
              f"Made by geostudies {__version__} from the catalogue {catalogue} (STAC {STAC_VERSION}) on "
              f"{made.strftime('%Y-%m-%d %H:%M UTC')}.\n\n"
              "What it does: runs each access link of the study and saves the answers into --out (scene and "
              "granule lists, station and event lists, subsets); with --download it also downloads the data "
              "files. Sample queries (global studies) are labelled: they fetch a sample, not everything.\n\n"
              f"Credentials, by service:\n{needs}\n\n"
              "Needs: Python 3.9+, requests; pystac-client for STAC paging, obspy for waveforms, cdsapi for CDS.\n"
              'Endpoints: GEOSTUDIES_ENDPOINTS=\'{"https://upstream.example": "https://mirror.example"}\'\n"""\n')
    study = {"id": item["id"], "title": props.get("title"), "bbox": item.get("bbox"),
             "start": props.get("start_datetime"), "end": props.get("end_datetime")}
    catalogue_info = {"source": catalogue, "made": made.isoformat(), "geostudies": __version__}
    data = (f"STUDY = {pformat(study, width=110, sort_dicts=False)}\n"
            f"CATALOGUE = {pformat(catalogue_info, width=110, sort_dicts=False)}\n"
            f"QUERIES = {pformat(queries, width=110, sort_dicts=False)}\n")
    return header + data + RUNTIME
