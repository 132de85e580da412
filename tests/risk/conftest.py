import pytest

from sextant.config import Settings
from tests.risk.builders import default_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The spec defaults, untouched by the environment or a .env file."""
    return default_settings()
