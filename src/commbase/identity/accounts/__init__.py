"""Accounts people open themselves: emailed single-use tokens and sign-ups."""
