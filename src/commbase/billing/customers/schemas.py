"""Customer API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import EmailStr, Field, StringConstraints

from commbase.billing.customers.enums import CustomerKind
from commbase.core.schemas import AppSchema, ReadSchema
from commbase.core.types import Name

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Line = Annotated[str, StringConstraints(max_length=200)]


class BillingAddress(AppSchema):
    line1: Line | None = None
    line2: Line | None = None
    city: Line | None = None
    state: Line | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: Country | None = None


class CustomerCreate(AppSchema):
    kind: CustomerKind
    reference_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="The contact's, user's or organization's id. An organization must name "
        "yours as its biller first (its settings.billed_by)."
    )
    name: Name | None = None
    email: EmailStr | None = None
    address: BillingAddress | None = None
    tax_country: Country | None = None
    tax_id: Annotated[str, StringConstraints(max_length=40)] | None = None
    default_payment_method: Annotated[str, StringConstraints(max_length=40)] | None = None


class CustomerUpdate(AppSchema):
    name: Name | None = None
    email: EmailStr | None = None
    address: BillingAddress | None = None
    tax_country: Country | None = None
    tax_id: Annotated[str, StringConstraints(max_length=40)] | None = None
    default_payment_method: Annotated[str, StringConstraints(max_length=40)] | None = None


class CustomerRead(ReadSchema):
    id: str
    kind: str
    reference_id: str
    name: str | None
    email: str | None
    address: dict[str, Any]
    tax_country: str | None
    tax_id: str | None
    default_payment_method: str | None
    created_at: datetime
