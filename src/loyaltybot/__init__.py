"""loyaltybot: a self-hosted Telegram loyalty assistant for small businesses."""
