"""Filling an empty SQLite R*Tree in one pass: packed nodes written straight into its shadow tables.

SQLite's R*Tree has no bulk load: each ``INSERT`` walks the tree, picks a leaf and splits full nodes, ~12 µs
a box at 10^5 Sentinel-2 boxes and more as the tree grows. When a whole tree is written at once (a first
load, or a load bigger than what is stored) its boxes are already sorted along a Hilbert curve
(``hilbert.py``), and the tree can be built bottom-up instead: consecutive runs of boxes become full leaves,
runs of leaves their parents, up to one root (a "packed Hilbert R-tree", Kamel & Faloutsos 1993). That costs
~1–2 µs a box and gives a tree with no half-empty nodes, which searches visit less of.

The format written is the one ``ext/rtree/rtree.c`` documents and reads (SQLite 3.x, unchanged since 2010):
table ``%_node(nodeno INTEGER PRIMARY KEY, data)``, node 1 the root, each node a blob of the tree's node size
holding a 2-byte depth (root only; 0 elsewhere), a 2-byte cell count and cells of an 8-byte id (an entry's
rowid in a leaf, a child's node number above) followed by 2 coordinates per dimension as 4-byte floats,
all big-endian; ``%_rowid(rowid, nodeno)`` maps each entry to its leaf, ``%_parent(nodeno, parentnode)``
each non-root node to its parent. Coordinates are 32-bit floats rounded outwards (minimum down, maximum up)
as the R*Tree rounds them on insert, so no box shrinks. ``rtreecheck()`` verifies a packed tree in the tests.

Only a tree with no entries is packed, and only where its shadow tables are writable (a connection in
SQLite's defensive mode refuses): :func:`pack` returns False and the caller inserts as before.
"""
from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Sequence

import numpy as np

CHUNK_ROWS = 51 * 2000  # rows read from the source per round: memory stays flat whatever the tree's size


def _outward(coords: np.ndarray) -> np.ndarray:
    """float64 (n, 2*dims) [min, max, min, max, ...] as float32 that contain them: minima down, maxima up."""
    single = coords.astype(np.float32)
    widened = single.astype(np.float64)
    mins, maxs = single[:, 0::2], single[:, 1::2]
    too_big = widened[:, 0::2] > coords[:, 0::2]
    too_small = widened[:, 1::2] < coords[:, 1::2]
    mins[too_big] = np.nextafter(mins[too_big], np.float32(-np.inf))
    maxs[too_small] = np.nextafter(maxs[too_small], np.float32(np.inf))
    out = np.empty_like(single)
    out[:, 0::2], out[:, 1::2] = mins, maxs
    return out


class _Level:
    """The cells of one tree level waiting to be written as nodes (a node's worth at a time)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.boxes: list[np.ndarray] = []


class _Packer:
    def __init__(self, conn: sqlite3.Connection, table: str, node_size: int, dims: int) -> None:
        self.conn, self.table, self.node_size, self.dims = conn, table, node_size, dims
        self.capacity = (node_size - 4) // (8 + 8 * dims)
        self.cell = np.dtype([("id", ">i8"), ("box", ">f4", (2 * dims,))])
        self.next_node = 2  # node 1 is the root, written last
        self.levels: list[_Level] = []

    def _node_blob(self, ids: np.ndarray, boxes: np.ndarray, depth: int) -> bytes:
        cells = np.empty(len(ids), dtype=self.cell)
        cells["id"], cells["box"] = ids, boxes
        body = struct.pack(">HH", depth, len(ids)) + cells.tobytes()
        return body + bytes(self.node_size - len(body))

    def _union(self, boxes: np.ndarray) -> np.ndarray:
        out = np.empty(2 * self.dims, dtype=np.float32)
        out[0::2], out[1::2] = boxes[:, 0::2].min(axis=0), boxes[:, 1::2].max(axis=0)
        return out

    def leaves(self, ids: np.ndarray, boxes: np.ndarray) -> None:
        """Entries (in order) into full leaves; the leaves' boxes go up to level 1."""
        nodes: list[tuple[int, bytes]] = []
        leaf_of = np.empty(len(ids), dtype=np.int64)
        for start in range(0, len(ids), self.capacity):
            part_ids, part_boxes = ids[start:start + self.capacity], boxes[start:start + self.capacity]
            number = self.next_node
            self.next_node += 1
            nodes.append((number, self._node_blob(part_ids, part_boxes, 0)))
            leaf_of[start:start + self.capacity] = number
            self._up(1, number, self._union(part_boxes))
        self.conn.executemany(f'INSERT INTO "{self.table}_node" (nodeno, data) VALUES (?, ?)', nodes)
        order = np.argsort(ids, kind="stable")  # into the rowid B-tree in key order: appends, not page splits
        self.conn.executemany(f'INSERT INTO "{self.table}_rowid" (rowid, nodeno) VALUES (?, ?)',
                              zip(ids[order].tolist(), leaf_of[order].tolist(), strict=True))

    def _up(self, height: int, child: int, box: np.ndarray) -> None:
        while len(self.levels) < height:
            self.levels.append(_Level())
        level = self.levels[height - 1]
        level.ids.append(child)
        level.boxes.append(box)
        if len(level.ids) == self.capacity * 2:  # keep one node's worth back: the last node must not be the root
            self._write_node(height, level.ids[:self.capacity], level.boxes[:self.capacity])
            del level.ids[:self.capacity], level.boxes[:self.capacity]

    def _write_node(self, height: int, children: Sequence[int], boxes: Sequence[np.ndarray]) -> int:
        number = self.next_node
        self.next_node += 1
        stacked = np.vstack(boxes)
        self.conn.execute(f'INSERT INTO "{self.table}_node" (nodeno, data) VALUES (?, ?)',
                          (number, self._node_blob(np.asarray(children), stacked, 0)))
        self.conn.executemany(f'INSERT INTO "{self.table}_parent" (nodeno, parentnode) VALUES (?, ?)',
                              [(c, number) for c in children])
        self._up(height + 1, number, self._union(stacked))
        return number

    def root_leaf(self, ids: np.ndarray, boxes: np.ndarray) -> None:
        """All the entries in the root, a leaf (depth 0): they fit in one node."""
        self.conn.execute(f'UPDATE "{self.table}_node" SET data = ? WHERE nodeno = 1',
                          (self._node_blob(ids, boxes, 0),))
        self.conn.executemany(f'INSERT INTO "{self.table}_rowid" (rowid, nodeno) VALUES (?, 1)',
                              [(int(i),) for i in ids])

    def finish(self) -> None:
        """Write what is left of each level, then the root (node 1) over the top level."""
        height = 1
        while True:
            level = self.levels[height - 1]
            if height == len(self.levels) and len(level.ids) <= self.capacity:
                break  # these cells are the root's
            while level.ids:
                take = min(self.capacity, len(level.ids))
                self._write_node(height, level.ids[:take], level.boxes[:take])
                del level.ids[:take], level.boxes[:take]
            height += 1
        top = self.levels[-1]
        self.conn.execute(f'UPDATE "{self.table}_node" SET data = ? WHERE nodeno = 1',
                          (self._node_blob(np.asarray(top.ids), np.vstack(top.boxes), len(self.levels)),))
        self.conn.executemany(f'INSERT INTO "{self.table}_parent" (nodeno, parentnode) VALUES (?, 1)',
                              [(c,) for c in top.ids])


