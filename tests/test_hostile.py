"""Hostile input against the real server (geostudies serve), over raw sockets where a client library would
refuse to send the request: every answer is a 4xx JSON ``{code, description}``, never a 5xx, never a dropped
connection, and the server still answers afterwards. Slow clients: 50 idle, 50 slow-header and 50 slow-body
sockets held open while normal requests succeed."""
from __future__ import annotations

import json
import socket
import time
from urllib.parse import quote

import orjson
import pytest
import requests

from .conftest import Server

PINGTUNG = "pingtung-2006-doublet-intraslab-stress"
RESULTS: dict[str, int] = {"tried": 0, "failed": 0}


def raw(server: Server, data: bytes, timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes, read the whole answer (the server closes or sends Content-Length); (status, headers, body)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                pytest.fail(f"connection reset by the server for {data[:80]!r}")
            if not chunk:
                break
            chunks.append(chunk)
            head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(body) >= length[0]:
                break
    answer = b"".join(chunks)
    assert answer, f"no answer (connection dropped) for {data[:80]!r}"
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def request(method: str, target: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def assert_json_4xx(server: Server, data: bytes, status: int | None = None, fragment: str = "") -> dict:
    RESULTS["tried"] += 1
    try:
        code, headers, body = raw(server, data)
        assert 400 <= code < 500, (code, body[:300])
        if status is not None:
            assert code == status, (code, body[:300])
        assert headers.get("content-type", "").startswith("application/json"), (headers, body[:200])
        doc = json.loads(body)
        assert set(doc) == {"code", "description"} and doc["code"] and doc["description"], doc
        assert fragment in doc["description"], doc
    except BaseException:
        RESULTS["failed"] += 1
        raise
    assert server.get("/conformance").status_code == 200  # still answering
    return doc


def search_get(params: dict[str, str]) -> bytes:
    return request("GET", "/search?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()))


def search_post(body: bytes | dict, content_type: str = "application/json") -> bytes:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return request("POST", "/search", headers={"Content-Type": content_type}, body=data)


def nested(inner: bytes, opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + inner + closing * depth


POINT = b'{"type":"Point","coordinates":[120.5,22]}'
EQ = b'{"op":"=","args":[{"property":"geostudies:year"},2025]}'

# -- before the app: what the HTTP server itself refuses -------------------------------------------------------

PRE_APP = [
    ("request line over the cap", request("GET", "/search?q=" + "a" * 70_000), 414, "request line"),
    ("request line far over the cap", request("GET", "/search?q=" + "a" * 300_000), 414, ""),
    ("headers over the cap", request("GET", "/conformance", headers={"X-Big": "a" * 140_000}), 431, ""),
    ("raw non-ASCII bytes in the query string", b"GET /search?q=\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
     b"Connection: close\r\n\r\n", 400, ""),
    ("control character in If-None-Match", b"GET /conformance HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: a\x01b"
     b"\r\nConnection: close\r\n\r\n", 400, ""),
    ("not HTTP at all", b"GARBAGE\r\n\r\n", 400, ""),
    ("a bad Content-Length", request("GET", "/search", headers={"Content-Length": "abc"}), 400, ""),
    ("an unknown Transfer-Encoding", request("POST", "/search", headers={"Transfer-Encoding": "gzip",
                                                                      "Content-Type": "application/json"}), 400, ""),
    ("a chunked body over the cap", request("POST", "/search", headers={
        "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        body=b"".join(b"%x\r\n%s\r\n" % (100_000, b" " * 100_000) for _ in range(11)) + b"0\r\n\r\n"), 413, ""),
    ("a declared body over the cap", request("POST", "/search", headers={
        "Content-Type": "application/json", "Content-Length": "5000000"}), 413, ""),
    ("an unknown Host", request("GET", "/search").replace(b"Host: 127.0.0.1", b"Host: evil.example"), 400,
     "evil.example"),
    ("a forwarded Host from an untrusted peer", request("GET", "/search").replace(
        b"Host: 127.0.0.1", b"Host: evil.example\r\nX-Forwarded-Host: evil.example"), 400, ""),
]


@pytest.mark.parametrize("name,data,status,fragment", PRE_APP, ids=[c[0] for c in PRE_APP])
def test_requests_refused_before_the_app_are_json(server, name, data, status, fragment):
    assert_json_4xx(server, data, status, fragment)


# -- parameters: the cases of the hardening issue, and their neighbours ------------------------------------------

PARAMS = [
    ("overflowing datetime", search_get({"datetime": "9999-12-31T23:59:59-01:00"}), 400, "datetime"),
    ("underflowing datetime", search_get({"datetime": "0001-01-01T00:00:00+01:00"}), 400, "datetime"),
    ("overflowing datetime on /collections", request("GET", "/collections?datetime=9999-12-31T23%3A59%3A59-01%3A00"),
     400, ""),
    ("overflowing datetime on items", request("GET", "/collections/studies/items?datetime="
                                                     "0001-01-01T00%3A00%3A00%2B01%3A00"), 400, ""),
    ("query value an object", search_post({"query": {"title": {"eq": {"op": "casei"}}}}), 400, "query"),
    ("query operator 'property'", search_post({"query": {"eq": {"property": 5}}}), 400, ""),
    ("query timestamp object", search_post({"query": {"datetime": {"gt": {"timestamp": 5}}}}), 400, ""),
    ("query 'in' of objects", search_post({"query": {"geostudies:year": {"in": [{"a": 1}]}}}), 400, ""),
    ("query on a bad property name", search_post({"query": {"a'b": {"eq": 1}}}), 400, "property"),
    ("a date object in a_contains", search_post({"filter": {"op": "a_contains", "args": [
        {"property": "keywords"}, [{"interval": ["2020-01-01", ".."]}]]}}), 400, ""),
    ("CQL2-JSON 200 NOT deep", search_post(b'{"filter":' + nested(EQ, b'{"op":"not","args":[', b"]}", 200) + b"}"),
     400, "deeper"),
    ("CQL2-JSON 1000 NOT deep", search_post(b'{"filter":' + nested(EQ, b'{"op":"not","args":[', b"]}", 1000)
                                            + b"}"), 400, ""),
    ("GeometryCollection 200 deep", search_post(b'{"intersects":' + nested(
        POINT, b'{"type":"GeometryCollection","geometries":[', b"]}", 200) + b"}"), 400, ""),
    ("GeometryCollection 1000 deep", search_post(b'{"intersects":' + nested(
        POINT, b'{"type":"GeometryCollection","geometries":[', b"]}", 1000) + b"}"), 400, ""),
    ("GeometryCollection 4 deep", search_post(b'{"intersects":' + nested(
        POINT, b'{"type":"GeometryCollection","geometries":[', b"]}", 4) + b"}"), 400, "GeometryCollections"),
    ("2000 nested parentheses", search_get({"filter": "(" * 2000 + "true" + ")" * 2000}), 400, "deeper"),
    ("21 nested parentheses", search_get({"filter": "(" * 21 + "true" + ")" * 21}), 400, "20"),
    ("NOT x 100", search_get({"filter": "NOT " * 100 + "true"}), 400, "NOT"),
    ("a filter of 20,000 digits", search_get({"filter": "0" * 20_000}), 400, "filter"),  # once 60 s of regex
    ("free text of 316,000 words", search_post({"q": "ab " * 316_000}), 413, "characters"),
    ("free text of 100,000 terms", search_get({"q": ",".join(["ab"] * 100_000)}), None, ""),
    ("free text of 51 words", search_get({"q": " ".join(["ab"] * 51)}), 413, "words"),
    ("free text not a string", search_post({"q": {"a": 1}}), 400, "'q'"),
    ("a 120,000-point MultiPoint in a GeometryCollection", search_post({"intersects": {
        "type": "GeometryCollection", "geometries": [
            {"type": "MultiPoint", "coordinates": [[i / 1e5, 0] for i in range(60_000)]}]}}), 413, "vertices"),
    ("a 100,000-point s_intersects filter", search_post({"filter": {"op": "s_intersects", "args": [
        {"property": "geometry"}, {"type": "MultiPoint", "coordinates": [[i / 1e5, 0] for i in range(60_000)]}]}}),
     413, ""),
    ("a WKT filter geometry over the vertex cap", search_post({
        "filter": "s_intersects(geometry, MULTIPOINT(" + ",".join("0 0" for _ in range(10_500)) + "))"}), 413, ""),
    ("a polygon with a bad position", search_post({"intersects": {"type": "Polygon", "coordinates": [[[1, "a"]]]}}),
     400, "positions"),
    ("an unknown geometry type", search_post({"intersects": {"type": "Circle", "coordinates": [1, 2]}}), 400, ""),
    ("a token whose values are objects", search_get({"token": "eyJkIjoibmV4dCIsInYiOlt7ImEiOjF9XX0"}), 400, "token"),
    ("a token that is a list", search_post({"token": ["x"]}), 400, "token"),
    ("a forged token with numberMatched -5", search_get({
        "token": "eyJkIjoibmV4dCIsInYiOlsxXSwibSI6LTV9.AAAAAAAAAAAAAAAAAAAAAA"}), 400, "token"),
    ("a collections token of 30 digits", request("GET", "/collections?token=" + "9" * 30), 400, "token"),
    ("limit 1e400", search_get({"limit": "1e400"}), 400, "limit"),
    ("limit in a body as a huge number", search_post(b'{"limit": 1e400}'), 400, ""),
    ("bbox of 5 numbers", search_get({"bbox": "1,2,3,4,5"}), 400, "bbox"),
    ("bbox of booleans", search_post({"bbox": [True, 1, 2, 3]}), 400, "bbox"),
    ("sortby of 11 fields", search_get({"sortby": ",".join(f"f{i}" for i in range(11))}), 400, "sortby"),
    ("fields of 200 names", search_get({"fields": ",".join(f"f{i}" for i in range(200))}), 400, "fields"),
    ("ids of 1001", search_get({"ids": ",".join(f"i{i}" for i in range(1001))}), 413, "ids"),
    ("an id of 300 characters", search_get({"ids": "x" * 300}), 400, "256"),
    ("a form body", search_post(b'{"limit": 1}', "application/x-www-form-urlencoded"), 415, "application/json"),
    ("a multipart body", search_post(b'{"limit": 1}', "multipart/form-data; boundary=x"), 415, ""),
    ("a body that is not an object", search_post(b"[1,2]"), 400, "object"),
    ("a body nested 100 deep", search_post(b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"), 400, ""),
    ("a URL over the app's cap", request("GET", "/search?filter=" + "a" * 65_530), 414, "65536"),
    ("a filter-lang of the wrong kind", search_post({"filter": "true", "filter-lang": "cql2-json"}), 400, ""),
    ("an interval of three", search_post({"filter": {"op": "t_intersects", "args": [
        {"property": "datetime"}, {"interval": ["2020-01-01", "..", "x"]}]}}), 400, ""),
]


@pytest.mark.parametrize("name,data,status,fragment", PARAMS, ids=[c[0] for c in PARAMS])
def test_bad_parameters_are_4xx_json(server, name, data, status, fragment):
    started = time.monotonic()
    assert_json_4xx(server, data, status, fragment)
    assert time.monotonic() - started < 10, "a refused request must be refused quickly"


def test_valid_cql2_with_property_intervals_is_served(server):
    body = server.get("/search", params={"filter": "T_INTERSECTS(datetime, INTERVAL(start_datetime, end_datetime))"})
    # every Item meets its own interval, except those with no data time (a publication date stands in): no interval
    timed = server.get("/search", params={"filter": "\"geostudies:datetime_is_publication_date\" IS NULL",
                                          "limit": 1}).json()["numberMatched"]
    assert body.status_code == 200 and body.json()["numberMatched"] == timed and 0 < timed < 49
    dates = server.post("/search", json={"filter": {"op": "a_contains", "args": [
        {"property": "keywords"}, [{"date": "2020-01-01"}]]}})
    assert dates.status_code == 200


def test_forged_tokens_are_refused_and_real_ones_work(server):
    first = server.get("/search", params={"limit": 5}).json()
    token = next(lk for lk in first["links"] if lk["rel"] == "next")["href"].split("token=")[1]
    assert server.get("/search", params={"limit": 5, "token": token}).status_code == 200
    body, mac = token.split(".")
    import base64
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["m"] = -5
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + mac
    response = server.get("/search", params={"limit": 5, "token": forged})
    assert response.status_code == 400 and "token" in response.json()["description"]


def test_links_never_point_at_an_untrusted_host(server):
    code, _, body = raw(server, request("GET", f"/collections/studies/items/{PINGTUNG}").replace(
        b"Host: 127.0.0.1", b"Host: evil.example"))
    assert code == 400 and b"evil.example/" not in body
    port = server.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        code, _, body = raw(server, request("GET", f"/collections/studies/items/{PINGTUNG}").replace(
            b"Host: 127.0.0.1", f"Host: {host}".encode()))
        assert code == 200 and f"http://{host}/collections/studies".encode() in body
    code, _, body = raw(server, request("GET", "/search?limit=2", headers={"X-Forwarded-Host": "evil.example",
                                                                          "X-Forwarded-Proto": "https"}))
    assert code == 200 and b"evil.example" not in body and b"https://" not in body.split(b'"links"')[-1][:2000]


def test_html_pages_carry_csp_nosniff_and_a_referrer_policy_and_the_api_stays_open(server):
    page = server.get("/map")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in csp and "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["Referrer-Policy"]
    api = server.get("/search?limit=1", headers={"Origin": "https://stac-browser.example"})
    assert api.headers["Access-Control-Allow-Origin"] in ("*", "https://stac-browser.example")
    assert api.headers["X-Content-Type-Options"] == "nosniff"


def test_slow_clients_do_not_stop_the_service(server):
    """50 idle sockets, 50 sending half a header, 50 sending half a body, held while 40 requests succeed."""
    host, port = server.url.removeprefix("http://").split(":")
    held: list[socket.socket] = []
    try:
        for _ in range(50):
            held.append(socket.create_connection((host, int(port))))
            slow_header = socket.create_connection((host, int(port)))
            slow_header.sendall(b"GET /search HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(slow_header)
            slow_body = socket.create_connection((host, int(port)))
            slow_body.sendall(b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 1000\r\n\r\n{")
            held.append(slow_body)
        for _ in range(40):
            response = requests.get(server.url + "/search", params={"limit": 2}, timeout=10)
            assert response.status_code == 200 and response.json()["numberReturned"] == 2
        for sock in held[2::9]:  # some of them go on dribbling: still no worker is held
            sock.sendall(b"a")
        assert requests.get(server.url + f"/collections/studies/items/{PINGTUNG}", timeout=10).status_code == 200
    finally:
        for sock in held:
            sock.close()
    RESULTS["slow_sockets_held"] = len(held)
