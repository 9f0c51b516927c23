"""Duplicate detection for customers: records, blocking keys, pairwise scores, index and groups.

Pure Python (rapidfuzz for fuzzy text); storage of keys and merging live elsewhere.
"""
from crm_core.dedup.groups import DEFAULT_MERGE_THRESHOLD, find_duplicate_groups, find_duplicate_pairs
from crm_core.dedup.index import DuplicateIndex
from crm_core.dedup.keys import BlockingKeys, record_keys
from crm_core.dedup.record import DedupRecord, Features, RecordId, features
from crm_core.dedup.scoring import DEFAULT_WEIGHTS, DedupWeights, company_similarity, match_score, score_features

__all__ = [
    "DEFAULT_MERGE_THRESHOLD", "DEFAULT_WEIGHTS", "BlockingKeys", "DedupRecord", "DedupWeights",
    "DuplicateIndex", "Features", "RecordId", "company_similarity", "features", "find_duplicate_groups",
    "find_duplicate_pairs", "match_score", "record_keys", "score_features",
]
