"""Bulk duplicate grouping: union-find over candidate pairs scoring at or above the merge threshold.

Records are indexed one by one and each is matched only against those before it, so every pair is
scored at most once; pairs join strongest first and contradicting clusters never join.
"""
from __future__ import annotations

from collections.abc import Iterable

from crm_core import normalize as norm
from crm_core.dedup.index import DuplicateIndex
from crm_core.dedup.record import DedupRecord, Features, RecordId, features
from crm_core.dedup.scoring import EMAIL_CONFLICT, MOBILE_CONFLICT, WECHAT_CONFLICT, DedupWeights, to_odds

DEFAULT_MERGE_THRESHOLD = 92.0


class _Profile:
    """What a cluster knows about its contact: surname spellings, gender, full names, identifiers."""

    __slots__ = ("spellings", "gender", "names", "mobiles", "wechats", "emails")

    def __init__(self, feats: Features) -> None:
        self.spellings = feats.spellings
        self.gender = feats.gender
        self.names: tuple[str, ...] = (feats.name_key,) if feats.name_full and not feats.name_latin else ()
        self.mobiles = frozenset(feats.mobiles)
        self.wechats = frozenset((feats.wechat,)) if feats.wechat else frozenset()
        self.emails = frozenset((feats.email,)) if feats.email and feats.email_personal else frozenset()

    def names_conflict(self, other: _Profile) -> bool:
        """吴 vs 周, 先生 vs 女士, 田杰 vs 田洋: these two clusters are two people."""
        if self.spellings and other.spellings and not self.spellings & other.spellings:
            return True
        if self.gender and other.gender and self.gender != other.gender:
            return True
        return bool(self.names and other.names) and not any(
            norm.homophones(x, y) for x in self.names for y in other.names)

    def absorb(self, other: _Profile) -> None:
        if self.spellings and other.spellings:
            self.spellings = self.spellings & other.spellings
        else:
            self.spellings = self.spellings or other.spellings
        self.gender = self.gender or other.gender
        self.names = tuple(dict.fromkeys(self.names + other.names))[:8]
        self.mobiles |= other.mobiles
        self.wechats |= other.wechats
        self.emails |= other.emails


def _identifier_conflict(a: _Profile, b: _Profile, fa: Features, fb: Features) -> float:
    """Likelihood ratio of identifiers that disagree between clusters but not within the linking pair.

    郑老师 (mobile A) and 郑老师 (no phone) link at 92.7, but the second record's cluster holds mobile B:
    the pair score never saw that contradiction, the cluster does.
    """
    factor = 1.0
    for mine, theirs, ratio, in_pair in (
            (a.mobiles, b.mobiles, MOBILE_CONFLICT, fa.mobiles and fb.mobiles),
            (a.wechats, b.wechats, WECHAT_CONFLICT, fa.wechat and fb.wechat),
            (a.emails, b.emails, EMAIL_CONFLICT, fa.email_personal and fb.email_personal)):
        if mine and theirs and not in_pair and mine.isdisjoint(theirs):
            factor *= ratio
    return factor


class _Clusters:
    """Union-find whose clusters carry a `_Profile`; contradicting clusters never join, so a record
    without a name that shares a front-desk mobile with two colleagues cannot chain them together."""

    __slots__ = ("parent", "records", "profiles")

    def __init__(self, records: list[DedupRecord]) -> None:
        self.parent = list(range(len(records)))
        self.records = records
        self.profiles: dict[int, _Profile] = {}

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:  # path compression keeps later finds O(1)
            parent[item], item = root, parent[item]
        return root

    def _profile(self, root: int) -> _Profile:
        profile = self.profiles.get(root)
        if profile is None:
            profile = self.profiles[root] = _Profile(features(self.records[root]))
        return profile

    def union(self, a: int, b: int, score: float, threshold: float) -> bool:
        """Join the clusters of `a` and `b` (linked at `score`) unless they contradict."""
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return True
        profile_a, profile_b = self._profile(root_a), self._profile(root_b)
        if profile_a.names_conflict(profile_b):
            return False
        factor = _identifier_conflict(profile_a, profile_b, features(self.records[a]), features(self.records[b]))
        if factor < 1.0 and to_odds(score) * factor < to_odds(threshold):
            return False
        # the earlier record stays root, so group order follows input order
        root, child = min(root_a, root_b), max(root_a, root_b)
        self.parent[child] = root
        self.profiles[root].absorb(self.profiles.pop(child))
        return True


def find_duplicate_pairs(records: list[DedupRecord], threshold: float = DEFAULT_MERGE_THRESHOLD,
                         weights: DedupWeights | None = None) -> list[tuple[int, int, float]]:
    """(earlier position, later position, score) of every blocked pair scoring ≥ `threshold`."""
    index = DuplicateIndex(weights=weights)
    pairs: list[tuple[int, int, float]] = []
    for position, record in enumerate(records):
        pairs.extend((earlier, position, score) for earlier, score in index.match_positions(record, threshold))
        index.add(record)
    return pairs


MAX_PARTNERS_CHECKED = 16


def ambiguous_records(records: list[DedupRecord], pairs: list[tuple[int, int, float]],
                      strong: float = DEFAULT_MERGE_THRESHOLD) -> set[int]:
    """Positions of records that match two people who cannot be one, both at ≥ `strong`: 用户5531 or
    王总 with a front-desk mobile that 王芳 and 王强 both use. Joined to either, it would be a coin
    toss, so it joins neither and is left to review. (Below the merge threshold a link is a prompt
    anyway, and a title form links to every colleague of its surname.)"""
    partners: dict[int, list[int]] = {}
    for earlier, later, score in pairs:
        if score < strong:
            continue
        partners.setdefault(earlier, []).append(later)
        partners.setdefault(later, []).append(earlier)
    out = set()
    for position, others in partners.items():
        if len(others) < 2:
            continue
        profiles = [_Profile(features(records[other])) for other in others[:MAX_PARTNERS_CHECKED]]
        if any(x.names_conflict(y) for i, x in enumerate(profiles) for y in profiles[i + 1:]):
            out.add(position)
    return out


def find_duplicate_groups(records: Iterable[DedupRecord], threshold: float = DEFAULT_MERGE_THRESHOLD,
                          weights: DedupWeights | None = None) -> list[list[RecordId]]:
    """Groups (≥ 2 ids) of records that are duplicates of each other, in input order."""
    ordered = list(records)
    sets = _Clusters(ordered)
    pairs = find_duplicate_pairs(ordered, threshold, weights)
    ambiguous = ambiguous_records(ordered, pairs, max(threshold, DEFAULT_MERGE_THRESHOLD))
    pairs = [pair for pair in pairs if pair[0] not in ambiguous and pair[1] not in ambiguous]
    pairs.sort(key=lambda pair: (-pair[2], pair[0], pair[1]))  # strongest evidence joins first
    for earlier, later, score in pairs:
        sets.union(earlier, later, score, threshold)
    members: dict[int, list[int]] = {}
    for position in range(len(ordered)):
        members.setdefault(sets.find(position), []).append(position)
    groups = [positions for positions in members.values() if len(positions) >= 2]
    return [[ordered[position].id for position in positions] for positions in groups]