def is_empty(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute(f'SELECT 1 FROM "{table}_rowid" LIMIT 1').fetchone() is None


def pack(conn: sqlite3.Connection, table: str, rows: Iterable[tuple[int, bytes]], dims: int) -> bool:
    """Write ``rows`` ``(id, box)``, in the order given, as the whole of the empty R*Tree ``table``; ``box``
    is ``min1, max1, ..., min_dims, max_dims`` as little-endian doubles. False (and nothing written) when the
    tree is not empty or its shadow tables cannot be written; the caller then inserts the rows one by one."""
    if not is_empty(conn, table):
        return False
    root = conn.execute(f'SELECT length(data) FROM "{table}_node" WHERE nodeno = 1').fetchone()
    if root is None:
        return False
    conn.execute("SAVEPOINT rtree_pack")
    try:
        _pack_rows(conn, table, rows, int(root[0]), dims)
    except sqlite3.OperationalError:  # e.g. SQLITE_DBCONFIG_DEFENSIVE: shadow tables are read-only
        conn.execute("ROLLBACK TO rtree_pack")
        conn.execute("RELEASE rtree_pack")
        return False
    except BaseException:
        conn.execute("ROLLBACK TO rtree_pack")
        conn.execute("RELEASE rtree_pack")
        raise
    conn.execute("RELEASE rtree_pack")
    return True


def _pack_rows(conn: sqlite3.Connection, table: str, rows: Iterable[tuple[int, bytes]], node_size: int,
               dims: int) -> None:
    packer = _Packer(conn, table, node_size, dims)
    # Entries are held back by one leaf's worth so that, if only one leaf's worth arrives, it becomes the root.
    held_ids = np.empty(0, dtype=np.int64)
    held_boxes = np.empty((0, 2 * dims), dtype=np.float32)
    wrote_leaves = False
    iterator = iter(rows)
    while True:
        chunk = [row for _, row in zip(range(CHUNK_ROWS), iterator, strict=False)]
        if not chunk:
            break
        data = np.frombuffer(b"".join([row[1] for row in chunk]), dtype="<f8").reshape(-1, 2 * dims)
        ids = np.concatenate([held_ids, np.fromiter((row[0] for row in chunk), dtype=np.int64, count=len(chunk))])
        boxes = np.vstack([held_boxes, _outward(data)])
        keep = len(ids) % packer.capacity or packer.capacity
        if len(ids) > keep:
            packer.leaves(ids[:-keep], boxes[:-keep])
            wrote_leaves = True
        held_ids, held_boxes = ids[-keep:], boxes[-keep:]
    if not wrote_leaves:
        if len(held_ids):  # (none at all: the empty tree is already right)
            packer.root_leaf(held_ids, held_boxes)
        return
    packer.leaves(held_ids, held_boxes)
    packer.finish()


def clear(conn: sqlite3.Connection, table: str) -> None:
    """Empty the R*Tree ``table`` the fast way (a ``DELETE`` removes entries one by one, condensing the tree
    as it goes): no entries, no parents, and an empty root of the same node size."""
    conn.execute(f'DELETE FROM "{table}_rowid"')
    conn.execute(f'DELETE FROM "{table}_parent"')
    conn.execute(f'DELETE FROM "{table}_node" WHERE nodeno <> 1')
    conn.execute(f'UPDATE "{table}_node" SET data = zeroblob(length(data)) WHERE nodeno = 1')
