"""Running Sextant as a service: the log file and its rotation, the health check
(SEXTANT_SERVICE__*)."""

from pathlib import Path

from pydantic import Field

from sextant.config.base import Section


class ServiceSettings(Section):
    log_file: Path | None = Field(
        None,
        description="`sextant loop` also writes its log here (the lines it writes on stderr), "
        "rotated by size. Empty = stderr only.",
    )
    log_max_bytes: int = Field(
        10_000_000, ge=10_000, description="Rotate the log file when it reaches this size."
    )
    log_backups: int = Field(
        5, ge=0, le=100, description="Rotated log files kept (sextant.log.1 ... .N)."
    )
    health_max_age_s: float = Field(
        600,
        gt=0,
        description="`sextant health` fails when the loop's heartbeat is older than this. The "
        "loop beats after every monitor pass (30 s) and cycle; a cycle with slow LLM answers "
        "can take minutes.",
    )
