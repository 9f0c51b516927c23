"""Duplicate detection: blocking keys, pairwise scores and hard negatives, the index and grouping."""
from __future__ import annotations

from itertools import combinations

import pytest

from bench.dedup_dataset import generate
from crm_core.dedup import (
    DedupRecord,
    DedupWeights,
    DuplicateIndex,
    find_duplicate_groups,
    match_score,
    record_keys,
)

COMPANY = "杭州优品电子商务有限公司"


def rec(rid: int | str, name: str | None = None, company: str | None = None, *phones: str,
        email: str | None = None, wechat: str | None = None) -> DedupRecord:
    return DedupRecord(id=rid, name=name, company=company, phones=list(phones), email=email, wechat_id=wechat)


def test_record_keys_are_short_plain_normalized_strings() -> None:
    keys = record_keys(rec(1, "张经理", "优品（杭州）电子商务有限公司", "+86 138-1234-5678", "0571-8765 4321转8",
                           email=" Zhang@YouPin.com ", wechat="ZhangWei88"))
    assert keys.phone_keys == ["13812345678", "057187654321"]
    assert keys.email_key == "zhang@youpin.com"
    assert keys.company_key == "优品电子商务"
    assert keys.wechat_key == "zhangwei88"
    assert keys.name_company_key == record_keys(rec(2, "张伟", COMPANY)).name_company_key
    assert keys.name_company_key != record_keys(rec(3, "李伟", COMPANY)).name_company_key
    values = [*keys.phone_keys, keys.email_key, keys.company_key, keys.name_company_key, keys.wechat_key]
    assert all(isinstance(value, str) and 0 < len(value) <= 128 for value in values)


def test_record_keys_of_an_empty_record() -> None:
    keys = record_keys(rec(1, None, None, "not a phone"))
    assert (keys.phone_keys, keys.email_key, keys.company_key, keys.name_company_key, keys.wechat_key) == (
        [], None, None, None, None)


def test_name_company_key_survives_an_input_method_typo_in_the_company() -> None:
    assert record_keys(rec(1, "张总", "杭州优品科计有限公司")).name_company_key == \
        record_keys(rec(2, "张伟", "优品科技有限公司")).name_company_key


DUPLICATES = [
    ("same mobile, title vs full name, region in brackets",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "张总", "优品(杭州)电子商务有限公司", "+86 138-1234-5678")),
    ("same mobile in full-width digits, no company on one side",
     rec(1, "李娜", COMPANY, "0086 139 1234 5678"), rec(2, "李娜", None, "１３９１２３４５６７８")),
    ("same e-mail in another case, legal form changed",
     rec(1, "王强", "杭州优品电子商务有限责任公司", email="WangQiang@youpin.com"),
     rec(2, "王经理", COMPANY, email="wangqiang@YOUPIN.com ")),
    ("same WeChat id", rec(1, "陈静", COMPANY, wechat="chenjing_88"), rec(2, "陈女士", COMPANY, wechat="CHENJING_88")),
    ("same full name and company, switchboard shared",
     rec(1, "赵敏", COMPANY, "0571-8765 4321"), rec(2, "赵敏", "优品电子商务", "(0571)87654321转801")),
    ("same full name and company, nothing else", rec(1, "赵敏", COMPANY), rec(2, "赵 敏", "浙江杭州优品电子商务")),
    ("homophone typo in the name, same mobile", rec(1, "张伟", COMPANY, "13812345678"),
     rec(2, "张玮", COMPANY, "138 1234 5678")),
    ("title form whose e-mail spells the full name", rec(1, "高雪佳", COMPANY, "13812345678"),
     rec(2, "高总", COMPANY, email="gaoxuejia19@163.com")),
]


