"""Checks over the raw config mapping that know the product: cross-references (rep, team,
stage, channel and platform ids), roles (a team's supervisor must hold the supervisor role),
and the vocabulary (every stage-gate item is something the bot can collect). They run on the
raw data so an admin sees these problems together with schema errors, each as
"key.path: English / 中文"."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from crm_core.config.approvals import approval_problems
from crm_core.config.clv import clv_problems
from crm_core.config.coaching import field_work_problems
from crm_core.config.checkin import checkin_problems
from crm_core.config.schema import AppConfig
from crm_core.config.visibility import visibility_warnings
from crm_core.config.vocabulary import CAPTURE_FIELDS, CHANNELS, GATE_ITEMS


def _list(d: Any, key: str) -> list[Any]:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, list) else []


def _dict(d: Any, key: str) -> dict[str, Any]:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, dict) else {}


def _problem(path: str, en: str, zh: str, word: Any = None, known: list[str] | None = None) -> str:
    """"path: English / 中文", with a did-you-mean in both when `word` is close to a known one."""
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6) if known else []
    if close:
        en, zh = f"{en} (did you mean '{close[0]}'?)", f"{zh}(是不是「{close[0]}」?)"
    return f"{path}: {en} / {zh}"


def cross_reference_problems(data: dict[str, Any]) -> list[str]:
    org = _dict(data, "org")
    reps = [r for r in _list(org, "reps") if isinstance(r, dict)]
    problems = _rep_problems(reps)
    known = {str(r.get("id")): r for r in reps}
    team_ids = [str(t.get("id")) for t in _list(org, "teams") if isinstance(t, dict)]
    problems += _team_problems(_list(org, "teams"), known)
    steward = org.get("data_steward")
    if steward is not None and steward not in known:
        problems.append(_problem("org.data_steward", f"unknown rep '{steward}'", f"没有这位销售人员「{steward}」",
                                 steward, list(known)))
    problems += _assignment_problems(_dict(data, "assignment"), team_ids)
    problems += _stage_problems(_dict(data, "funnel"))
    problems += _alert_problems(_dict(data, "alerts"), _enabled_platforms(_dict(data, "platforms")), reps)
    problems += _dingtalk_card_problems(_dict(_dict(data, "platforms"), "dingtalk"))
    problems += _group_robot_problems(_dict(data, "platforms"), team_ids)
    problems += _voice_problems(_dict(data, "voice"))
    problems += checkin_problems(data, set(known))
    problems += approval_problems(data.get("approvals"), set(known),
                                  {str(st.get("key")) for st in _list(_dict(data, "funnel"), "stages") if isinstance(st, dict)})
    problems += clv_problems(data.get("clv"), set(known))
    problems += field_work_problems(data)
    return problems


def _voice_problems(voice: dict[str, Any]) -> list[str]:
    """voice.model_path must be a model this backend can load, on this machine, before serve starts."""
    path, backend = voice.get("model_path"), voice.get("backend", "faster-whisper")
    if not isinstance(path, str) or not path.strip():
        if backend == "openai-whisper":
            return [_problem("voice.model_path", "openai-whisper needs a local checkpoint file (.pt)",
                             "openai-whisper 需要本地模型文件(.pt)")]
        return []
    model = Path(path)
    if backend == "openai-whisper":
        return [] if model.is_file() else [_problem("voice.model_path", f"no checkpoint file at {path}",
                                                    f"找不到模型文件 {path}")]
    if not model.is_dir():
        return [_problem("voice.model_path", f"{path} is not a directory (a faster-whisper model is a folder with "
                         "model.bin)", f"{path} 不是文件夹(faster-whisper 模型是含 model.bin 的文件夹)")]
    missing = [name for name in ("model.bin", "config.json") if not (model / name).is_file()]
    if not any((model / name).is_file() for name in ("tokenizer.json", "vocabulary.json", "vocabulary.txt")):
        missing.append("tokenizer.json")
    if missing:
        return [_problem("voice.model_path", f"{path} lacks {', '.join(missing)}: not a CTranslate2 Whisper model "
                         "(convert one with ct2-transformers-converter, or use a faster-whisper release)",
                         f"{path} 缺少 {'、'.join(missing)},不是 CTranslate2 格式的 Whisper 模型")]
    return []


def _group_robot_problems(platforms: dict[str, Any], team_ids: list[str]) -> list[str]:
    """Team group robots are keyed by team id: a key naming no team never posts anywhere."""
    out: list[str] = []
    for platform, key in (("wecom", "group_webhooks"), ("dingtalk", "group_robots")):
        for team in _dict(_dict(platforms, platform), key):
            if team not in team_ids:
                out.append(_problem(f"platforms.{platform}.{key}.{team}", f"unknown team '{team}'",
                                    f"没有这个团队「{team}」", team, team_ids))
    return out


def reference_warnings(cfg: AppConfig) -> list[str]:
    """What works but probably not as meant: people and cards on platforms that are off, a
    platform without an alert route, gates on stages a lead never leaves."""
    out: list[str] = []
    enabled = set(cfg.platforms.enabled())
    for i, rep in enumerate(cfg.org.reps):
        if enabled and rep.platform not in enabled:
            out.append(f"org.reps[{i}].platform: '{rep.platform}' is not enabled, {rep.id} gets no messages / "
                       f"平台「{rep.platform}」未启用,{rep.name}收不到消息")
    for i, team in enumerate(cfg.org.teams):
        if team.supervisor_platform and team.supervisor_platform not in enabled:
            out.append(f"org.teams[{i}].supervisor_platform: '{team.supervisor_platform}' is not enabled / "
                       f"平台「{team.supervisor_platform}」未启用,主管卡片发不到那里")
    for platform in sorted(enabled - set(cfg.alerts.routes)):
        out.append(f"alerts.routes.{platform}: missing; alerts about {platform} are only logged / "
                   f"没有为「{platform}」配置告警通道,它出故障时只写日志、不通知任何人")
    for i, stage in enumerate(cfg.funnel.stages):
        if stage.outcome and stage.required:
            out.append(f"funnel.stages[{i}].required: '{stage.key}' is a closing stage, a lead never leaves it / "
                       f"「{stage.name}」是结束阶段,线索不会离开它,离开条件不起作用")
    out += visibility_warnings(cfg.visibility, {role for rep in cfg.org.reps for role in rep.roles})
    return out


def _enabled_platforms(platforms: dict[str, Any]) -> set[str]:
    return {name for name, section in platforms.items() if isinstance(section, dict) and section.get("enabled")}


def _rep_problems(reps: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    seen: set[Any] = set()
    owner: dict[tuple[str, str], int] = {}
    for i, r in enumerate(reps):
        rid = r.get("id")
        if rid in seen:
            out.append(f"org.reps[{i}].id: duplicate rep id '{rid}' / 销售人员 ID「{rid}」重复")
        seen.add(rid)
        for plat, uid in _dict(r, "platform_ids").items():
            if (plat, uid) in owner:
                out.append(f"org.reps[{i}].platform_ids.{plat}: user id '{uid}' is already used by "
                           f"org.reps[{owner[(plat, uid)]}] / 这个用户 ID 已被另一位销售人员使用")
            owner[(plat, uid)] = i
    return out


def _team_problems(teams: list[Any], reps: dict[str, dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for i, team in enumerate(teams):
        if not isinstance(team, dict):
            continue
        sup = team.get("supervisor")
        if sup is not None and sup not in reps:
            out.append(_problem(f"org.teams[{i}].supervisor", f"unknown rep '{sup}'", f"没有这位销售人员「{sup}」",
                                sup, list(reps)))
        elif sup is not None:
            roles = reps[sup].get("roles")
            if isinstance(roles, list) and "supervisor" not in roles and "admin" not in roles:
                out.append(f"org.teams[{i}].supervisor: '{sup}' does not have the supervisor role (add it to "
                           f"org.reps[].roles) / 「{sup}」没有主管角色,请在 roles 里加上 supervisor")
            where = team.get("supervisor_platform")
            if where and where not in _dict(reps[sup], "platform_ids"):
                out.append(f"org.teams[{i}].supervisor_platform: '{sup}' has no {where} id in platform_ids / "
                           f"「{sup}」在 platform_ids 里没有 {where} 账号")
        for j, m in enumerate(_list(team, "members")):
            if m not in reps:
                out.append(_problem(f"org.teams[{i}].members[{j}]", f"unknown rep '{m}'", f"没有这位销售人员「{m}」",
                                    m, list(reps)))
    return out


def _assignment_problems(asg: dict[str, Any], team_ids: list[str]) -> list[str]:
    out: list[str] = []
    dt = asg.get("default_team")
    if dt is not None and dt not in team_ids:
        out.append(_problem("assignment.default_team", f"unknown team '{dt}'", f"没有这个团队「{dt}」", dt, team_ids))
    channels = list(CHANNELS)
    for i, rule in enumerate(_list(asg, "rules")):
        if not isinstance(rule, dict):
            continue
        team = rule.get("team")
        if team is not None and team not in team_ids:
            out.append(_problem(f"assignment.rules[{i}].team", f"unknown team '{team}'", f"没有这个团队「{team}」",
                                team, team_ids))
        for j, code in enumerate(_list(_dict(rule, "match"), "sources")):
            if code not in CHANNELS:
                out.append(_problem(f"assignment.rules[{i}].match.sources[{j}]",
                                    f"unknown channel code '{code}' (known: {', '.join(channels)})",
                                    f"没有这个线索来源「{code}」", code, channels))
    return out


def _stage_problems(funnel: dict[str, Any]) -> list[str]:
    out: list[str] = []
    seen: set[Any] = set()
    items = list(GATE_ITEMS)
    for i, st in enumerate(_list(funnel, "stages")):
        if not isinstance(st, dict):
            continue
        if st.get("key") in seen:
            out.append(f"funnel.stages[{i}].key: duplicate stage key '{st.get('key')}' / 阶段 key「{st.get('key')}」重复")
        seen.add(st.get("key"))
        for j, item in enumerate(_list(st, "required")):
            if item not in GATE_ITEMS:
                out.append(_problem(
                    f"funnel.stages[{i}].required[{j}]", f"'{item}' is not a field or action the bot can collect",
                    f"「{item}」不是机器人能收集的字段或动作(可用:"
                    f"{'、'.join(f'{k}={v}' for k, v in GATE_ITEMS.items())})", item, items))
    for j, item in enumerate(_list(funnel, "capture_required")):
        if item not in CAPTURE_FIELDS:
            out.append(_problem(f"funnel.capture_required[{j}]", f"'{item}' is not a field a new lead can be saved with",
                                f"「{item}」不是新建线索能填的字段", item, list(CAPTURE_FIELDS)))
    return out


def _alert_problems(alerts: dict[str, Any], enabled: set[str], reps: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    people = {(plat, uid): r.get("id") for r in reps for plat, uid in _dict(r, "platform_ids").items()}
    for about, route in _dict(alerts, "routes").items():
        if isinstance(route, dict) and route.get("type") == "platform" and route.get("platform"):
            if route["platform"] not in enabled:
                out.append(f"alerts.routes.{about}.platform: '{route['platform']}' is not enabled, alerts could "
                           f"not be sent / 平台「{route['platform']}」未启用,告警发不出去")
    for platform, target in _dict(alerts, "ops_chats").items():
        if platform not in enabled:
            out.append(f"alerts.ops_chats.{platform}: platform '{platform}' is not enabled / 平台「{platform}」未启用")
        elif (platform, target) in people:
            rep = people[(platform, target)]
            out.append(f"alerts.ops_chats.{platform}: '{target}' is {rep}, a person, who would get a test message "
                       f"every heartbeat; use an ops group chat, or remove the entry (token check only) / "
                       f"「{target}」是 {rep} 本人,每次心跳都会收到一条测试消息;请改成运维群,或删掉这一项(只检查 token)")
    return out


def _dingtalk_card_problems(dingtalk: dict[str, Any]) -> list[str]:
    """DingTalk cards call back only as instances of a card-platform template created with a
    callback type; in HTTP mode the callback route is registered with a secret."""
    if not dingtalk.get("enabled"):
        return []
    out: list[str] = []
    if not str(dingtalk.get("card_template_id") or "").strip():
        out.append("platforms.dingtalk.card_template_id: missing; DingTalk card buttons (确认, 转派, 已跟进 …) "
                   "only work on cards of a template built on DingTalk's card platform from "
                   "config/dingtalk-card-template.json (docs/dingtalk-card-template.md); put its id "
                   "(\"….schema\") here / 缺少卡片模板 ID:钉钉卡片按钮(确认、转派、已跟进……)只在卡片平台模板的卡片上有效,"
                   "请按 docs/dingtalk-card-template.md 用 config/dingtalk-card-template.json 搭建模板,把模板 ID 填在这里")
    secret = str(dingtalk.get("card_callback_secret") or "").strip()
    if dingtalk.get("mode", "http") == "http":
        if 0 < len(secret) < 16:
            out.append("platforms.dingtalk.card_callback_secret: too short, use at least 16 random characters / "
                       "卡片回调密钥太短,请至少用 16 个随机字符")
        if not secret:
            out.append("platforms.dingtalk.card_callback_secret: missing; in HTTP mode card taps come to "
                       "/callback/dingtalk/card, registered with this secret (choose a long random string) / "
                       "缺少卡片回调密钥:HTTP 模式下卡片点击回调到 /callback/dingtalk/card,注册时需要这个密钥(请设一个足够长的随机字符串)")
    return out

