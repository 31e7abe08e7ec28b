"""Event types the billing domain records in the outbox."""

WALLET_CREDITED = "wallet.credited"
WALLET_DEBITED = "wallet.debited"
WALLET_LOW_BALANCE = "wallet.low_balance"
WALLET_RECHARGED = "wallet.recharged"
