"""Full-text search over transcripts, in each transcript's language.

A transcript's language picks its search configuration (``en-US`` -> english,
``de`` -> german, ``pt-BR`` -> portuguese; ``simple`` for a language PostgreSQL
has no configuration for, such as Czech or Japanese): the stemming and the stop
words its words are indexed and matched with.

PostgreSQL: ``transcripts.search_config`` is a ``regconfig``, and a GIN index over
``to_tsvector(search_config, text)`` keeps itself current. The query is parsed
once per configuration (``websearch_to_tsquery``) and each transcript is matched
against the parse of its own configuration: "calling" finds "called" in an
English transcript, "the" alone finds nothing there, and German words are
stemmed the German way.

SQLite: the FTS5 table ``transcripts_fts`` (tokenizer ``porter unicode61
remove_diacritics 2``) is kept in step by :func:`index` and :func:`unindex`.
Porter stems English only: every language's words pass through it, so other
languages are matched as written (less English-looking endings), with case and
diacritics folded ("ete" finds "été"). Stop words are known for English only,
PostgreSQL's own list, so both databases ignore the same English words.

Both databases require every word of the query (PostgreSQL also understands
``"quoted phrases"``, ``or`` and ``-word``). Results are ranked best first and
paged with a keyset cursor on (rank, id); on SQLite ranks depend on the whole
index, so a write between two pages may shift them.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from commbase.calls.transcripts.enums import SearchConfig
from commbase.calls.transcripts.models import Transcript
from commbase.core.errors import invalid
from commbase.core.pagination import encode_cursor

MAX_SEARCH_TERMS = 16
HIGHLIGHT = "**"

# ISO 639 language subtags -> PostgreSQL's built-in configurations.
_CONFIG_OF_LANGUAGE: dict[str, SearchConfig] = {
    "ar": SearchConfig.ARABIC,
    "hy": SearchConfig.ARMENIAN,
    "eu": SearchConfig.BASQUE,
    "ca": SearchConfig.CATALAN,
    "da": SearchConfig.DANISH,
    "nl": SearchConfig.DUTCH,
    "en": SearchConfig.ENGLISH,
    "fi": SearchConfig.FINNISH,
    "fr": SearchConfig.FRENCH,
    "de": SearchConfig.GERMAN,
    "el": SearchConfig.GREEK,
    "hi": SearchConfig.HINDI,
    "hu": SearchConfig.HUNGARIAN,
    "id": SearchConfig.INDONESIAN,
    "ga": SearchConfig.IRISH,
    "it": SearchConfig.ITALIAN,
    "lt": SearchConfig.LITHUANIAN,
    "ne": SearchConfig.NEPALI,
    "no": SearchConfig.NORWEGIAN,
    "nb": SearchConfig.NORWEGIAN,
    "nn": SearchConfig.NORWEGIAN,
    "pt": SearchConfig.PORTUGUESE,
    "ro": SearchConfig.ROMANIAN,
    "ru": SearchConfig.RUSSIAN,
    "sr": SearchConfig.SERBIAN,
    "es": SearchConfig.SPANISH,
    "sv": SearchConfig.SWEDISH,
    "ta": SearchConfig.TAMIL,
    "tr": SearchConfig.TURKISH,
    "yi": SearchConfig.YIDDISH,
}

# PostgreSQL's english.stop (the Snowball project's list, BSD licence): SQLite
# ignores exactly the words PostgreSQL's english configuration ignores.
_ENGLISH_STOP_LIST = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what
    which who whom this that these those am is are was were be been being have has had
    having do does did doing a an the and but if or because as until while of at by for
    with about against between into through during before after above below to from up
    down in out on off over under again further then once here there when where why how
    all any both each few more most other some such no nor not only own same so than too
    very s t can will just don should now
"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_LIST.split())
# Stop words SQLite applies, per configuration; the others keep every word.
_SQLITE_STOP_WORDS: dict[SearchConfig, frozenset[str]] = {SearchConfig.ENGLISH: ENGLISH_STOP_WORDS}

_WORD = re.compile(r"\w+")
_FTS = table(
    "transcripts_fts",
    column("transcript_id"),
    column("org_id"),
    column("text"),
    column("search_config"),
)
_FTS_TABLE: ColumnElement[Any] = literal_column("transcripts_fts")
_PG_HEADLINE = f'StartSel="{HIGHLIGHT}", StopSel="{HIGHLIGHT}", MaxWords=20, MinWords=8'


def config_for(language: str) -> SearchConfig:
    """The configuration for a BCP 47 language tag: by its primary subtag, else simple."""
    return _CONFIG_OF_LANGUAGE.get(language.split("-", 1)[0].lower(), SearchConfig.SIMPLE)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def installed_configs(session: AsyncSession) -> list[SearchConfig]:
    """The configurations this database can use (PostgreSQL's differ by version)."""
    if dialect_of(session) == "sqlite":
        return list(SearchConfig)
    names = set(
        await session.scalars(
            text("SELECT cfgname FROM pg_ts_config WHERE cfgnamespace = 'pg_catalog'::regnamespace")
        )
    )
    return [config for config in SearchConfig if config.value in names]


async def choose_config(session: AsyncSession, language: str) -> SearchConfig:
    """The configuration a transcript in ``language`` is indexed with on this database."""
    wanted = config_for(language)
    if wanted == SearchConfig.SIMPLE or dialect_of(session) == "sqlite":
        return wanted
    installed = await session.scalar(
        text(
            "SELECT count(*) FROM pg_ts_config "
            "WHERE cfgname = :name AND cfgnamespace = 'pg_catalog'::regnamespace"
        ),
        {"name": wanted.value},
    )
    return wanted if installed else SearchConfig.SIMPLE


# ------------------------------------------------------------------- queries


def sqlite_match(query: str) -> str | None:
    """An FTS5 expression: every word of ``query``, less the stop words of each
    transcript's configuration; None when the query has no words at all.

    Words are quoted, so nothing in the query is FTS5 syntax.
    """
    terms = _WORD.findall(query)[:MAX_SEARCH_TERMS]
    if not terms:
        return None
    groups = []
    for config, stop_words in _SQLITE_STOP_WORDS.items():
        kept = [term for term in terms if term.lower() not in stop_words]
        if kept:
            groups.append(f'(search_config : "{config}" AND text : ({_every(kept)}))')
    with_stop_words = " OR ".join(f'"{config}"' for config in _SQLITE_STOP_WORDS)
    groups.append(f"(text : ({_every(terms)}) NOT search_config : ({with_stop_words}))")
    return " OR ".join(groups)


def _every(terms: Sequence[str]) -> str:
    return " AND ".join(f'"{term}"' for term in terms)


def sqlite_statement(match: str) -> tuple[Select[Any], ColumnElement[float]]:
    """Matching transcripts with snippet and rank, and the rank expression."""
    # bm25 weighs columns in order; only ``text`` counts (lower is better).
    score = func.bm25(_FTS_TABLE, 0.0, 0.0, 1.0, 0.0, type_=Float)
    rank = (-score).label("rank")
    statement = (
        select(
            Transcript.id,
            Transcript.call_id,
            Transcript.created_at,
            func.snippet(_FTS_TABLE, 2, HIGHLIGHT, HIGHLIGHT, "…", 16).label("snippet"),
            rank,
        )
        .select_from(_FTS)
        .join(Transcript, Transcript.id == _FTS.c.transcript_id)
        .where(_FTS_TABLE.op("MATCH")(match))
    )
    return statement, -score


def _regconfig(config: SearchConfig) -> ColumnElement[Any]:
    # A constant written like the index's own; enum values only, never user input.
    return literal_column(f"'{config.value}'::regconfig")


def postgres_statement(
    query: str, configs: Sequence[SearchConfig]
) -> tuple[Select[Any], ColumnElement[float]]:
    """Matching transcripts with snippet and rank, and the rank expression.

    One arm per configuration, each written as the GIN index's expression
    ``@@`` a constant query, so the planner can use the index for every arm.
    """
    words = bindparam("words", query, type_=Text)
    # Written exactly as in the index definition, so the planner can use the index.
    document = func.to_tsvector(Transcript.search_config, Transcript.text)
    # websearch_to_tsquery accepts any input: quotes, "or" and "-" work, nothing raises.
    own_query = func.websearch_to_tsquery(Transcript.search_config, words)
    matches = or_(
        *(
            and_(
                Transcript.search_config == _regconfig(config),
                document.op("@@")(func.websearch_to_tsquery(_regconfig(config), words)),
            )
            for config in configs
        )
    )
    rank = func.ts_rank(document, own_query, type_=Float)
    statement = select(
        Transcript.id,
        Transcript.call_id,
        Transcript.created_at,
        func.ts_headline(Transcript.search_config, Transcript.text, own_query, _PG_HEADLINE).label(
            "snippet"
        ),
        rank.label("rank"),
    ).where(matches)
    return statement, rank


# -------------------------------------------------------------------- paging


def encode_position(rank: float, transcript_id: str) -> str:
    """The cursor after a hit: its rank (exactly, as Python writes floats) and id."""
    return encode_cursor(f"{rank!r}|{transcript_id}")


def parse_position(value: str) -> tuple[float, str]:
    """The (rank, id) in a decoded cursor of :func:`encode_position`; a 422 otherwise."""
    rank, _, transcript_id = value.partition("|")
    try:
        number = float(rank)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and transcript_id):
        raise invalid("cursor is not one this API returned", "cursor", location="query")
    return number, transcript_id


