"""Every table with a column marked personal is exported and erased for every kind of
subject, or says here why it holds nothing about that kind. A domain that adds a
personal column without registering its privacy handler fails this test."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table

from commbase.core.db import PERSONAL
from commbase.models import Base
from commbase.privacy import domains as _domains  # noqa: F401  (fills the registry)
from commbase.privacy.records import personal_columns
from commbase.privacy.registry import EMAIL_SUBJECT, SUBJECT_TYPES, SubjectType, covered_tables

# (table, subject type) pairs no handler covers, each with the reason it need not.
NOT_ABOUT: dict[tuple[str, SubjectType], str] = {
    ("users", "contact"): "a contact is a person the organization talks to, not an account",
    ("login_sessions", "contact"): "contacts never sign in",
    ("memberships", "contact"): (
        "an invitation describes a person added as a member, never a contact"
    ),
    ("agent_sessions", "contact"): "an agent session's address is its opener's, never a contact's",
    ("favorites", "contact"): "favorites are a user's own bookmarks, never a contact's",
    ("comments", "contact"): "comments are written by members about calls and tickets",
    ("agent_personalizations", "contact"): "a user's settings for an agent, never a contact's",
    ("suggestions", "contact"): "suggestions are written by users; contacts never sign in",
    ("suggestion_comments", "contact"): "comments are written by users; contacts never sign in",
    ("whatsapp_notifications", "user"): "Meta's notifications are written by contacts",
    ("whatsapp_notifications", "contact"): (
        "a notification is kept only until the intake runner files it (seconds) and is "
        "deleted then; its messages are exported and erased with the contact"
    ),
    ("audit_log", "contact"): (
        "contacts never act in the API; an entry naming one holds its actor's address"
    ),
}


# What website visitors leave by email alone (linked to no user or contact), and the
# request rows about an address: an email subject covers exactly these.
EMAIL_TABLES = {
    "bookings",
    "consultations",
    "job_applications",
    "job_interviews",
    "leads",
    "privacy_requests",
    "suggestions",
    "support_ticket_messages",
    "support_tickets",
    "webinar_registrations",
}


def uncovered(metadata: MetaData) -> list[str]:
    """Personal tables of ``metadata`` that some subject type's handlers miss."""
    missing = []
    for table in metadata.sorted_tables:
        if not personal_columns(table):
            continue
        for subject_type in SUBJECT_TYPES:
            pair = (table.name, subject_type)
            if table.name not in covered_tables(subject_type) and pair not in NOT_ABOUT:
                missing.append(f"{table.name} for {subject_type}")
    return missing


def test_every_personal_table_is_exported_and_erased_for_every_subject() -> None:
    assert uncovered(Base.metadata) == [], (
        "Register an exporter and eraser (commbase.privacy.registry.register_subject) in "
        "the domain's privacy module and import it in commbase.privacy.domains, or say in "
        "NOT_ABOUT why the table holds nothing about that kind of subject"
    )


def test_an_email_subject_covers_what_visitors_leave_by_email() -> None:
    assert covered_tables(EMAIL_SUBJECT) == EMAIL_TABLES


def test_a_new_personal_table_without_a_handler_is_caught() -> None:
    metadata = MetaData()
    Table("surveys", metadata, Column("answer", String(100), info=PERSONAL))
    Table("counters", metadata, Column("value", String(10)))

    assert uncovered(metadata) == ["surveys for user", "surveys for contact"]


def test_the_allowlist_names_only_real_uncovered_personal_tables() -> None:
    for table_name, subject_type in NOT_ABOUT:
        table = Base.metadata.tables[table_name]
        assert personal_columns(table), f"{table_name} has no personal column"
        assert table_name not in covered_tables(subject_type), (
            f"{table_name} is covered for {subject_type}; drop it from NOT_ABOUT"
        )


def test_handlers_name_only_real_tables() -> None:
    for subject_type in (*SUBJECT_TYPES, EMAIL_SUBJECT):
        unknown = covered_tables(subject_type) - set(Base.metadata.tables)
        assert unknown == set(), f"{subject_type} handlers name unknown tables: {unknown}"
