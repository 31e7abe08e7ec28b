"""Transcript statuses, write modes and the text search configurations search uses."""

from __future__ import annotations

from enum import StrEnum


class TranscriptStatus(StrEnum):
    PROCESSING = "processing"
    COMPLETED = "completed"  # starts the retention period
    FAILED = "failed"  # may hold partial text: expires like a completed one


class WriteMode(StrEnum):
    REPLACE = "replace"  # the segments sent replace every stored one
    # The segments sent are added to the stored ones; a line identical to a stored one
    # (speaker, start, end and text: the same append sent again) is not added twice.
    APPEND = "append"


class SearchConfig(StrEnum):
    """How a transcript's words are stemmed and which stop words are ignored.

    The names are PostgreSQL's built-in text search configurations, chosen from the
    transcript's language; ``simple`` (lower-case words, no stemming, no stop words)
    serves every language PostgreSQL has no configuration for.
    """

    SIMPLE = "simple"
    ARABIC = "arabic"
    ARMENIAN = "armenian"
    BASQUE = "basque"
    CATALAN = "catalan"
    DANISH = "danish"
    DUTCH = "dutch"
    ENGLISH = "english"
    FINNISH = "finnish"
    FRENCH = "french"
    GERMAN = "german"
    GREEK = "greek"
    HINDI = "hindi"
    HUNGARIAN = "hungarian"
    INDONESIAN = "indonesian"
    IRISH = "irish"
    ITALIAN = "italian"
    LITHUANIAN = "lithuanian"
    NEPALI = "nepali"
    NORWEGIAN = "norwegian"
    PORTUGUESE = "portuguese"
    ROMANIAN = "romanian"
    RUSSIAN = "russian"
    SERBIAN = "serbian"
    SPANISH = "spanish"
    SWEDISH = "swedish"
    TAMIL = "tamil"
    TURKISH = "turkish"
    YIDDISH = "yiddish"
