"""Base class for every settings section: strict, frozen, unknown fields refused."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section. Frozen so a running cycle cannot mutate its own config."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
