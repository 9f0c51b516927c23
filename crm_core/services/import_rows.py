"""Reading customer rows from CSV (UTF-8 with/without BOM, else GB18030/GBK) and XLSX files:
header aliases in Chinese and English, and per-row validation with the row's line number.
A file with lead columns (budget, product, channel) is a lead list: each row also carries its
lead (a budget as 50万 / 500000 / ¥1,200,000, a channel as a code or its label; an unknown
channel or an unreadable budget is a bad row). No database access;
`crm_core.services.importer` stores what comes out of here."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_core.config.vocabulary import CHANNELS
from crm_core.extract.budget import find_budget
from crm_core.normalize import mask_phone, normalize_email, normalize_phone, normalize_phones, to_halfwidth

# Header spellings → field. Compared after `header_key` (lower case, no spaces/*/colons/brackets).
HEADER_ALIASES = {
    "company": "公司 公司名称 公司全称 企业 企业名称 单位 单位名称 客户 客户名称 客户公司 company companyname "
               "organization organisation org account",
    "contact_name": "联系人 联系人姓名 姓名 名字 客户姓名 name contact contactname fullname person",
    "title": "职位 职务 头衔 title position jobtitle",
    "phone": "电话 手机 手机号 手机号码 联系电话 电话号码 联系方式 座机 phone mobile tel telephone cell "
             "phonenumber mobilephone",
    "email": "邮箱 电子邮箱 邮件 电子邮件 email e-mail mail emailaddress",
    "wechat_id": "微信 微信号 wechat wechatid weixin wx",
    "region": "地区 区域 省份 省 城市 所在地 地址 region province city area location",
    "industry": "行业 所属行业 industry sector",
    "note": "备注 说明 描述 需求 note notes remark remarks comment comments description",
    "budget": "预算 预算金额 预算元 预计金额 项目预算 budget amount budgetcny",
    "product": "产品 意向产品 需求产品 产品名称 product products interest",
    "channel": "渠道 来源 来源渠道 线索来源 获客渠道 channel source leadsource",
}
LEAD_COLUMNS = frozenset({"budget", "product", "channel"})      # any of these: the file is a lead list
ALIASES = {alias: name for name, words in HEADER_ALIASES.items() for alias in words.split()}
MAX_LENGTHS = {"company": 200, "contact_name": 100, "title": 50, "email": 200, "wechat_id": 100,
               "region": 50, "industry": 50, "note": 5000, "product": 100}
PHONE_SPLIT = re.compile(r"[/,;、，；|]+")      # the separators normalize_phones splits on
LABELS = {"company": "公司", "contact_name": "联系人", "title": "职位", "email": "邮箱", "wechat_id": "微信",
          "region": "地区", "industry": "行业", "note": "备注", "product": "产品"}
MAX_BUDGET = 10**13
PLAIN_AMOUNT = re.compile(r"^[¥￥]?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(?:元|rmb|cny)?$", re.I)


class ImportFileError(ValueError):
    """The whole file cannot be read (format, encoding, no usable header); message in Chinese."""


@dataclass(slots=True)
class RowData:
    """One valid row, phones and e-mail already normalized."""
    line: int
    company: str | None = None
    contact_name: str | None = None
    title: str | None = None
    phones: list[str] = field(default_factory=list)
    email: str | None = None
    wechat_id: str | None = None
    region: str | None = None
    industry: str | None = None
    note: str | None = None
    product: str | None = None
    budget_cny: int | None = None
    channel: str | None = None          # a known channel code, when the file has the column

    @property
    def phone(self) -> str | None:
        return self.phones[0] if self.phones else None


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


def header_key(text: Any) -> str:
    raw = str(text or "").strip().lower().lstrip("\ufeff")
    for junk in (" ", "\u3000", "*", ":", "：", "(必填)", "（必填）", "_", "(", ")", "（", "）"):
        raw = raw.replace(junk, "")
    return raw


def map_header(header: list[Any]) -> tuple[dict[int, str], list[str]]:
    """({column index: field}, ignored header names). The first column wins a repeated field."""
    mapping: dict[int, str] = {}
    ignored = []
    for position, name in enumerate(header):
        target = ALIASES.get(header_key(name))
        if target and target not in mapping.values():
            mapping[position] = target
        elif str(name or "").strip():
            ignored.append(str(name).strip())
    if not {"company", "contact_name"} & set(mapping.values()):
        raise ImportFileError("表头里找不到「公司」或「联系人」列(支持:公司/公司名称/company、联系人/姓名/name 等)")
    return mapping, ignored


def cell_text(value: Any) -> str:
    """Spreadsheet cell → text: 13812345678.0 stays a phone number, not a float."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_row(line: int, values: list[Any], mapping: dict[int, str]) -> RowData | BadRow | None:
    """A valid row, a bad row with every reason, or None for a blank row."""
    raw = {name: cell_text(values[i]) if i < len(values) else "" for i, name in mapping.items()}
    if not any(raw.values()):
        return None
    problems = [f"{LABELS[name]}过长(超过 {limit} 个字)" for name, limit in MAX_LENGTHS.items()
                if len(raw.get(name, "")) > limit]
    if not raw.get("company") and not raw.get("contact_name"):
        problems.append("公司和联系人都为空")
    phones, unreadable = split_phones(raw.get("phone", ""))
    if unreadable and not phones:
        problems.append(f"电话号码无效({mask_phone(unreadable[0])})")
    email = normalize_email(raw["email"]) if raw.get("email") else None
    if raw.get("email") and email is None:
        problems.append("邮箱格式不正确")
    budget, channel = None, None
    if raw.get("budget"):
        budget = read_budget(raw["budget"])
        if budget is None:
            problems.append(f"预算无法识别(「{raw['budget'][:20]}」,可写 50万、500000 或 ¥1,200,000)")
    if raw.get("channel"):
        channel = channel_code(raw["channel"])
        if channel is None:
            problems.append(f"未知的渠道「{raw['channel'][:20]}」(可用:{known_channels()})")
    if problems:
        return BadRow(line, ";".join(problems))
    text = {name: (raw.get(name) or None) for name in MAX_LENGTHS}
    # a second number that cannot be read is kept as entered (never dropped), but makes no key
    return RowData(line=line, company=text["company"], contact_name=text["contact_name"], title=text["title"],
                   phones=phones + unreadable, email=email, wechat_id=text["wechat_id"], region=text["region"],
                   industry=text["industry"], note=text["note"], product=text["product"], budget_cny=budget,
                   channel=channel)


