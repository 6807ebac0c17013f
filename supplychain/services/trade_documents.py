"""Who may see a trade document (an order, an invoice, a ship notice: `models.base.TradeDocument`)
and loading one: the chain's owner sees all of its chain's, any other org those it is a party to;
to anyone else a document does not exist (404). And the number of a new one."""

from __future__ import annotations

import secrets
from typing import TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from supplychain.access import ChainAccess
from supplychain.errors import Conflict, NotFound
from supplychain.models.base import TradeDocument, utcnow
from supplychain.services.app_access import require_app

Document = TypeVar("Document", bound=TradeDocument)


def visible_documents(
    model: type[Document], access: ChainAccess, box: str | None = None
) -> Select[tuple[Document]]:
    """The documents of `model` the caller may see: its chain's, and unless it owns the chain,
    only those its org is a party to; of those, with `box`, the `incoming` (its org the buyer)
    or the `outgoing` (its org the seller)."""
    org_id = access.actor.org_id
    stmt = select(model).where(model.chain_id == access.chain_id)
    if not access.is_owner:
        stmt = stmt.where(model.is_party(org_id))
    if box == "incoming":
        stmt = stmt.where(model.buyer_id == org_id)
    elif box == "outgoing":
        stmt = stmt.where(model.seller_id == org_id)
    return stmt


def load_document(
    session: Session,
    access: ChainAccess,
    model: type[Document],
    document_id: int | None,
    *,
    app: str,
    missing: str,
    lock: bool = False,
) -> Document:
    """The document the caller may see (`missing` as a 404 otherwise) when its org may use `app`
    (403 otherwise); with `lock`, row-locked and read afresh from the locked row."""
    require_app(session, access, app)
    if document_id is None:
        raise NotFound(missing)
    stmt = visible_documents(model, access).where(model.id == document_id)
    if lock:
        # A row lock on PostgreSQL (SQLite writers already hold the database's write lock); the
        # row is read again so that what another transaction committed before it is seen.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    document = session.scalar(stmt)
    if document is None:
        raise NotFound(missing)
    return document


def document_number(
    session: Session,
    model: type[Document],
    scope: ColumnElement[bool],
    number: str | None,
    prefix: str,
    taken: str,
) -> str:
    """The number of a new document of `model` among those of `scope` (a chain's orders, a
    seller's ship notices): `number` if none of them has it (409 `taken`, naming `number`, if
    one has), else a new `<prefix>-<YYYYMMDD>-<6 hex digits>` that none has."""

    def used(candidate: str) -> bool:
        return session.scalar(select(model.id).where(scope, model.number == candidate)) is not None

    if number is not None:
        if used(number):
            raise Conflict(taken, {"number": ["Taken."]})
        return number
    today = utcnow().strftime("%Y%m%d")
    while True:
        candidate = f"{prefix}-{today}-{secrets.token_hex(3).upper()}"
        if not used(candidate):
            return candidate
