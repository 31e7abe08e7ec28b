"""Campaigns: a template sent to an audience of contacts, throttled, with live statistics."""
