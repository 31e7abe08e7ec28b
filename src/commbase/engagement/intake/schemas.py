"""Shapes every intake form shares: the honeypot field and the receipt."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from commbase.core.ids import new_id
from commbase.core.schemas import AppSchema
from commbase.core.time import utcnow
from commbase.identity import tokens

HONEYPOT_FIELD = "website"


class IntakeForm(AppSchema):
    """Base of every intake form. ``website`` is the honeypot: the page hides its input
    from people (CSS), so only bots fill it. A filled honeypot gets a receipt that looks
    like any other, and nothing is stored."""

    website: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Honeypot: leave empty (hidden from people in the form)"
    )

    @property
    def is_bot(self) -> bool:
        return bool(self.website)


class IntakeReceipt(BaseModel):
    """What a visitor gets back: the record's id and the token that opens it."""

    id: str
    object: str
    status: str
    access_token: str = Field(
        description="Opens this one record (send it as X-Access-Token with the "
        "publishable key). Shown only in this response."
    )
    created_at: datetime


def decoy_receipt(*, object_: str, id_prefix: str, status: str) -> IntakeReceipt:
    """A receipt for a bot that filled the honeypot: well-formed, and pointing nowhere."""
    return IntakeReceipt(
        id=new_id(id_prefix),
        object=object_,
        status=status,
        access_token=tokens.generate("cb_acc_").token,
        created_at=utcnow(),
    )
