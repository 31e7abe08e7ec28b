"""Self-service sign-up: a person opens an organization and verifies their email."""
