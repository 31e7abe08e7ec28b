"""Seed 002's transactions, served from the ledger, invoices and invoice payments."""
