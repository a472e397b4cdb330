"""Full-text search that works for English words and Chinese terms.

SQLite's unicode61 tokenizer treats a run of CJK characters as one token, so ``屏东`` would never
match ``2006年屏东近海地震``. We index every CJK character as its own token and turn a CJK query term
into a phrase of its characters: ``屏东`` -> ``"屏" "东"`` as an FTS5 phrase, which matches exactly
the adjacent pair. Chinese is indexed and searched in Simplified form (OpenCC ``t2s``), so ``屏東`` finds
what ``屏东`` finds and ``臺灣`` what ``台湾`` finds. English goes through the porter stemmer, so
``earthquakes`` finds ``earthquake``; a word of four letters or more also matches as the start of a word,
so ``Tibet`` finds "Qinghai-Tibetan" (shorter words match whole words only: ``sea`` is not ``seasonal``).
"""
from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import opencc

CJK = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af])")
WORD = re.compile(r"[\w\u3400-\u9fff]+", re.UNICODE)
TOKENIZER = "porter unicode61 remove_diacritics 2"
TEXT_FIELDS = (
    "title", "description", "keywords", "geostudies:title_zh", "geostudies:summary_zh", "geostudies:journal",
    "geostudies:places", "geostudies:regions", "geostudies:disciplines", "geostudies:datasets",
    "geostudies:geologic_time", "sci:citation", "sci:doi",
)


PREFIX_FROM = 4  # letters: a word this long also matches as a prefix


@lru_cache(maxsize=1)
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional Chinese characters as Simplified (other text unchanged)."""
    return _to_simplified().convert(text) if CJK.search(text) else text


def index_text(text: str) -> str:
    """Simplified Chinese, with CJK characters spaced out so each is its own token."""
    return CJK.sub(r" \1 ", simplified(text))


def document_text(doc: dict[str, Any]) -> tuple[str, str]:
    """(title text, body text) of a STAC Item, ready for the FTS index."""
    props = doc.get("properties", doc)
    title = " ".join(str(v) for v in (props.get("title"), props.get("geostudies:title_zh"), doc.get("id")) if v)
    parts: list[str] = []
    for key in TEXT_FIELDS[1:]:
        value = props.get(key)
        if isinstance(value, list):
            parts.extend(_names(v) if isinstance(v, dict) else str(v) for v in value)
        elif value:
            parts.append(str(value))
    return index_text(title), index_text(" ".join(parts))


def _names(place: dict[str, Any]) -> str:
    """The words of a ``geostudies:regions`` entry: its names and aliases (not its id or kind)."""
    names = [place.get("name"), place.get("name_zh"), *(place.get("aliases") or [])]
    return " ".join(str(n) for n in names if n)


COLLECTION_TEXT_FIELDS = ("description", "keywords", "license")


def collection_text(doc: dict[str, Any]) -> tuple[str, str]:
    """(title text, body text) of a STAC Collection, ready for the FTS index."""
    title = " ".join(str(v) for v in (doc.get("title"), doc.get("id")) if v)
    parts: list[str] = []
    for key in COLLECTION_TEXT_FIELDS:
        value = doc.get(key)
        if isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif value:
            parts.append(str(value))
    parts += [str(p.get("name")) for p in doc.get("providers") or [] if isinstance(p, dict) and p.get("name")]
    return index_text(title), index_text(" ".join(parts))


def term_words(term: str) -> list[tuple[list[str], bool]]:
    """The words of one free-text term, each as (its index tokens, matched as a prefix too). Every word must
    occur (AND); the tokens of a word must occur as written, one after another (a phrase: a CJK run)."""
    words = []
    for word in WORD.findall(term):
        tokens = index_text(word).split()
        if not tokens:
            continue
        prefix = len(tokens) == 1 and len(tokens[0]) >= PREFIX_FROM and not CJK.match(tokens[0])
        words.append((tokens, prefix))  # "tibet" * : the stem as a word, or the start of one
    return words


def _term(term: str) -> str | None:
    groups = []
    for tokens, prefix in term_words(term):
        quoted = ['"' + t.replace('"', '""') + '"' for t in tokens]
        if prefix:
            quoted = [quoted[0] + " *"]
        groups.append(" + ".join(quoted))
    return " AND ".join(groups) or None


def fts_query(terms: Iterable[str]) -> str | None:
    """STAC free-text terms (OR between terms, AND between the words of a term) -> a safe FTS5 query.

    Every token is quoted, so no user input is ever read as FTS5 syntax.
    """
    phrases = [p for p in (_term(t) for t in terms) if p]
    if not phrases:
        return None
    return " OR ".join(f"({p})" for p in phrases)


class Fts5Tokens:
    """The tokens SQLite's FTS5 (``TOKENIZER``) makes of texts, with their positions, for a backend that keeps
    its own text index (PostgreSQL): tokenising with the very tokenizer the SQLite store indexes with makes
    both stores find the same Items (the same porter stems, diacritics, case folding and separators).

    An in-memory FTS5 table per thread: the texts go in, ``fts5vocab`` gives the tokens back, the rows go out.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='{TOKENIZER}')")
            conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
            self._local.conn = conn
        return conn

    def columns(self, texts: list[tuple[str, str]]) -> list[tuple[list[str], list[str]]]:
        """(title tokens, body tokens), in order, of each (title, body) text pair."""
        conn = self._conn()
        out: list[tuple[list[str], list[str]]] = [([], []) for _ in texts]
        conn.executemany("INSERT INTO t (rowid, title, body) VALUES (?, ?, ?)",
                         [(i, title, body) for i, (title, body) in enumerate(texts)])
        try:
            for doc, col, _, term in conn.execute("SELECT doc, col, offset, term FROM v ORDER BY doc, col, offset"):
                out[doc][0 if col == "title" else 1].append(term)
        finally:
            conn.execute("DELETE FROM t")
        return out

    def tokens(self, text: str) -> list[str]:
        return self.columns([("", text)])[0][1]
