"""`crm-bot simulate --interactive`, typed as an operator would (SQLite and PostgreSQL): one
conversation across turns — a lead captured and confirmed, a look-alike answered 仍然新建 on
its duplicate prompt, the clock moved past the fuse and the fuse scan run, the supervisor
switching in and tapping 转派 on her card, and the audit trail showing all of it; wrong lines
are one line each and the session goes on."""
from __future__ import annotations

import logging
import re
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "crm-bot.example.yaml"
TYPED = [
    "记录杭州优品电子商务有限公司的李明经理,电话13912345678,要采购CRM,预算50万",
    "/tap 确认",
    "记录优品电商的李明经理,要采购ERP,预算30万",
    "/tap 确认",
    "/tap 仍然新建",                 # the duplicate prompt, answered
    "/tap #99 转派",                 # no such card: one line, the session goes on
    "/clock +73h",
    "/run fuse_scan",
    "/user 王芳",
    "/tap 转派",                     # 「转派给李娜」 on the supervisor card (on Feishu)
    "/audit",
    "/bogus",
    "/help",
    "/quit",
]


def test_one_interactive_session_plays_the_whole_flow(db, db_url, tmp_path) -> None:  # noqa: ANN001
    root_level = logging.getLogger().level
    try:
        res = CliRunner().invoke(cli, ["simulate", "--config", str(EXAMPLE), "--user", "zhang.wei", "-i"],
                                 input="\n".join(TYPED) + "\n",
                                 env={"CRM_BOT_DATABASE_URL": db_url, "CRM_BOT_DATA_DIR": str(tmp_path),
                                      "CRM_BOT_CONFIG": None, "CRM_BOT_REDIS_URL": None})
    finally:
        logging.getLogger().setLevel(root_level)
    out = res.output
    assert res.exit_code == 0, out[-3000:]
    assert "Traceback" not in out
    saved = re.findall(r"已保存线索 #(\d+)", out)
    assert len(set(saved)) == 2, out[-3000:]
    assert "检测到潜在重复" in out and "已保留为新客户" in out
    assert "出错：没有卡片 #99" in out and "出错：没有这个命令：/bogus" in out
    assert "机器人时间：" in out and "（北京时间）" in out and "【紧急】线索超时未跟进" in out
    assert "任务「阶段超时检查」：提醒 " in out and "{'" not in out
    assert "现在是 王芳" in out and "转派给 李娜" in out
    assert "把机器人的时钟往后拨" in out and "/quit 退出" in out                 # /help, in Chinese
    trail = out[out.index("的操作记录："):]
    for step in ("新建线索", "仍然新建", "超时提醒", "转派（王芳）：张伟 → 李娜"):
        assert step in trail, (step, trail[:2000])


def test_scripted_steps_use_the_same_commands(db, db_url, tmp_path) -> None:  # noqa: ANN001
    """A script switches platform, sends DingTalk recognition text, taps card #1 by number; an
    impossible step ends the script with one line and exit 1, no traceback."""
    steps = ["/platform dingtalk", "/asr 记录杭州优品电子商务有限公司李经理,电话13912345678,要采购CRM,预算50万",
             "/cards", "/tap #1 确认", "/asr 你好"]
    env = {"CRM_BOT_DATABASE_URL": db_url, "CRM_BOT_DATA_DIR": str(tmp_path), "CRM_BOT_CONFIG": None,
           "CRM_BOT_REDIS_URL": None}
    root_level = logging.getLogger().level
    try:
        res = CliRunner().invoke(cli, ["simulate", "--config", str(EXAMPLE), "--user", "张伟", *steps], env=env)
        bad = CliRunner().invoke(cli, ["simulate", "--config", str(EXAMPLE), "--user", "zhang.wei",
                                       "/asr 只有钉钉有", "帮助"], env=env)
    finally:
        logging.getLogger().setLevel(root_level)
    out = res.output
    assert res.exit_code == 0 and "Traceback" not in out, out[-3000:]
    assert "现在在 dingtalk" in out and "[卡片 #1 → dingtalk manager7001]" in out
    assert "#1 → dingtalk manager7001：新线索" in out and "> /tap #1 确认   [HTTP 200]" in out
    assert re.search(r"已保存线索 #\d+", out)
    assert bad.exit_code == 1 and "出错：只有钉钉的语音消息自带识别文字" in bad.output
    assert "Traceback" not in bad.output and "帮助" not in bad.output.split("出错")[1]   # the script stopped
