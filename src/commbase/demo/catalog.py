"""What the demo is made of: its organization's login, currency and rates, its
contacts (and how often each is called), and the words spoken in its transcripts."""

from __future__ import annotations

DEMO_ORG_SLUG = "acme"
DEMO_EMAIL = "owner@acme.example"
DEMO_PASSWORD = "commbase-demo"  # noqa: S105 (published demo credentials)
DEMO_AGENT_EMAIL = "agent@acme.example"
CURRENCY = "USD"
DEMO_RATES = (  # country, line type, USD per minute
    ("US", None, "0.0125"),
    ("CZ", "mobile", "0.05"),
    ("CZ", None, "0.03"),
    (None, None, "0.125"),
)
# name, phone, labels, company, how often they are called
DEMO_CONTACTS = (
    ("John Smith", "+14155552671", ["customer", "vip"], "Smith & Co", 6),
    ("Grace Lee", "+12025550143", ["customer"], "Lee Logistics", 5),
    ("Jan Novák", "+420601123456", ["customer", "vip"], "Novák s.r.o.", 3),
    ("Eva Dvořáková", "+420222123456", ["lead"], None, 2),
    ("Emma Brown", "+442079460958", ["customer"], "Brown Ltd", 2),
    ("Lukas Müller", "+4915123456789", ["lead"], "Müller GmbH", 2),
    ("Priya Sharma", "+919876543210", ["partner"], None, 1),
)
# Spoken in the last completed call to each of these contacts (by phone).
DEMO_TRANSCRIPTS = {
    "+14155552671": (
        "en-US",
        [
            ("agent", "Hello, this is Acme support. How can I help?"),
            ("recipient", "I was calling about the refund for my last invoice."),
            ("agent", "I see it. The refund was approved and will arrive this week."),
        ],
    ),
    "+420601123456": (
        "cs-CZ",
        [
            ("agent", "Dobrý den, tady podpora Acme."),
            ("recipient", "Volám kvůli faktuře za minulý měsíc."),
        ],
    ),
    "+4915123456789": (
        "de-DE",
        [
            ("agent", "Guten Tag, hier ist der Acme Support."),
            ("recipient", "Ich habe eine Frage zu meinen Rechnungen."),
        ],
    ),
}
