"""Shared test set-up. Fixtures live one module per concern in tests/fixtures/, loaded here as plugins."""
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

pytest_plugins = sorted(f"tests.fixtures.{p.stem}" for p in FIXTURES.glob("*.py")
                        if not p.stem.startswith("_"))
