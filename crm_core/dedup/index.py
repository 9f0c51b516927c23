"""In-memory blocking index for bulk duplicate work: blocking key → record positions, no full scans.

Only records that share a blocking key with the query are scored. Blocks are scanned most
selective first, and a giant block (a switchboard or company key shared by thousands of records)
contributes only its most recent `max_block_scan` entries, so a lookup stays fast at any size.
"""
from __future__ import annotations

from collections.abc import Iterable

from crm_core.dedup.keys import record_keys
from crm_core.dedup.record import DedupRecord, RecordId, features
from crm_core.dedup.scoring import DEFAULT_WEIGHTS, DedupWeights, score_features

KINDS = ("phone", "wechat", "email", "name_company", "company")
DEFAULT_MAX_BLOCK_SCAN = 200
DEFAULT_MAX_SCANNED = 1000


class DuplicateIndex:
    """Records filed under their blocking keys; `candidates` scores only records sharing a key."""

    __slots__ = ("_weights", "_records", "_blocks", "_max_block_scan", "_max_scanned")

    def __init__(self, records: Iterable[DedupRecord] = (), weights: DedupWeights | None = None,
                 max_block_scan: int = DEFAULT_MAX_BLOCK_SCAN, max_scanned: int = DEFAULT_MAX_SCANNED) -> None:
        self._weights = weights or DEFAULT_WEIGHTS
        self._records: list[DedupRecord] = []
        # A block holds a bare int while it has one member: most keys are unique, and an int
        # costs far less memory than a one-element list.
        self._blocks: dict[str, dict[str, int | list[int]]] = {kind: {} for kind in KINDS}
        self._max_block_scan = max_block_scan
        self._max_scanned = max_scanned
        for record in records:
            self.add(record)

    def __len__(self) -> int:
        return len(self._records)

    def record_at(self, position: int) -> DedupRecord:
        """The record added `position`-th (0-based)."""
        return self._records[position]

    def add(self, record: DedupRecord) -> int:
        """File `record` under its keys; returns its position. Records are not modified afterwards."""
        position = len(self._records)
        self._records.append(record)
        for kind, key in record_keys(record).items():
            block = self._blocks[kind]
            held = block.get(key)
            if held is None:
                block[key] = position
            elif isinstance(held, int):
                block[key] = [held, position]
            else:
                held.append(position)
        return position

    def _positions(self, record: DedupRecord) -> list[int]:
        """Positions sharing a key with `record`, from the most selective blocks first, capped."""
        found = []
        for rank, (kind, key) in enumerate(record_keys(record).items()):
            held = self._blocks[kind].get(key)
            if held is not None:
                members = (held,) if isinstance(held, int) else held
                found.append((len(members), rank, members))
        found.sort(key=lambda block: block[:2])
        seen: dict[int, None] = {}
        for size, _rank, members in found:
            for position in members[-self._max_block_scan:] if size > self._max_block_scan else members:
                seen[position] = None
            if len(seen) >= self._max_scanned:
                break
        return list(seen)

    def match_positions(self, record: DedupRecord, min_score: float) -> list[tuple[int, float]]:
        """(position, score) of indexed records scoring ≥ `min_score`, excluding `record`'s own id."""
        mine = features(record)
        matches = []
        for position in self._positions(record):
            other = self._records[position]
            if other.id == record.id:
                continue
            score = score_features(mine, features(other), self._weights)
            if score >= min_score:
                matches.append((position, score))
        return matches

    def candidates(self, record: DedupRecord, min_score: float = 75.0,
                   limit: int = 20) -> list[tuple[RecordId, float]]:
        """Likely duplicates of `record` as (id, score), best first (ties: earliest added first)."""
        matches = sorted(self.match_positions(record, min_score), key=lambda m: (-m[1], m[0]))
        return [(self._records[position].id, score) for position, score in matches[:limit]]
