"""Contact metrics: contacts added and blocked."""

from __future__ import annotations

from sqlalchemy import select

from commbase.analytics.registry import Entry, Source, count, register, register_section
from commbase.contacts.models import Contact

# The ids of blocked contacts: for domains that count contacts by their own rows
# (messaging's contacts of one channel account).
BLOCKED_IDS = select(Contact.id).where(Contact.blocked.is_(True)).scalar_subquery()

# ``blocked`` can change, and every change moves ``updated_at``.
CONTACTS = Source(
    "contacts",
    Contact.__table__,
    org=Contact.org_id,
    time=Contact.created_at,
    changed=Contact.updated_at,
    dimensions={"blocked": Contact.blocked},
)

register(
    count("contacts.new", CONTACTS, "Contacts added"),
    count(
        "contacts.blocked",
        CONTACTS,
        "Contacts added that are blocked now",
        where=Contact.blocked.is_(True),
    ),
)
register_section(
    "contacts",
    {
        "total": Entry("contacts.new", cumulative=True),
        "new": "contacts.new",
        "blocked": Entry("contacts.blocked", cumulative=True),
    },
)
