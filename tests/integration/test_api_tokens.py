"""Personal API tokens (issue 18) on SQLite and PostgreSQL: `crm-bot token create` prints a token
once and stores only its SHA-256; the token acts as its rep (their rights: 403 on another's lead
edit; their view); `token list` never shows it; `token revoke` makes it 401 at once; a departed
rep's token stops; the shared token stays the admin and alone may send X-CRM-Rep. Encrypted
customer fields: stored sealed, read back through the API, and the config refuses them without a
key, naming the key."""
from __future__ import annotations

import hashlib
import json

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli.tokens import token_group
from bot.web import create_app
from pydantic import SecretStr

from crm_core.config import ConfigError
from crm_core.config.visibility import RoleView, Visibility
from crm_core.db.models import ApiToken, AuditLog, Customer
from crm_core.fieldcrypt import FieldCipher, is_sealed, new_key, read_fields, write_fields
from crm_core.services.assign import give_lead
from crm_core.services.capture import save_lead
from crm_core.services.lead_input import LeadInput
from tests.helpers.visibility_config import config_with

ADMIN = {"Authorization": "Bearer change-me-local-token"}


def cli(runtime, *args: str) -> click.testing.Result:  # noqa: ANN001
    return CliRunner().invoke(token_group, list(args), obj=runtime)


def new_token(runtime, *args: str) -> tuple[str, str]:  # noqa: ANN001
    """(the token, the command's whole output)."""
    res = cli(runtime, "create", *args)
    assert res.exit_code == 0, res.output
    token = next(line for line in res.output.splitlines() if line.startswith("crm_"))
    return token, res.output


@pytest.fixture
def lead_id(runtime) -> int:  # noqa: ANN001
    data = LeadInput(source="web_form", company="杭州优品电子商务有限公司", contact_name="李经理",
                     phone="13900001111", budget_cny=500_000)
    with runtime.db.uow() as s:
        lead = save_lead(s, runtime.cfg, data, actor="api", platform="api", now=runtime.clock()).lead
        give_lead(s, lead, runtime.cfg.org.rep("zhang.wei"), "east-medical", "测试分配", "system", runtime.clock())
        return lead.id


def test_create_list_use_revoke(runtime, lead_id) -> None:  # noqa: ANN001
    token, out = new_token(runtime, "zhang.wei", "--name", "表格同步")
    assert "只显示这一次" in out and "张伟" in out
    with runtime.db.uow() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.rep_id == "zhang.wei"
        assert token not in json.dumps([row.token_hash, row.name, row.roles])
        audit = list(s.scalars(select(AuditLog).where(AuditLog.action.like("token.%"))))
        assert [(a.action, a.target_id) for a in audit] == [("token.create", "zhang.wei")]
        assert token not in json.dumps([a.detail for a in audit])
    listed = cli(runtime, "list").output
    assert "张伟" in listed and "表格同步" in listed and "未使用" in listed and token not in listed
    client = create_app(runtime).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    res = client.get(f"/api/v1/leads/{lead_id}", headers=auth)
    assert res.status_code == 200 and res.get_json()["contact"]["phone"] == "13900001111"   # the owner: in full
    assert "未使用" not in cli(runtime, "list").output                                      # last use noted
    # the rep's rights, not the admin's: the audit trail is the admin's; another rep's token can't edit
    assert client.get("/api/v1/audit", headers=auth).status_code == 403
    other, _ = new_token(runtime, "chen.jie")
    refused = client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM"}, headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 403 and "不是你负责的" in refused.get_json()["message"]
    edited = client.patch(f"/api/v1/leads/{lead_id}", json={"product": "CRM"}, headers=auth)
    assert edited.status_code == 200
    with runtime.db.uow() as s:
        assert s.scalar(select(AuditLog.actor).where(AuditLog.action == "lead.edit")) == "zhang.wei"
    # X-CRM-Rep is the admin token's alone
    acting = client.get("/api/v1/leads", headers={**auth, "X-CRM-Rep": "wang.fang"})
    assert acting.status_code == 400 and acting.get_json()["error"] == "acting_needs_admin_token"
    assert client.get("/api/v1/leads", headers={**ADMIN, "X-CRM-Rep": "chen.jie"}).status_code == 200
    # revoked: 401 from the next request on
    token_id = next(t.id for t in _tokens(runtime) if t.rep_id == "zhang.wei")
    revoked = cli(runtime, "revoke", str(token_id))
    assert revoked.exit_code == 0 and f"令牌 {token_id} 已作废" in revoked.output
    assert client.get("/api/v1/leads", headers=auth).status_code == 401
    assert "张伟" not in cli(runtime, "list").output and "已作废" in cli(runtime, "list", "--all").output


def _tokens(runtime) -> list[ApiToken]:  # noqa: ANN001
    with runtime.db.uow() as s:
        rows = list(s.scalars(select(ApiToken)))
        s.expunge_all()
        return rows


def test_refusals(runtime) -> None:  # noqa: ANN001
    res = cli(runtime, "create", "nobody")
    assert res.exit_code == 1 and "没有这位同事" in res.output
    res = cli(runtime, "create", "zhang.wei", "--role", "admin")
    assert res.exit_code == 1 and "没有这些角色" in res.output
    res = cli(runtime, "revoke", "999")
    assert res.exit_code == 1 and "没有编号为 999 的令牌" in res.output
    assert _tokens(runtime) == []
    client = create_app(runtime).test_client()
    assert client.get("/api/v1/leads", headers={"Authorization": "Bearer crm_made-up"}).status_code == 401


