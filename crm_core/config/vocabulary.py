"""The product's own words that config refers to: the stage-gate items the bot can collect
(fields it stores, or facts a rep gives with 推进阶段) and the lead channel codes, each with
the Chinese label people see. `config check` validates references against these; the
services show the labels."""
from __future__ import annotations

# Stage-gate items: field or action key → what reps see when it is missing.
GATE_ITEMS: dict[str, str] = {
    "company": "公司名称", "contact_name": "联系人", "contact_title": "联系人职务", "phone": "电话",
    "email": "邮箱", "wechat_id": "微信", "budget_cny": "预算", "product": "产品", "timeline": "时间计划",
    "next_action": "下一步", "industry": "行业", "region": "地区", "requirements_file": "需求文件",
    "decision_chain": "决策链", "objection_category": "异议类别", "quote_file": "报价单",
    "proposal_file": "方案文件",
}

# Fields a new lead can be saved with (funnel.capture_required may name these).
CAPTURE_FIELDS: tuple[str, ...] = ("company", "contact_name", "phone", "email", "wechat_id", "product",
                                   "budget_cny", "timeline", "next_action", "industry", "region")

# Lead channel codes → the label reps see (展会扫码/官网表单/...).
CHANNELS: dict[str, str] = {
    "chat": "聊天录入", "voice": "语音录入", "web_form": "官网表单", "expo": "展会扫码",
    "call": "电话", "wechat": "微信", "ads": "广告投放", "import": "批量导入", "referral": "转介绍",
}

# dedup.cross_team_join → what it means, in the words people read.
CROSS_TEAM_JOIN: dict[str, str] = {
    "join": "其他团队的销售录入同一公司时并入该客户,并通知负责人",
    "separate": "其他团队的销售录入同一公司时另建客户,交数据管理员审核",
}
