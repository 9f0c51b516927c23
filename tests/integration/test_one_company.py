"""One company, one customer (both databases): notes about a known company join its customer;
the duplicate check runs at contact level inside it (the same person is completed, anyone else
becomes a new contact); a join into someone else's customer tells its owner with a card; the
config decides whether another team's rep may join (dedup.cross_team_join). 我的客户 lists the
rep's customers with phones in full for the owner."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from bot.events import EventKind, InboundEvent
from cards.model import Card
from cards.render.text import render_text
from crm_core.db.models import AuditLog, Contact, Customer, DedupReview, Lead
from crm_core.notices import CustomerJoined, DuplicateReview
from crm_core.services.intake import intake_lead
from crm_core.services.lead_input import LeadInput
from handlers.context import Context
from handlers.dispatch import dispatch
from handlers.load import build_registry
from handlers.notify import default_renderers

COMPANY = "杭州优品电子商务有限公司"
REGISTRY = build_registry()
_ids = itertools.count(1)
USERS = {"zhang.wei": ("wecom", "zhangwei"), "li.na": ("wecom", "lina"), "chen.jie": ("feishu", "ou_chenjie")}


def note(rt, rep: str, contact: str | None, phone: str | None = None, company: str = COMPANY,  # noqa: ANN001
         **more):  # noqa: ANN003, ANN201
    with rt.db.uow() as s:
        res = intake_lead(s, rt.cfg, LeadInput(source="chat", company=company, contact_name=contact, phone=phone,
                                               **more), actor=rep, platform="wecom", now=rt.clock(), owner_rep_id=rep)
        return res.customer.id, res.contact.id, list(res.notices), list(res.notes)


def count(rt, model, **where) -> int:  # noqa: ANN001, ANN003
    with rt.db.uow() as s:
        return s.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0


def say(rt, rep_id: str, text: str) -> str:  # noqa: ANN001
    platform, uid = USERS[rep_id]
    ev = InboundEvent(platform=platform, kind=EventKind.TEXT, event_id=f"c{next(_ids)}", sender_id=uid,
                      conversation_id=uid, text=text)
    replies = dispatch(Context(services=rt.services, event=ev, rep=rt.cfg.org.rep(rep_id), now=rt.clock()), REGISTRY)
    return "\n".join(r.item if isinstance(r.item, str) else render_text(r.item) for r in replies)


def test_four_notes_about_one_company_make_one_customer_with_four_contacts(runtime) -> None:  # noqa: ANN001
    first = note(runtime, "zhang.wei", "李经理", "13912345678", product="CRM", budget_cny=500_000)
    second = note(runtime, "zhang.wei", "王总", "13800001111", company="杭州优品电子商务有限公司 ")
    third = note(runtime, "zhang.wei", "张伟", email="zhangwei@youpin.example.com")
    fourth = note(runtime, "zhang.wei", "陈总监", "0571-88886666")
    assert {first[0], second[0], third[0], fourth[0]} == {first[0]}
    assert count(runtime, Customer) == 1 and count(runtime, Lead, customer_id=first[0]) == 4
    assert count(runtime, Contact, customer_id=first[0]) == 4 and count(runtime, Contact, is_alias=True) == 0
    assert count(runtime, DedupReview) == 0 and count(runtime, AuditLog, action="customer.join") == 3
    assert any(f"C{first[0]}" in n and "新增联系人王总" in n for n in second[3]), second[3]
    assert not any(isinstance(n, CustomerJoined) for r in (second, third, fourth) for n in r[2])   # the owner's own
    # the same people again: their contacts, completed (a second phone, a missing one), no new contact
    again = note(runtime, "zhang.wei", "李经理")
    more = note(runtime, "zhang.wei", "张伟", "13700003333")
    by_phone = note(runtime, "zhang.wei", "王先生", "138 0000 1111")      # another name form, the same mobile
    assert (again[1], more[1], by_phone[1]) == (first[1], third[1], second[1])
    assert count(runtime, Contact, customer_id=first[0]) == 4 and count(runtime, Lead) == 7
    with runtime.db.uow() as s:
        zhang = s.get_one(Contact, third[1])
        assert zhang.phone == "13700003333" and zhang.email == "zhangwei@youpin.example.com"
    # another company with the same brand in another city is another customer
    other = note(runtime, "zhang.wei", "刘经理", "13600004444", company="北京优品电子商务有限公司")
    assert other[0] != first[0] and count(runtime, Customer) == 2


def test_a_join_into_someone_elses_customer_tells_its_owner(runtime) -> None:  # noqa: ANN001
    customer, _, _, _ = note(runtime, "zhang.wei", "李经理", "13912345678")
    _, contact, notices, notes = note(runtime, "li.na", "赵总", "13511112222")        # a teammate
    joined = [n for n in notices if isinstance(n, CustomerJoined)]
    assert len(joined) == 1 and joined[0].to_rep == "zhang.wei" and joined[0].customer_id == customer
    assert joined[0].new_contact and joined[0].phone == "13511112222"
    card = default_renderers().render(runtime.cfg, joined[0])
    assert isinstance(card, Card)
    text = render_text(card)
    assert "李娜" in text and COMPANY in text and "赵总 13511112222" in text and f"C{customer}" in text
    assert runtime.deliver(notices) >= 1
    assert count(runtime, Customer) == 1
    with runtime.db.uow() as s:
        assert s.get_one(Customer, customer).owner_rep_id == "zhang.wei"                # the owner stays
        assert s.get_one(Contact, contact).customer_id == customer


@pytest.fixture(params=["join", "separate"])
def policy_runtime(request, cfg, db, clock):  # noqa: ANN001, ANN201
    from bot.runtime import Runtime
    from crm_core.kv import connect
    changed = cfg.model_copy(update={"dedup": cfg.dedup.model_copy(update={"cross_team_join": request.param})})
    rt = Runtime(cfg=changed, db=db, kv=connect(None, f"t{next(_ids)}"), clock=clock)
    yield rt, request.param
    rt.kv.close()


def test_another_teams_rep_joins_or_not_as_configured(policy_runtime) -> None:  # noqa: ANN001
    runtime, policy = policy_runtime
    customer, _, _, _ = note(runtime, "zhang.wei", "李经理", "13912345678")
    mine, _, notices, notes = note(runtime, "chen.jie", "孙总", "13322223333")          # 华南制造
    if policy == "join":
        assert mine == customer and count(runtime, Customer) == 1
        assert [n.to_rep for n in notices if isinstance(n, CustomerJoined)] == ["zhang.wei"]
    else:
        assert mine != customer and count(runtime, Customer) == 2
        assert not any(isinstance(n, CustomerJoined) for n in notices)
        reviews = [n for n in notices if isinstance(n, DuplicateReview)]
        assert [n.to_rep for n in reviews] == ["liu.yang"] and count(runtime, DedupReview, status="open") == 1
        assert any("其他团队的客户" in n and "张伟" in n for n in notes), notes
        # the rep's own team may still join
        assert note(runtime, "li.na", "周总", "13344445555")[0] == customer


def test_config_check_names_the_policy_and_refuses_an_unknown_one(tmp_path) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from bot.cli.admin import config_check
    from tests.conftest import EXAMPLE
    ok = CliRunner().invoke(config_check, ["--config", str(EXAMPLE)])
    assert ok.exit_code == 0 and "同一公司跨团队录入:其他团队的销售录入同一公司时并入该客户,并通知负责人" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("cross_team_join: join", "cross_team_join: maybe"),
                   encoding="utf-8")
    refused = CliRunner().invoke(config_check, ["--config", str(bad)])
    assert refused.exit_code == 1 and "dedup.cross_team_join" in refused.output, refused.output


def test_my_customers_lists_contacts_with_full_phones_for_the_owner(runtime) -> None:  # noqa: ANN001
    customer, _, _, _ = note(runtime, "zhang.wei", "李经理", "13912345678", budget_cny=500_000)
    note(runtime, "zhang.wei", "王总", "13800001111")
    note(runtime, "li.na", "赵总", "13511112222")
    small, _, _, _ = note(runtime, "zhang.wei", "钱经理", "13766667777", company="宁波康达医疗器械有限公司")
    out = say(runtime, "zhang.wei", "我的客户")
    assert "你有 2 个客户" in out and f"C{customer} {COMPANY}" in out and f"C{small} " in out
    assert out.index(f"C{customer} ") < out.index(f"C{small} ")                       # bigger budget first
    for phone in ("13912345678", "13800001111", "13511112222", "13766667777"):
        assert phone in out, out
    out = say(runtime, "li.na", "我的客户")                   # her lead on zhang.wei's customer
    assert f"C{customer} " in out and "客户负责人:张伟" in out and f"C{small} " not in out
    assert "13511112222" in out
    assert "还没有客户" in say(runtime, "chen.jie", "我的客户")
