"""Blocking keys: the short plain strings under which a record is filed so candidates are found by lookup.

The same keys go into indexed database columns (entry check) and into `DuplicateIndex` (bulk), so
both paths see the same candidates. Keys are deterministic and at most `KEY_MAX` characters.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm_core.dedup.record import DedupRecord, features
from crm_core.normalize.company import company_block

KEY_MAX = 128
# Company keys shorter than this ("abc", "华") would gather unrelated records into one block.
MIN_COMPANY_KEY = 2


@dataclass(slots=True, frozen=True)
class BlockingKeys:
    """Lookup keys of one record; None/empty when the field is missing or unusable."""

    phone_keys: list[str]
    email_key: str | None
    company_key: str | None
    name_company_key: str | None
    wechat_key: str | None

    def items(self) -> list[tuple[str, str]]:
        """(kind, key) pairs, phones first: the order DuplicateIndex and SQL lookups use."""
        pairs = [("phone", key) for key in self.phone_keys]
        for kind, key in (("wechat", self.wechat_key), ("email", self.email_key),
                          ("name_company", self.name_company_key), ("company", self.company_key)):
            if key:
                pairs.append((kind, key))
        return pairs


def record_keys(record: DedupRecord) -> BlockingKeys:
    """Blocking keys of `record`: normalized phones, e-mail, company key, surname|start of company (pinyin),
    WeChat id."""
    feats = features(record)
    company = feats.company_key[:KEY_MAX] if len(feats.company_key) >= MIN_COMPANY_KEY else None
    name_company = None
    if company and feats.surname_key:
        # Surname and the start of the company in pinyin: 张总@优品科计 (an input-method typo) meets
        # 张伟@优品科技, "Mr. Zhang" meets 张伟, 许总@"Gaotian Printing Co." meets 许辉鹏@高天印刷, and
        # 张伟@美的集团 meets 张伟@美的有限公司 (to be prompted, never merged).
        name_company = f"{feats.surname_key}|{company_block(company)}"[:KEY_MAX]
    return BlockingKeys(
        phone_keys=[*feats.mobiles, *feats.fixed],
        email_key=feats.email[:KEY_MAX] if feats.email else None,
        company_key=company,
        name_company_key=name_company,
        wechat_key=feats.wechat,
    )
