"""Payment providers (manual, simulator, stripe, paypal, cashfree) for invoices and
wallet top-ups: checkouts, saved-card charges, refunds, webhooks, and dunning."""
