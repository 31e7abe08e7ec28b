"""Channel accounts: the numbers and inboxes conversations happen on."""
