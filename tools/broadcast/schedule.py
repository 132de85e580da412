"""When scheduled posts are due. Pure functions of a time the caller's clock gives."""

from datetime import UTC, datetime, timedelta


def last_daily(now: datetime, hour: int) -> datetime:
    """The latest `hour`:00 UTC at or before `now`."""
    now = now.astimezone(UTC)
    instant = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return instant if instant <= now else instant - timedelta(days=1)


def last_weekly(now: datetime, weekday: int, hour: int) -> datetime:
    """The latest `weekday` (Monday = 0) at `hour`:00 UTC at or before `now`."""
    instant = last_daily(now, hour)
    return instant - timedelta(days=(instant.weekday() - weekday) % 7)


def pulse_slot(as_of: datetime, every_hours: int) -> datetime:
    """The Market Pulse slot containing `as_of`: slots start every N hours from UTC midnight."""
    as_of = as_of.astimezone(UTC)
    hour = (as_of.hour // every_hours) * every_hours
    return as_of.replace(hour=hour, minute=0, second=0, microsecond=0)