def test_a_departed_reps_token_stops(runtime) -> None:  # noqa: ANN001
    token, _ = new_token(runtime, "li.na")
    client = create_app(runtime).test_client()
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    reps = [r.model_copy(update={"availability": "departed"}) if r.id == "li.na" else r for r in runtime.cfg.org.reps]
    runtime.apply_config(runtime.cfg.model_copy(update={"org": runtime.cfg.org.model_copy(update={"reps": reps})}))
    res = client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 403 and "离职" in res.get_json()["message"]


def test_a_token_narrowed_to_one_role(runtime, lead_id) -> None:  # noqa: ANN001
    """wang.fang is supervisor + admin; a token for her supervisor role only is no admin."""
    token, _ = new_token(runtime, "wang.fang", "--role", "supervisor")
    client = create_app(runtime).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/audit", headers=auth).status_code == 403
    assert client.get(f"/api/v1/leads/{lead_id}", headers=auth).get_json()["contact"]["phone"] == "13900001111"


# ---- encrypted fields
def test_encrypted_fields_round_trip(runtime, lead_id, monkeypatch) -> None:  # noqa: ANN001
    key = new_key()
    vis = Visibility(encrypted_fields=["bank_account"], field_key=SecretStr(key),
                     roles={"rep": RoleView(fields={"bank_account": "hidden"})})
    runtime.apply_config(runtime.cfg.model_copy(update={"visibility": vis}))
    client = create_app(runtime).test_client()
    with runtime.db.uow() as s:
        customer_id = s.scalar(select(Customer.id))
    res = client.patch(f"/api/v1/customers/{customer_id}/fields",
                       json={"bank_account": "6222020200112233445", "complaint": "发货慢"}, headers=ADMIN)
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["fields"] == {"bank_account": "6222020200112233445", "complaint": "发货慢"}
    with runtime.db.uow() as s:
        extra = s.get_one(Customer, customer_id).extra
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "customer.fields"))
        assert audit.detail == {"fields": ["bank_account", "complaint"]}
    assert is_sealed(extra["bank_account"]) and "6222020200112233445" not in json.dumps(extra)
    assert extra["complaint_summary"] == "发货慢"                    # not listed: kept as it is
    assert FieldCipher(key).open(extra["bank_account"]) == "6222020200112233445"
    assert FieldCipher(new_key()).open(extra["bank_account"]) == "(无法解密)"    # another key reads nothing
    listed = client.get("/api/v1/customers", headers=ADMIN).get_json()["items"][0]
    assert listed["fields"]["bank_account"] == "6222020200112233445"
    # a rep sees the bank account only as far as their roles allow; may not write it otherwise
    token, _ = new_token(runtime, "chen.jie")
    denied = client.patch(f"/api/v1/customers/{customer_id}/fields", json={"bank_account": "1"},
                          headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403 and "银行账号" in denied.get_json()["message"]
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {token}"}
                      ).get_json()["items"][0]["fields"] == {"complaint": "发货慢"}
    bad = client.patch(f"/api/v1/customers/{customer_id}/fields", json={"iban": "x"}, headers=ADMIN)
    assert bad.status_code == 400 and "iban" in bad.get_json()["fields"]
    assert read_fields(runtime.cfg, write_fields(runtime.cfg, extra, {"bank_account": None})) == {"complaint": "发货慢"}


def test_the_config_refuses_encrypted_fields_without_a_key() -> None:
    with pytest.raises(ConfigError) as err:
        config_with({"encrypted_fields": ["id_number"], "field_key": "${CRM_BOT_FIELD_KEY}"}, env={})
    assert any("visibility.field_key" in p and "CRM_BOT_FIELD_KEY" in p for p in err.value.problems), err.value.problems
    with pytest.raises(ConfigError) as err:
        config_with({"encrypted_fields": ["id_number"]}, env={})
    assert any(p.startswith("visibility") and "field_key" in p for p in err.value.problems), err.value.problems
    with pytest.raises(ConfigError) as err:
        config_with({"encrypted_fields": ["id_number"], "field_key": "short"}, env={})
    assert any("not a key" in p for p in err.value.problems), err.value.problems
    with pytest.raises(ConfigError) as err:
        config_with({"roles": {"accounting": {}}, "encrypted_fields": ["phone"]}, env={})
    text = "\n".join(err.value.problems)
    assert "visibility.roles" in text and "accounting" in text and "visibility.encrypted_fields" in text, text


def test_sealed_fields_without_the_key_read_as_unreadable(runtime) -> None:  # noqa: ANN001
    key = new_key()
    with_key = runtime.cfg.model_copy(update={"visibility": Visibility(encrypted_fields=["id_number"],
                                                                       field_key=SecretStr(key))})
    extra = write_fields(with_key, {}, {"id_number": "330102199001011234"})
    assert read_fields(with_key, extra) == {"id_number": "330102199001011234"}
    assert read_fields(runtime.cfg, extra) == {"id_number": "(无法解密)"}
