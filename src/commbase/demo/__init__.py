"""Demo data: one organization with an owner, an agent, an API key, a contact book,
a funded wallet and a month of calls, charges, top-ups, transcripts and tracked
events. Idempotent: a second run changes nothing and prints the same key.

``catalog`` holds what the demo is made of (login, rates, contacts, transcripts),
``organization`` makes what is current through the domains' services, and
``history`` writes the month behind it so that every dashboard tells the same story.
"""

from commbase.demo.catalog import DEMO_CONTACTS, DEMO_EMAIL, DEMO_ORG_SLUG, DEMO_PASSWORD
from commbase.demo.organization import DemoCredentials, load_demo

__all__ = [
    "DEMO_CONTACTS",
    "DEMO_EMAIL",
    "DEMO_ORG_SLUG",
    "DEMO_PASSWORD",
    "DemoCredentials",
    "load_demo",
]
