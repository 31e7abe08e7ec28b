"""contacts search

Contacts: ``search_name`` (the name case-folded, diacritics removed) for search;
``phone_formatted`` rewritten internationally (+420 601 123 456); one phone, one
contact per organization. Contacts that already share a phone are merged into
the oldest of them (see ``_merge_duplicate_phones``).

Transcripts: ``search_config`` (a PostgreSQL text search configuration chosen
from the language); the PostgreSQL GIN index is rebuilt over
``to_tsvector(search_config, text)``; the SQLite FTS5 table is rebuilt with the
``porter unicode61 remove_diacritics 2`` tokenizer and a ``search_config`` column.

The language map and the FTS row ids are frozen copies of
``commbase.calls.transcripts.fulltext`` as of this revision.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 09:13:00
"""

import hashlib
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import phonenumbers
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

import commbase.core.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
contacts = sa.table(
    "contacts",
    sa.column("id", sa.String),
    sa.column("org_id", sa.String),
    sa.column("name", sa.String),
    sa.column("search_name", sa.Text),
    sa.column("phone", sa.String),
    sa.column("phone_formatted", sa.String),
    sa.column("labels", JSON),
    sa.column("notes", sa.Text),
    sa.column("metadata", JSON),
    sa.column("attributes", JSON),
    sa.column("blocked", sa.Boolean),
    sa.column("total_calls", sa.Integer),
    sa.column("total_duration", sa.Integer),
    sa.column("first_called_at", commbase.core.db.UTCDateTime()),
    sa.column("last_called_at", commbase.core.db.UTCDateTime()),
    sa.column("created_at", commbase.core.db.UTCDateTime()),
    sa.column("updated_at", commbase.core.db.UTCDateTime()),
)
calls = sa.table("calls", sa.column("contact_id", sa.String))
touches = sa.table(
    "analytics_touches",
    sa.column("org_id", sa.String),
    sa.column("source", sa.String),
    sa.column("hour", sa.BigInteger),
    sa.column("touched_at", commbase.core.db.UTCDateTime()),
)
transcripts = sa.table(
    "transcripts",
    sa.column("id", sa.String),
    sa.column("org_id", sa.String),
    sa.column("language", sa.String),
    sa.column("text", sa.Text),
    sa.column("search_config", sa.String().with_variant(postgresql.REGCONFIG(), "postgresql")),
)

# The API's limits on a contact, which a merged one keeps.
MAX_LABELS, MAX_NOTES = 50, 10_000
MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES = 100, 16_384

CONFIG_OF_LANGUAGE = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nb": "norwegian",
    "nn": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}


