"""The outbox sender: drains deliveries to Telegram with rate limits and error mapping."""
