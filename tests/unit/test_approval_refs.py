"""Approval numbers as approvers type them: A3, a3, Ａ3 (a Chinese IME's full-width letter), ３,
审批3, 审批A3, with or without a space before what follows."""
from __future__ import annotations

import pytest

from crm_core.refs import parse_approval_ref


@pytest.mark.parametrize(("text", "found"), [
    ("A3 同意", (3, "同意")), ("a3同意", (3, "同意")), ("Ａ3 同意", (3, "同意")), ("ａ３ 驳回 太贵", (3, "驳回 太贵")),
    ("审批3 同意", (3, "同意")), ("审批 A12 同意", (12, "同意")), ("A 7", (7, "")),
])
def test_approval_refs(text: str, found: tuple[int, str]) -> None:
    assert parse_approval_ref(text) == found


@pytest.mark.parametrize("text", ["同意", "AB3", "#3", "A3.5 同意"])
def test_not_an_approval(text: str) -> None:
    assert parse_approval_ref(text) is None
