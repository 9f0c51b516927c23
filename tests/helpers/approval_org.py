"""A test org for approvals: a rep (孙丽), her supervisor (周明), two VPs (吴总, 郑总), two risk
reviewers (冯工, 陈工) and the VPs' and supervisor's own supervisor (钱总), all reached on one
platform, and the 合同审批 / 报价审批 flows of issue 17 (VP from 50万, 风控 over 200万)."""
from __future__ import annotations

from typing import Any

from crm_core.config.schema import AppConfig

PEOPLE = {  # id: (name, wecom, dingtalk, feishu, roles)
    "sun.li": ("孙丽", "sunli", "manager9001", "ou_sunli", ["rep", "receive_leads"]),
    "zhou.ming": ("周明", "zhouming", "manager9002", "ou_zhouming", ["supervisor"]),
    "wu.zong": ("吴总", "wuzong", "manager9003", "ou_wuzong", ["supervisor"]),
    "zheng.zong": ("郑总", "zhengzong", "manager9004", "ou_zhengzong", ["supervisor"]),
    "feng.gong": ("冯工", "fenggong", "manager9005", "ou_fenggong", ["rep"]),
    "chen.gong": ("陈工", "chengong", "manager9006", "ou_chengong", ["rep"]),
    "qian.zong": ("钱总", "qianzong", "manager9007", "ou_qianzong", ["supervisor"]),
}
COLUMN = {"wecom": 1, "dingtalk": 2, "feishu": 3}

APPROVALS: dict[str, Any] = {
    "timeout_hours": 48, "remind_after_hours": 24, "clock": "working",
    "groups": {"vp": ["wu.zong", "zheng.zong"], "risk": ["feng.gong", "chen.gong"]},
    "flows": {
        "contract": {"name": "合同审批", "words": ["合同"], "nodes": [
            {"name": "主管审批", "approver": "supervisor"},
            {"name": "VP审批", "approver": "group: vp", "when": {"amount": ">= 50万"},
             "replies": [{"label": "同意-无修改", "decision": "approve", "comment": "同意，无修改。"},
                         {"label": "同意-建议修改条款", "decision": "approve", "comment": "同意，建议修改付款条款。"},
                         {"label": "驳回-价格过低", "decision": "reject", "comment": "价格低于底线，请重新报价。"}]},
            {"name": "风控会审", "approver": "group: risk", "when": {"amount": "> 200万"}},
        ]},
        "quote": {"name": "报价审批", "words": ["报价", "折扣"], "nodes": [
            {"name": "主管审批", "approver": "supervisor"}]},
    },
}


def uid(rep_id: str, platform: str) -> str:
    return str(PEOPLE[rep_id][COLUMN[platform]])


def approval_config(base: AppConfig, platform: str = "wecom", approvals: dict[str, Any] | None = None) -> AppConfig:
    data = base.model_dump(mode="python")
    data["org"]["reps"] += [{"id": rid, "name": p[0], "platform": platform, "platform_ids": {platform: p[COLUMN[platform]]},
                             "roles": p[4]} for rid, p in PEOPLE.items()]
    data["org"]["teams"] += [
        {"id": "apv-sales", "name": "审批销售组", "supervisor": "zhou.ming", "members": ["sun.li"]},
        {"id": "apv-lead", "name": "审批管理组", "supervisor": "qian.zong",
         "members": ["zhou.ming", "wu.zong", "zheng.zong"]},
    ]
    data["approvals"] = approvals or APPROVALS
    return AppConfig.model_validate(data)
