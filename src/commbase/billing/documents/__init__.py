"""Invoices and top-up receipts as documents a customer can download: HTML and PDF."""
