"""Messaging: channel accounts, conversations with contacts, messages and their providers."""
