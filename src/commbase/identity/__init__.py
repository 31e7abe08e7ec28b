"""Organizations, users, memberships and roles, login sessions, API keys,
agent (guest) sessions and the audit log."""