@pytest.mark.parametrize(("label", "a", "b"), DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicates_reach_the_merge_threshold(label: str, a: DedupRecord, b: DedupRecord) -> None:
    assert match_score(a, b) >= 92


HARD_NEGATIVES = [
    # (label, a, b, the score must stay below)
    ("colleagues: same company, different mobiles and names",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "李强", COMPANY, "13912345678"), 50),
    ("colleagues with the same surname and their own mobiles",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "张强", COMPANY, "13912345678"), 50),
    ("shared switchboard alone", rec(1, None, COMPANY, "0571-88886666"), rec(2, None, None, "057188886666"), 75),
    ("shared switchboard, same company, different names",
     rec(1, "张伟", COMPANY, "0571-88886666"), rec(2, "李强", COMPANY, "057188886666"), 75),
    ("switchboard shared by two companies in one building",
     rec(1, None, COMPANY, "0571-88886666"), rec(2, None, "杭州华信贸易有限公司", "057188886666"), 50),
    ("public mailbox domain is no company evidence",
     rec(1, "张伟", None, email="zw1988@qq.com"), rec(2, "张伟", None, email="weizhang@qq.com"), 75),
    ("same person name at different companies with different phones",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "张伟", "上海华信贸易有限公司", "13998765432"), 50),
    ("mobile match, very different name, different company",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "王芳", "上海华信贸易有限公司", "13812345678"), 92),
    ("mobile match, different surname, same company (a shared front-desk phone)",
     rec(1, "张伟", COMPANY, "13812345678"), rec(2, "王芳", COMPANY, "13812345678"), 92),
    ("mobile match, same surname, another given name",
     rec(1, "田杰", COMPANY, "13812345678"), rec(2, "田洋", COMPANY, "13812345678"), 92),
    ("near-identical company names are different companies",
     rec(1, "李经理", "杭州优品电子有限公司"), rec(2, "李经理", "杭州优品科技有限公司"), 75),
    ("Mr vs Ms with the same surname", rec(1, "王先生", COMPANY), rec(2, "王女士", COMPANY), 50),
    ("same trade name registered in another city",
     rec(1, "赵敏", COMPANY), rec(2, "赵敏", "上海优品电子商务有限公司"), 92),
    ("Latin name whose surname contradicts the Chinese one",
     rec(1, "Grace Wu", COMPANY, "13812345678"), rec(2, "周艳娟", COMPANY, "13812345678"), 92),
    ("title form alone at the same company is only a prompt", rec(1, "张伟", COMPANY), rec(2, "张经理", COMPANY), 92),
]


@pytest.mark.parametrize(("label", "a", "b", "below"), HARD_NEGATIVES, ids=[n[0] for n in HARD_NEGATIVES])
def test_hard_negatives_stay_below(label: str, a: DedupRecord, b: DedupRecord, below: float) -> None:
    assert match_score(a, b) < below


@pytest.mark.parametrize(("a", "b"), [(d[1], d[2]) for d in DUPLICATES] + [(n[1], n[2]) for n in HARD_NEGATIVES])
def test_scores_are_symmetric_and_bounded(a: DedupRecord, b: DedupRecord) -> None:
    assert match_score(a, b) == match_score(b, a)
    assert 0 <= match_score(a, b) <= 100


def test_weights_are_configurable() -> None:
    mobile_only = (rec(1, None, None, "13812345678"), rec(2, None, None, "+8613812345678"))
    name_and_company = (rec(1, "赵敏", COMPANY), rec(2, "赵敏", COMPANY))
    assert match_score(*mobile_only) > 99
    assert match_score(*mobile_only, weights=DedupWeights(phone=80)) == pytest.approx(80, abs=0.01)
    assert match_score(*name_and_company, weights=DedupWeights(name=10)) < 92 <= match_score(*name_and_company)
    assert match_score(*name_and_company, weights=DedupWeights(company=40)) < match_score(*name_and_company)
    email_only = (rec(1, email="a.b@corp.cn"), rec(2, email="A.B@corp.cn"))
    assert match_score(*email_only) == pytest.approx(90, abs=0.01)
    assert match_score(*email_only, weights=DedupWeights(email=70)) == pytest.approx(70, abs=0.01)


def build_index(records: list[DedupRecord], max_block_scan: int = 200) -> DuplicateIndex:
    index = DuplicateIndex(max_block_scan=max_block_scan)
    for record in records:
        index.add(record)
    return index


