"""A viewer's row scope (crm_core/visibility.py `RowScope`) as SQL conditions, so lists and
searches are cut in the database (a page of 20 is 20 rows the viewer may see)."""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, true

from crm_core.db.models import Customer, Lead
from crm_core.visibility import RowScope


def leads_in(scope: RowScope) -> ColumnElement[bool]:
    if scope.all:
        return true()
    cond: list[ColumnElement[bool]] = []
    if scope.reps:
        cond.append(Lead.owner_rep_id.in_(sorted(scope.reps)))
    if scope.teams:
        cond.append(Lead.team_id.in_(sorted(scope.teams)))
    if scope.pool:
        cond.append(Lead.owner_rep_id.is_(None))
    return or_(*cond) if cond else false()


def customers_in(scope: RowScope) -> ColumnElement[bool]:
    if scope.all:
        return true()
    open_lead = and_(Lead.customer_id == Customer.id, Lead.status == "open")
    cond: list[ColumnElement[bool]] = []
    if scope.reps:
        reps = sorted(scope.reps)
        cond += [Customer.owner_rep_id.in_(reps), exists().where(open_lead, Lead.owner_rep_id.in_(reps))]
    if scope.teams:
        cond.append(exists().where(open_lead, Lead.team_id.in_(sorted(scope.teams))))
    if scope.pool:
        cond.append(and_(Customer.owner_rep_id.is_(None),
                         not_(exists().where(open_lead, Lead.owner_rep_id.is_not(None)))))
    return or_(*cond) if cond else false()