def _searchable(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _formatted(e164: str | None, style: int) -> str | None:
    if e164 is None:
        return None
    try:
        return str(phonenumbers.format_number(phonenumbers.parse(e164, None), style))
    except phonenumbers.NumberParseException:
        return e164


def _fts_rowid(transcript_id: str) -> int:
    digest = hashlib.blake2b(transcript_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


# ------------------------------------------------------------------ contacts


def _fill_contact_columns(connection: Connection, phone_style: int) -> None:
    rows = connection.execute(sa.select(contacts.c.id, contacts.c.name, contacts.c.phone)).all()
    if not rows:
        return
    connection.execute(
        contacts.update()
        .where(contacts.c.id == sa.bindparam("contact_id"))
        .values(
            search_name=sa.bindparam("new_search_name"),
            phone_formatted=sa.bindparam("new_phone_formatted"),
        ),
        [
            {
                "contact_id": row.id,
                "new_search_name": _searchable(row.name),
                "new_phone_formatted": _formatted(row.phone, phone_style),
            }
            for row in rows
        ],
    )


def _merged_notes(notes: list[str | None]) -> str | None:
    kept: list[str] = []
    for note in notes:
        if note and note not in kept and len("\n\n".join([*kept, note])) <= MAX_NOTES:
            kept.append(note)
    return "\n\n".join(kept) or None


def _merged_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """Keys of every object; the oldest contact's value wins (``objects`` oldest first)."""
    merged: dict[str, Any] = {}
    for value in reversed(objects):
        merged.update(value or {})
    return merged


def _merge_duplicate_phones(connection: Connection) -> None:
    """Contacts of one organization sharing a phone become one: the oldest.

    The oldest keeps its id, owner and name; it gains the others' labels, notes,
    metadata and attribute keys (its own values win), is blocked if any of them
    was, and keeps the call stats of the one that counted most calls (every call
    to a number was counted on each contact holding it), with the earliest first
    and latest last call. Calls that named a removed contact name the kept one;
    the removed contacts' hours are refolded by analytics.
    """
    groups = connection.execute(
        sa.select(contacts.c.org_id, contacts.c.phone)
        .where(contacts.c.phone.is_not(None))
        .group_by(contacts.c.org_id, contacts.c.phone)
        .having(sa.func.count() > 1)
    ).all()
    now = datetime.now(UTC)
    for org_id, phone in groups:
        rows = connection.execute(
            sa.select(contacts)
            .where(contacts.c.org_id == org_id, contacts.c.phone == phone)
            .order_by(contacts.c.created_at, contacts.c.id)
        ).all()
        keep, removed = rows[0], rows[1:]
        busiest = max(rows, key=lambda row: row.total_calls)
        labels = list(dict.fromkeys(label for row in rows for label in row.labels or []))
        attributes = _merged_object([row.attributes for row in rows])
        if len(attributes) > MAX_ATTRIBUTES or len(orjson.dumps(attributes)) > MAX_ATTRIBUTES_BYTES:
            attributes = keep.attributes
        firsts = [row.first_called_at for row in rows if row.first_called_at is not None]
        lasts = [row.last_called_at for row in rows if row.last_called_at is not None]
        connection.execute(
            contacts.update()
            .where(contacts.c.id == keep.id)
            .values(
                labels=labels[:MAX_LABELS],
                notes=_merged_notes([row.notes for row in rows]),
                metadata=_merged_object([row.metadata for row in rows]),
                attributes=attributes,
                blocked=any(row.blocked for row in rows),
                total_calls=busiest.total_calls,
                total_duration=busiest.total_duration,
                first_called_at=min(firsts, default=None),
                last_called_at=max(lasts, default=None),
                updated_at=now,
            )
        )
        removed_ids = [row.id for row in removed]
        connection.execute(
            calls.update().where(calls.c.contact_id.in_(removed_ids)).values(contact_id=keep.id)
        )
        hours = {int(row.created_at.timestamp() // 3600) for row in removed}
        connection.execute(
            touches.insert(),
            [
                {"org_id": org_id, "source": "contacts", "hour": hour, "touched_at": now}
                for hour in sorted(hours)
            ],
        )
        connection.execute(contacts.delete().where(contacts.c.id.in_(removed_ids)))


def _upgrade_contacts(connection: Connection) -> None:
    op.add_column(
        "contacts", sa.Column("search_name", sa.Text(), nullable=False, server_default="")
    )
    _fill_contact_columns(connection, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    _merge_duplicate_phones(connection)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.alter_column("search_name", server_default=None)
        batch_op.drop_index("ix_contacts_org_phone")
        batch_op.create_unique_constraint(
            batch_op.f("uq_contacts_org_id_phone"), ["org_id", "phone"]
        )


def _downgrade_contacts(connection: Connection) -> None:
    # Merged contacts stay merged.
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_contacts_org_id_phone"), type_="unique")
        batch_op.create_index("ix_contacts_org_phone", ["org_id", "phone"], unique=False)
        batch_op.drop_column("search_name")
    rows = connection.execute(sa.select(contacts.c.id, contacts.c.phone)).all()
    if rows:
        connection.execute(
            contacts.update()
            .where(contacts.c.id == sa.bindparam("contact_id"))
            .values(phone_formatted=sa.bindparam("national")),
            [
                {
                    "contact_id": row.id,
                    "national": _formatted(row.phone, phonenumbers.PhoneNumberFormat.NATIONAL),
                }
                for row in rows
            ],
        )


# --------------------------------------------------------------- transcripts


def _configs_by_language(connection: Connection) -> list[tuple[str, str]]:
    rows = connection.execute(sa.select(transcripts.c.id, transcripts.c.language)).all()
    return [
        (row.id, CONFIG_OF_LANGUAGE.get(row.language.split("-", 1)[0].lower(), "simple"))
        for row in rows
    ]


def _rebuild_fts(connection: Connection, *, tokenizer: str, with_config: bool) -> None:
    op.execute("DROP TABLE IF EXISTS transcripts_fts")
    columns = "transcript_id UNINDEXED, org_id UNINDEXED, text"
    if with_config:
        columns += ", search_config"
    op.execute(
        f"CREATE VIRTUAL TABLE transcripts_fts USING fts5({columns}, tokenize='{tokenizer}')"
    )
    selected = [transcripts.c.id, transcripts.c.org_id, transcripts.c.text]
    statement = sa.text(
        "INSERT INTO transcripts_fts (rowid, transcript_id, org_id, text) "
        "VALUES (:rowid, :transcript_id, :org_id, :text)"
    )
    if with_config:
        selected.append(transcripts.c.search_config)
        statement = sa.text(
            "INSERT INTO transcripts_fts (rowid, transcript_id, org_id, text, search_config) "
            "VALUES (:rowid, :transcript_id, :org_id, :text, :search_config)"
        )
    rows = connection.execute(sa.select(*selected)).all()
    if rows:
        connection.execute(
            statement,
            [
                {
                    "rowid": _fts_rowid(row.id),
                    "transcript_id": row.id,
                    "org_id": row.org_id,
                    "text": row.text,
                    **({"search_config": row.search_config} if with_config else {}),
                }
                for row in rows
            ],
        )


def _upgrade_transcripts(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        op.add_column(
            "transcripts",
            sa.Column("search_config", sa.String(20), nullable=False, server_default="simple"),
        )
    else:
        op.add_column(
            "transcripts",
            sa.Column(
                "search_config", postgresql.REGCONFIG(), nullable=False, server_default="simple"
            ),
        )
    wanted = _configs_by_language(connection)
    if connection.dialect.name != "sqlite":
        installed = set(
            connection.exec_driver_sql(
                "SELECT cfgname FROM pg_ts_config WHERE cfgnamespace = 'pg_catalog'::regnamespace"
            ).scalars()
        )
        wanted = [(tid, config if config in installed else "simple") for tid, config in wanted]
    chosen = [(tid, config) for tid, config in wanted if config != "simple"]
    if chosen:
        connection.execute(
            transcripts.update()
            .where(transcripts.c.id == sa.bindparam("transcript_id"))
            .values(search_config=sa.bindparam("config")),
            [{"transcript_id": tid, "config": config} for tid, config in chosen],
        )
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.alter_column("search_config", server_default=None)
    if connection.dialect.name == "sqlite":
        _rebuild_fts(connection, tokenizer="porter unicode61 remove_diacritics 2", with_config=True)
    else:
        op.execute("DROP INDEX IF EXISTS ix_transcripts_search")
        op.execute(
            "CREATE INDEX ix_transcripts_search ON transcripts "
            "USING gin (to_tsvector(search_config, text))"
        )


def _downgrade_transcripts(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        _rebuild_fts(connection, tokenizer="unicode61", with_config=False)
    else:
        op.execute("DROP INDEX IF EXISTS ix_transcripts_search")
        op.execute(
            "CREATE INDEX ix_transcripts_search ON transcripts "
            "USING gin (to_tsvector('simple', text))"
        )
    with op.batch_alter_table("transcripts", schema=None) as batch_op:
        batch_op.drop_column("search_config")


def upgrade() -> None:
    connection = op.get_bind()
    _upgrade_contacts(connection)
    _upgrade_transcripts(connection)


def downgrade() -> None:
    connection = op.get_bind()
    _downgrade_transcripts(connection)
    _downgrade_contacts(connection)
