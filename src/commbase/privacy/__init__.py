"""Data lifecycle: retention of expiring data, and GDPR export and erasure of a subject."""