def test_candidates_sorted_limited_and_never_self() -> None:
    records = [rec(1, "张伟", COMPANY, "13812345678"), rec(2, "张总", COMPANY, "+86 13812345678"),
               rec(3, "张伟", "优品电子商务"), rec(4, "李强", COMPANY, "13912345678"), rec("x", "王芳", "上海华信贸易")]
    index = DuplicateIndex(records)
    found = index.candidates(records[0], min_score=0)
    assert [rid for rid, _ in found][:2] == [2, 3] and 1 not in [rid for rid, _ in found]
    assert [score for _, score in found] == sorted((score for _, score in found), reverse=True)
    assert "x" not in [rid for rid, _ in found]  # shares no blocking key: never scored
    assert index.candidates(records[0]) == [(rid, score) for rid, score in found if score >= 75]
    assert len(index.candidates(records[0], min_score=0, limit=1)) == 1
    assert index.candidates(rec(9, "刘洋", "成都蓝图科技", "13700000000")) == []


def test_selective_keys_win_over_a_giant_company_block() -> None:
    staff = [rec(i, f"员工{i}", "华为技术有限公司", f"139{i:08d}") for i in range(3000)]
    original = rec("old", "张伟", "华为技术有限公司", "13812345678")
    index = build_index([original, *staff], max_block_scan=100)
    assert index.candidates(rec("new", "张总", "华为技术", "+86 138 1234 5678"))[0][0] == "old"
    assert len(index) == 3001


def test_find_duplicate_groups_order_and_threshold() -> None:
    records = [rec(10, "李强", COMPANY, "13912345678"), rec(11, "张伟", COMPANY, "13812345678"),
               rec(12, "王芳", "上海华信贸易有限公司", "13700001111"), rec(13, "张总", "优品(杭州)电子商务", "138-1234-5678"),
               rec(14, "王女士", "华信(上海)贸易", "+86 137 0000 1111"), rec(15, "张伟", None, email="zw@youpin.com"),
               rec(16, "Mr. Zhang", None, "0086 13812345678", email="ZW@youpin.com")]
    assert find_duplicate_groups(records) == [[11, 13, 15, 16], [12, 14]]
    assert find_duplicate_groups(list(reversed(records))) == [[16, 15, 13, 11], [14, 12]]
    assert find_duplicate_groups(records, threshold=100.1) == []


def test_a_nameless_record_does_not_chain_two_colleagues() -> None:
    records = [rec(1, "张伟", COMPANY, "13812345678", email="zw@youpin.com"),
               rec(2, "王芳", COMPANY, "13812345678", email="wf@youpin.com"),
               rec(3, None, COMPANY, "13812345678")]
    groups = find_duplicate_groups(records)
    assert not any({1, 2} <= set(group) for group in groups)


def test_evaluation_set_is_deterministic_and_labelled() -> None:
    rows = generate(120, seed=5)
    assert rows == generate(120, seed=5) and rows != generate(120, seed=6)
    assert len({row["entity"] for row in rows}) == 120 and len(rows) >= 240
    assert {"id", "entity", "name", "company", "phones", "email", "wechat_id", "created_at", "source"} <= set(rows[0])


@pytest.mark.parametrize("seed", [3, 17])
def test_grouping_accuracy_on_a_generated_set(seed: int) -> None:
    rows = generate(200, seed=seed)
    truth = {frozenset(pair) for entity in {row["entity"] for row in rows}
             for pair in combinations([row["id"] for row in rows if row["entity"] == entity], 2)}
    groups = find_duplicate_groups([DedupRecord.from_mapping(row) for row in rows])
    predicted = {frozenset(pair) for group in groups for pair in combinations(group, 2)}
    precision, recall = len(truth & predicted) / len(predicted), len(truth & predicted) / len(truth)
    assert precision >= 0.98 and recall >= 0.9


