"""The Merkle tree as stored: leaves in AuditLeaf (level 0), complete perfect subtrees in
AuditTreeNode (level >= 1). Every hash the log needs is a perfect subtree, fetched in one or two
queries, so roots and proofs cost O(log n) reads."""

from collections.abc import Callable, Iterable

from django.db import connection

from core import prepared
from hooks import tlog

Position = tuple[int, int]  # (level, index): 2**level leaves starting at leaf index * 2**level


# The last seq given; the tree holds one more leaf than that (seqs run 0..n-1). A scalar query, so that
# the integrator can read it within a statement of its own.
LAST_SEQ_SQL = "SELECT MAX(seq) FROM governance_auditleaf"


def size_after(last_seq: int | None) -> int:
    return 0 if last_seq is None else int(last_seq) + 1


def tree_size() -> int:
    # Fixed statements throughout this module: they run on every audited write (the integrator) and
    # every proof, where compiling ORM queries cost more than PostgreSQL answering them.
    with connection.cursor() as cursor:
        cursor.execute(LAST_SEQ_SQL)
        row = cursor.fetchone()
    return size_after(row[0] if row else None)


def right_edge(size: int) -> list[Position]:
    """The perfect subtrees that tile leaves [0, size), largest (leftmost) first."""
    positions: list[Position] = []
    start = 0
    for level in reversed(range(size.bit_length())):
        if size & (1 << level):
            positions.append((level, start >> level))
            start += 1 << level
    return positions


# PostgreSQL: one fixed statement whatever the positions (arrays, not a list of conditions), prepared
# once per session: a proof asks for about 2 log2(n) hashes, and planning a condition per position cost
# more than reading them.
_SUBTREES_SQL = """
SELECT 0, l.seq, l.leaf_hash FROM governance_auditleaf l WHERE l.seq = ANY(%s::bigint[])
UNION ALL
SELECT n.level, n."index", n.hash
  FROM unnest(%s::smallint[], %s::bigint[]) AS w(level, idx)
  JOIN governance_audittreenode n ON n.level = w.level AND n."index" = w.idx
"""


def fetch_subtrees(positions: Iterable[Position]) -> dict[Position, bytes]:
    """The stored hashes of these perfect subtrees (leaves from AuditLeaf, the rest from AuditTreeNode),
    in one SELECT; missing ones are simply absent."""
    wanted = sorted(set(positions))
    leaves = [index for level, index in wanted if level == 0]
    nodes = [(level, index) for level, index in wanted if level > 0]
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            levels, indexes = [level for level, _ in nodes], [index for _, index in nodes]
            prepared.execute(cursor, _SUBTREES_SQL, [leaves, levels, indexes])
        else:
            sql, params = _subtrees_sqlite(leaves, nodes)
            cursor.execute(sql, params)
        return {(int(level), int(index)): bytes(digest) for level, index, digest in cursor.fetchall()}


def _subtrees_sqlite(leaves: list[int], nodes: list[Position]) -> tuple[str, list[int]]:
    """The same SELECT for SQLite (the demo), which has no arrays: a placeholder per position."""
    parts: list[str] = []
    params: list[int] = []
    if leaves:
        parts.append(
            "SELECT 0, seq, leaf_hash FROM governance_auditleaf WHERE seq IN ("  # noqa: S608 (placeholders only)
            + ", ".join(["%s"] * len(leaves))
            + ")"
        )
        params += leaves
    if nodes:
        condition = " OR ".join(['(level = %s AND "index" = %s)'] * len(nodes))
        parts.append(f'SELECT level, "index", hash FROM governance_audittreenode WHERE {condition}')  # noqa: S608
        params += [number for position in nodes for number in position]
    # Only placeholders are joined in; every value is a parameter.
    return " UNION ALL ".join(parts), params


class MissingNode(LookupError):
    """A hash the tree should hold is not stored: the node table is damaged or not integrated."""


def getter(hashes: dict[Position, bytes]) -> Callable[[int, int], bytes]:
    def get(level: int, index: int) -> bytes:
        try:
            return hashes[(level, index)]
        except KeyError:
            raise MissingNode(f"no stored hash for subtree level {level} index {index}") from None

    return get


def fold_right_edge(hashes: list[bytes]) -> bytes:
    """Combine the tiling subtrees (largest first) into the RFC 6962 root."""
    if not hashes:
        return tlog.EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = tlog.node_hash(left, root)
    return root


def root_at(size: int) -> bytes:
    return _root(size, getter(fetch_subtrees(right_edge(size))))


def _root(size: int, get: Callable[[int, int], bytes]) -> bytes:
    return fold_right_edge([get(level, index) for level, index in right_edge(size)])


def inclusion_proof_and_root(index: int, size: int) -> tuple[list[bytes], bytes]:
    """The inclusion proof of leaf ``index`` and the root of the tree of ``size`` leaves, from one read."""
    get = getter(fetch_subtrees([*tlog.needed_subtrees_for_inclusion(index, size), *right_edge(size)]))
    return tlog.inclusion_proof(index, size, get), _root(size, get)


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    hashes = fetch_subtrees(tlog.needed_subtrees_for_consistency(old_size, new_size))
    return tlog.consistency_proof(old_size, new_size, getter(hashes))


def consistency_proof_and_roots(old_size: int, new_size: int) -> tuple[list[bytes], bytes, bytes]:
    """The consistency proof between two sizes (empty when ``old_size`` is 0 or ``new_size``) and both
    roots, from one read."""
    needed = tlog.needed_subtrees_for_consistency(old_size, new_size)
    get = getter(fetch_subtrees([*needed, *right_edge(old_size), *right_edge(new_size)]))
    return tlog.consistency_proof(old_size, new_size, get), _root(old_size, get), _root(new_size, get)
