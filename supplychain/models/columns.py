"""The column declarations nearly every table repeats, as SQLAlchemy `Annotated` types: the
references to a chain, an org, a person and an order, the parts of a composite key, the moment a row is
written. `Mapped[org_fk | None]` is the same reference, nullable; a `mapped_column(...)` on the
attribute adds to it (`Mapped[chain_fk] = mapped_column(index=True)`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import ForeignKey
from sqlalchemy.orm import mapped_column

from supplychain.models.base import BigId, utcnow

chain_fk = Annotated[int, mapped_column(BigId, ForeignKey("chains.id"))]
org_fk = Annotated[int, mapped_column(BigId, ForeignKey("orgs.id"))]
user_fk = Annotated[int, mapped_column(BigId, ForeignKey("users.id"))]
order_fk = Annotated[int, mapped_column(BigId, ForeignKey("orders.id"))]
# One column of a composite primary key: an id the row is given, never generated.
key_part = Annotated[int, mapped_column(BigId, primary_key=True, autoincrement=False)]
# A moment (UTCDateTime, by the annotation map) that is the row's writing unless given.
timestamp_now = Annotated[datetime, mapped_column(default=utcnow)]
