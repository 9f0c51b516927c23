"""Normalization of customer fields into comparison keys: phones, company names, e-mails, person names.

Pure functions, no I/O. Every key produced here is short, plain and deterministic so it can be
stored in an indexed database column and compared with `==` (crm_core.dedup scores them).
"""
from crm_core.normalize.company import company_group, company_parts, company_region, normalize_company
from crm_core.normalize.contact import (
    COMMON_SURNAMES,
    COMPOUND_SURNAMES,
    PUBLIC_MAIL_DOMAINS,
    SURNAME_PINYIN,
    email_domain,
    is_placeholder_name,
    is_public_mail_domain,
    name_in_handle,
    normalize_email,
    PersonName,
    normalize_person_name,
    parse_person_name,
    pinyin_name_match,
    split_name_title,
    strip_remark,
    surname_of,
    surname_spellings,
    title_gender,
    title_role,
)
from crm_core.normalize.phone import (
    is_landline,
    is_mobile,
    mask_phone,
    normalize_phone,
    normalize_phones,
    normalize_wechat_id,
    phone_kind,
)
from crm_core.normalize.regions import CITIES, PINYIN_REGIONS, PROVINCES
from crm_core.normalize.text import char_readings, has_han, homophones, pinyin_of, pinyin_spellings, to_halfwidth

__all__ = [
    "CITIES", "COMMON_SURNAMES", "COMPOUND_SURNAMES", "PINYIN_REGIONS", "PROVINCES", "PUBLIC_MAIL_DOMAINS",
    "SURNAME_PINYIN", "PersonName", "char_readings", "company_group", "company_parts", "company_region",
    "email_domain", "has_han", "homophones", "is_landline", "is_mobile", "is_placeholder_name", "is_public_mail_domain",
    "mask_phone", "name_in_handle", "normalize_company", "normalize_email", "normalize_person_name", "normalize_phone",
    "normalize_phones", "normalize_wechat_id", "parse_person_name", "phone_kind", "pinyin_name_match", "pinyin_of",
    "pinyin_spellings", "split_name_title", "strip_remark", "surname_of", "surname_spellings", "title_gender",
    "title_role", "to_halfwidth",
]
