"""A person's home page: their chains and, per chain, what waits for them."""

from __future__ import annotations

from flask import render_template

from supplychain.access import ChainAccess, memberships
from supplychain.extensions import db
from supplychain.identity import app_clients
from supplychain.services import choices, me, worklist
from supplychain.services.links import tier_of_member
from supplychain.services.reconciliation import statements
from supplychain.ui.base import actor, blp, chain, login_required
from supplychain.ui.views.reconciliation import last_month


def statement_period(access: ChainAccess, apps: list[str]) -> str | None:
    """Last month, for a partner that may download its statements (no query: any period's
    statement is written on demand, so last month's is always there to take)."""
    if access.is_owner or statements.APP not in apps:
        return None
    return last_month(access)


@blp.get("/home")
@login_required
def home():
    """Every chain of the user's org with its role, tier, apps and to-do counts."""
    who = actor()
    described = me.describe_me(db.session, who)
    accesses = {access.chain_id: access for access in memberships(db.session, who)}
    chains = []
    order_ids: set[int] = set()
    for item in described["chains"]:
        access = accesses.get(item["id"])
        if access is None:
            continue
        waiting = worklist.waiting_for(db.session, access, preview=3)
        for found in waiting.first_orders.values():
            order_ids.update(o.buyer_id for o in found)
            order_ids.update(o.seller_id for o in found)
        chains.append(
            {
                **item,
                "waiting": waiting,
                "statement_period": statement_period(access, waiting.apps),
                "custom_apps": app_clients.shared_tiles(db.session, access),
            }
        )
    names = choices.org_names(db.session, order_ids)
    return render_template("home.html", described=described, chains=chains, names=names)


@blp.get("/chains/<id:cid>")
@login_required
def chain_home(cid: int | None):
    """One chain: what waits for the user's org there, and its apps."""
    access = chain(cid)
    waiting = worklist.waiting_for(db.session, access, preview=10)
    ids: set[int] = set()
    for found in waiting.first_orders.values():
        ids.update(o.buyer_id for o in found)
        ids.update(o.seller_id for o in found)
    return render_template(
        "chain.html",
        access=access,
        waiting=waiting,
        names=choices.org_names(db.session, ids),
        tier=tier_of_member(db.session, access.chain, access.actor.org_id),
        statement_period=statement_period(access, waiting.apps),
    )