# ---------------------------------------------------------------- forms seen on unseen customers
M = "13812345678"
FIELD_DUPLICATES = [
    ("honorific 女士 vs full name, same mobile", rec(1, "王女士", None, M), rec(2, "王雅琴", COMPANY, M)),
    ("honorific 先生 vs full name, same mobile", rec(1, "张先生", COMPANY, "138-1234-5678"), rec(2, "张伟", COMPANY, M)),
    ("honorific 总 vs full name, same mobile, no company", rec(1, "李总", None, M), rec(2, "李强", None, M)),
    ("honorific 姐 vs full name, same mobile", rec(1, "王姐", COMPANY, M), rec(2, "王芳", COMPANY, M)),
    ("default nickname 用户+digits", rec(1, "用户84729", COMPANY, M), rec(2, "张伟", COMPANY, M)),
    ("default nickname 微信用户", rec(1, "微信用户", None, M), rec(2, "张伟", COMPANY, M)),
    ("default nickname, e-mail shared", rec(1, "用户_8hd72k", COMPANY, email="zw@youpin.com"),
     rec(2, "张伟", COMPANY, email="ZW@youpin.com")),
    ("pinyin name, surname first, same company", rec(1, "Li Wei", COMPANY), rec(2, "李伟", COMPANY)),
    ("pinyin name, given name first, same company", rec(1, "Wei Li", COMPANY), rec(2, "李伟", COMPANY)),
    ("pinyin name, same mobile", rec(1, "Wei Li", None, M), rec(2, "李伟", COMPANY, M)),
    ("English given name, same mobile", rec(1, "David Li", None, M), rec(2, "李伟", COMPANY, M)),
    ("WeChat remark prefix, same mobile", rec(1, "B华信-周杰", "华信科技", M), rec(2, "周杰", "杭州华信科技有限公司", M)),
    ("WeChat remark prefix, same company", rec(1, "A-周杰", COMPANY), rec(2, "周杰", COMPANY)),
    ("one-character company typo, same mobile", rec(1, "周杰", "杭州瑞达科技有限公司", M),
     rec(2, "周杰", "杭州锐达科技有限公司", M)),
    ("one-character company typo in a short name, same mobile", rec(1, "李明", "瑞达有限公司", M),
     rec(2, "李明", "端达有限公司", M)),
    ("one-character company typo, same mobile, title form", rec(1, "李总", "杭州华信贸易有限公司", M),
     rec(2, "李明", "杭州华倍贸易有限公司", M)),
    ("province kept in the key, with and without 省", rec(1, "赵敏", "浙江省电力有限公司"), rec(2, "赵敏", "浙江电力有限公司")),
    ("group written with 集团 both times", rec(1, "赵敏", "美的集团股份有限公司"), rec(2, "赵敏", "广东美的集团")),
]


@pytest.mark.parametrize(("label", "a", "b"), FIELD_DUPLICATES, ids=[d[0] for d in FIELD_DUPLICATES])
def test_field_duplicates_reach_the_merge_threshold(label: str, a: DedupRecord, b: DedupRecord) -> None:
    assert match_score(a, b) >= 92
    assert match_score(b, a) == match_score(a, b)


FIELD_NEGATIVES = [
    ("集团 vs its namesake without 集团, same contact name",
     rec(1, "赵敏", "美的集团有限公司"), rec(2, "赵敏", "美的有限公司"), 92),
    ("集团 vs its namesake without 集团, shared switchboard",
     rec(1, "赵敏", "杭州华信集团有限公司", "0571-88886666"), rec(2, "赵敏", "杭州华信有限公司", "057188886666"), 92),
    ("集团 vs its namesake without 集团, same mobile and name: still only a prompt",
     rec(1, "赵敏", "美的集团有限公司", M), rec(2, "赵敏", "美的有限公司", M), 92),
    ("two default nicknames at one company are no name match",
     rec(1, "微信用户", COMPANY), rec(2, "微信用户", COMPANY), 80),
    ("two 用户+digits nicknames with their own mobiles",
     rec(1, "用户12345", COMPANY, M), rec(2, "用户67890", COMPANY, "13912345678"), 50),
    ("pinyin name of another given name", rec(1, "Li Qiang", COMPANY), rec(2, "李伟", COMPANY), 92),
    ("pinyin name of another surname, same mobile", rec(1, "Wang Wei", COMPANY, M), rec(2, "李伟", COMPANY, M), 92),
    ("colleagues behind the same remark prefix", rec(1, "B华信-周杰", COMPANY, M),
     rec(2, "B华信-王芳", COMPANY, "13912345678"), 50),
    ("one-character company difference without a personal identifier",
     rec(1, "李明", "瑞达有限公司"), rec(2, "李明", "端达有限公司"), 92),
    ("sibling companies differing in one industry character", rec(1, "李经理", "杭州优品电子有限公司"),
     rec(2, "李经理", "杭州优品电器有限公司"), 75),
    ("namesakes at different companies sharing a business-centre switchboard",
     rec(1, "张伟", COMPANY, "0571-88886666"), rec(2, "张伟", "杭州华信贸易有限公司", "057188886666"), 85),
    ("province-level namesakes", rec(1, "赵敏", "浙江省电力有限公司"), rec(2, "赵敏", "江苏省电力有限公司"), 75),
]


