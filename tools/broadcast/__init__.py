"""Broadcasters: where posts about signals go (console now, Telegram when configured)."""
