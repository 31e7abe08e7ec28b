"""Shared kernel: storage, errors, auth plumbing, cache, rate limits, outbox, jobs.

Nothing in here knows about a business domain.
"""
