"""The fault matrix, row by row (see matrix.py). `make test` runs the short form (three rows); `make faults`
runs every row and writes RELIABILITY.md from the results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.daemon.harness import Devnet
from tests.faults.matrix import CASES, SHORT, Case, record, run_case

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    net = Devnet(tmp_path_factory.mktemp("faults"), "--validators", "12", "--pools", "10", "--deposit-delay-slots", "3")
    yield net
    net.stop()


@pytest.fixture(scope="module")
def ethereum_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """For the rows only Ethereum layouts have (reorganisations: beacon-kit's blocks are final at once); no
    rewards, so that a report falls due only when the row makes it."""
    net = Devnet(tmp_path_factory.mktemp("faults-eth"), "--layout", "ethereum-electra", "--validators", "12",
                 "--pools", "10", "--slots-per-epoch", "4", "--deposit-delay-slots", "3", "--no-rewards",
                 "--reorg-depth", "32")  # fmt: skip
    yield net
    net.stop()


def _param(case: Case) -> object:
    marks = [] if case.name in SHORT else [pytest.mark.faults_full]
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_fault(case: Case, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    devnet: Devnet = request.getfixturevalue("ethereum_devnet" if case.layout == "ethereum" else "devnet")
    pool = devnet.pools[CASES.index(case) % len(devnet.pools)]
    row = run_case(devnet, pool, case, tmp_path_factory.mktemp("row"))
    record(row)
    # The promises: nothing unverified, no duplicate, nothing sent while it could not be verified, recovery.
    assert row.unverified == 0, row
    assert row.duplicates == 0, row
    if not case.may_send:
        assert row.sent_during_fault == 0, row
    if case.must_send:  # a fault the daemon works around: the report lands while it lasts
        assert row.sent_during_fault >= 1, row
    assert row.recovery_seconds is not None and row.recovery_seconds < 60, row
    assert set(row.healthz) == {200}, row  # the loop stays alive through every fault
    if case.metric_after_recovery or case.metric_must_move:  # it must have happened (been refused), not slipped by
        assert not row.metric.endswith(" +0"), row
