"""Password reset by emailed link."""