def after(rank: ColumnElement[float], position: tuple[float, str]) -> ColumnElement[bool]:
    """Hits that come after ``position`` in (rank descending, id descending) order."""
    last_rank, last_id = position
    return or_(rank < last_rank, and_(rank == last_rank, Transcript.id < last_id))


# --------------------------------------------------------- SQLite search index


def _rowid(transcript_id: str) -> int:
    """The transcript's row in ``transcripts_fts``, derived from its id.

    FTS5 finds a row by an UNINDEXED column only by scanning the table; a rowid
    computed from the id makes every index update a primary-key operation.
    """
    digest = hashlib.blake2b(transcript_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # a positive signed 64-bit integer


async def index(session: AsyncSession, transcript: Transcript) -> None:
    """Put the transcript's current text in the SQLite index (PostgreSQL's is automatic)."""
    if dialect_of(session) != "sqlite":
        return
    rowid = _rowid(transcript.id)
    await session.execute(
        text("DELETE FROM transcripts_fts WHERE rowid = :rowid"), {"rowid": rowid}
    )
    await session.execute(
        text(
            "INSERT INTO transcripts_fts (rowid, transcript_id, org_id, text, search_config) "
            "VALUES (:rowid, :transcript_id, :org_id, :text, :search_config)"
        ),
        {
            "rowid": rowid,
            "transcript_id": transcript.id,
            "org_id": transcript.org_id,
            "text": transcript.text,
            "search_config": transcript.search_config,
        },
    )


async def reindex(session: AsyncSession, transcript_id: str) -> None:
    """Put the text the transcript has in the database in the SQLite index (after an
    ``UPDATE`` that changed it without loading it)."""
    if dialect_of(session) != "sqlite":
        return
    rowid = _rowid(transcript_id)
    await session.execute(
        text("DELETE FROM transcripts_fts WHERE rowid = :rowid"), {"rowid": rowid}
    )
    await session.execute(
        text(
            "INSERT INTO transcripts_fts (rowid, transcript_id, org_id, text, search_config) "
            "SELECT :rowid, id, org_id, text, search_config FROM transcripts WHERE id = :id"
        ),
        {"rowid": rowid, "id": transcript_id},
    )


async def unindex(session: AsyncSession, transcript_ids: Sequence[str]) -> None:
    """Remove transcripts from the SQLite index."""
    if dialect_of(session) != "sqlite" or not transcript_ids:
        return
    await session.execute(
        text("DELETE FROM transcripts_fts WHERE rowid IN :rowids").bindparams(
            bindparam("rowids", expanding=True)
        ),
        {"rowids": [_rowid(transcript_id) for transcript_id in transcript_ids]},
    )
