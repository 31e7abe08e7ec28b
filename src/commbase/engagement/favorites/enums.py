"""Kinds of things a user can keep as a favorite (seed 002's seven types)."""

from __future__ import annotations

from enum import StrEnum


class FavoriteType(StrEnum):
    AGENT = "agent"
    TOOL = "tool"
    PROMPT = "prompt"
    TEMPLATE = "template"
    WORKFLOW = "workflow"
    EXPERIMENT = "experiment"
    CONTENT = "content"