def read_budget(cell: str) -> int | None:
    """A budget cell in yuan: 500000, ¥1,200,000, 50万, 1.5亿, 80w (None: unreadable or absurd)."""
    value = to_halfwidth(cell).strip().replace(" ", "")
    plain = PLAIN_AMOUNT.match(value)
    amount = (float(plain.group(1).replace(",", "") + (plain.group(2) or "")) if plain else find_budget(value))
    if amount is None or not 0 <= amount <= MAX_BUDGET:
        return None
    return int(round(amount))


def channel_code(cell: str) -> str | None:
    """A channel code from the code (expo, EXPO) or its label (展会扫码); None when unknown."""
    value = cell.strip()
    if value.lower() in CHANNELS:
        return value.lower()
    return next((code for code, label in CHANNELS.items() if label == value), None)


def known_channels() -> str:
    return "、".join(f"{label}({code})" for code, label in CHANNELS.items())


def split_phones(raw: str) -> tuple[list[str], list[str]]:
    """(normalized numbers, parts that are not phone numbers) of one phone cell."""
    parts = [p.strip() for p in PHONE_SPLIT.split(to_halfwidth(raw or "")) if p.strip()]
    good = normalize_phones(raw) if parts else []
    return good, [p for p in parts if normalize_phone(p) is None]


def decode_csv(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM or not) strictly first, then GB18030, a superset of GBK."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise ImportFileError("无法识别文件编码,请另存为 UTF-8 或 GBK 编码的 CSV")


def _csv_rows(path: Path) -> tuple[str, Iterator[tuple[int, list[Any]]]]:
    text, encoding = decode_csv(path.read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        start = 1
        for values in reader:
            yield start, values         # a quoted field may span lines: report where the row starts
            start = reader.line_num + 1
    return encoding, rows()


def _xlsx_rows(path: Path) -> tuple[str, Iterator[tuple[int, list[Any]]]]:
    from openpyxl import load_workbook
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # noqa: BLE001 - openpyxl raises many kinds for a broken file
        raise ImportFileError(f"无法打开 Excel 文件:{type(err).__name__}") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for line, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
                yield line, list(values)
        finally:
            book.close()
    return "xlsx", rows()


def table_rows(path: str | Path) -> tuple[str, Iterator[tuple[int, list[Any]]]]:
    """(encoding, (line, values) of every row) of a .csv/.txt/.xlsx file; ImportFileError when it
    is missing or of another kind."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"找不到文件:{path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".xlsx"):
        raise ImportFileError(f"只支持 .csv 和 .xlsx 文件,收到的是 {suffix or '无扩展名'}")
    return _xlsx_rows(path) if suffix == ".xlsx" else _csv_rows(path)


def read_table(path: str | Path) -> tuple[str, dict[int, str], list[str], Iterator[tuple[int, list[Any]]]]:
    """(encoding, header mapping, ignored columns, (line, values) of every data row)."""
    encoding, rows = table_rows(path)
    for _line, header in rows:
        if any(cell_text(v) for v in header):
            mapping, ignored = map_header(header)
            return encoding, mapping, ignored, rows
    raise ImportFileError("文件是空的:没有表头")
