"""One sandbox, one PostgreSQL and one production stack for the session; a reset sandbox per
test. Server logs go to test-artifacts/production/ for CI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from engagement_ranker_tests.e2e.stack import REPO_ROOT
from engagement_ranker_tests.production.stack import ProductionStack, running_production

ARTIFACTS = REPO_ROOT / "test-artifacts" / "production"


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProductionStack]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with running_production(tmp_path_factory.mktemp("production"), ARTIFACTS) as stack:
        yield stack


@pytest.fixture
def production(production_stack: ProductionStack) -> ProductionStack:
    """The shared stack, its sandbox back to the seeded records with no faults."""
    production_stack.control.reset()
    return production_stack
