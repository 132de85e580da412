"""Named strategy profiles: TOML presets shipped with the package.

A profile is a settings file like the one `--config` takes, layered between the code's defaults
and that file: defaults < profile < --config file < .env < environment < command line. The code's
defaults are the product spec's numbers; the `spec` profile writes them out (a test holds it to
the defaults), and every other profile changes what its page in docs/strategy/profiles/ says.
"""

from pathlib import Path

PROFILES_DIR = Path(__file__).resolve().parent
# The profile used when none is named (--profile, SEXTANT_PROFILE or a config file's `profile`).
DEFAULT_PROFILE = "spec"


def available_profiles() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))


def profile_path(name: str) -> Path:
    """The TOML file of a shipped profile; ValueError naming the known ones otherwise."""
    path = PROFILES_DIR / f"{name}.toml"
    if not name or "/" in name or "\\" in name or not path.is_file():
        known = ", ".join(available_profiles())
        raise ValueError(f"unknown profile {name!r} (known: {known})")
    return path
