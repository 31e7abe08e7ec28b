"""Invitations by email: a single-use link that joins the person to the organization."""
