"""Who a customer is."""

from __future__ import annotations

from enum import StrEnum


class CustomerKind(StrEnum):
    CONTACT = "contact"  # one of the organization's contacts
    USER = "user"  # one of its members
    ORGANIZATION = "organization"  # another organization of this deployment