@pytest.mark.parametrize(("label", "a", "b", "below"), FIELD_NEGATIVES, ids=[n[0] for n in FIELD_NEGATIVES])
def test_field_negatives_stay_below(label: str, a: DedupRecord, b: DedupRecord, below: float) -> None:
    assert match_score(a, b) < below
    assert match_score(b, a) == match_score(a, b)


def test_group_and_namesake_without_group_may_be_prompted() -> None:
    a, b = rec(1, "赵敏", "美的集团有限公司"), rec(2, "赵敏", "美的有限公司")
    assert 85 <= match_score(a, b) < 92
    assert record_keys(a).company_key != record_keys(b).company_key
    assert record_keys(a).name_company_key == record_keys(b).name_company_key  # found, so it can be prompted
    assert DuplicateIndex([a]).candidates(b, min_score=85)


def test_honorific_and_nickname_records_group_with_the_full_name() -> None:
    records = [rec(1, "王雅琴", COMPANY, M, email="wangyaqin@youpin.com"), rec(2, "王女士", None, "138—1234—5678"),
               rec(3, "微信用户", None, "'13812345678"), rec(4, "B优品-王雅琴", "优品电子商务", "+86 138 1234 5678"),
               rec(5, "Wang Yaqin", None, email="WangYaqin@youpin.com"), rec(6, "王先生", COMPANY, "13912345678"),
               rec(7, "用户5531", COMPANY, "13912345678（微信同号）")]
    assert find_duplicate_groups(records) == [[1, 2, 3, 4, 5], [6, 7]]


def test_blocking_finds_field_forms() -> None:
    index = DuplicateIndex([rec(1, "周杰", "杭州华信科技有限公司", "131—2345—6789"),
                            rec(2, "王雅琴", COMPANY, "'15987654321")])
    assert index.candidates(rec(10, "B华信-周杰", None, "13123456789"))[0][0] == 1
    assert index.candidates(rec(11, "王女士", None, "手机号：159 8765 4321"))[0][0] == 2


def test_a_typo_in_the_company_behind_the_same_switchboard_is_the_same_company() -> None:
    a = rec(1, "马洋琳", "绍兴通鼐电子商务有限公司", "0575-36502656 ext.35")
    b = rec(2, "马洋琳", "绍兴通鼎电子商务有限公司", "座机：0575-36502656")
    assert match_score(a, b) >= 92
    assert match_score(rec(1, "马洋琳", "绍兴通鼐电子商务有限公司"), rec(2, "马洋琳", "绍兴通鼎电子商务有限公司")) < 92


def test_english_company_name_meets_the_chinese_one() -> None:
    han = rec(1, "许辉鹏", "重庆高天包装印刷有限公司")
    latin = rec(2, "许辉鹏", "Chongqing Gaotian Packaging Printing Co., Ltd.")
    assert record_keys(han).name_company_key == record_keys(latin).name_company_key
    assert DuplicateIndex([han]).candidates(latin, min_score=0)[0][0] == 1
    assert record_keys(rec(3, "Mr. Xu", "高天印务")).name_company_key == record_keys(han).name_company_key


def test_same_way_of_addressing_across_scripts_and_spellings() -> None:
    assert match_score(rec(1, "Mr. Wang", COMPANY), rec(2, "王先生", COMPANY)) >= 92
    assert match_score(rec(1, "张总", COMPANY), rec(2, "张总经理", COMPANY)) >= 92
    assert match_score(rec(1, "张总", COMPANY), rec(2, "张伟总经理", COMPANY)) >= 92
    assert match_score(rec(1, "张工", COMPANY), rec(2, "张经理", COMPANY)) < 92


def test_a_record_matching_two_different_people_joins_neither() -> None:
    front_desk = "13812345678"
    records = [rec(1, "苏洋", COMPANY, front_desk, email="suyang@youpin.com"), rec(2, "苏洋", COMPANY, front_desk),
               rec(3, "王芳", COMPANY, front_desk, email="wangfang@youpin.com"), rec(4, "王芳", None, front_desk),
               rec(5, "微信用户", COMPANY, front_desk)]
    assert find_duplicate_groups(records) == [[1, 2], [3, 4]]
