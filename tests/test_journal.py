"""The journal's order of a report's transactions: the order they were signed in, whatever the wall clock did
(a clock stepped back by NTP or an operator must not make `resume` follow an older transaction), in journals
of this version and in those written before it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from oracle import journal as journal_module
from oracle.journal import Journal

pytestmark = pytest.mark.unit


def test_transactions_keep_their_signing_order_when_the_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    report_id = journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h", "1,2")
    assert report_id is not None
    monkeypatch.setattr(journal_module.time, "time", lambda: 2_000_000_000.0)
    journal.record_transaction(report_id, "0xfirst", 7, "0x01", 10, 1)
    monkeypatch.setattr(journal_module.time, "time", lambda: 1_999_999_000.0)  # stepped back a quarter hour
    journal.record_transaction(report_id, "0xreplacement", 7, "0x02", 12, 2)
    assert [h for h, *_ in journal.transactions(report_id)] == ["0xfirst", "0xreplacement"]
    journal.close()


OLD_TRANSACTIONS = """
CREATE TABLE transactions (
    tx_hash TEXT PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    nonce INTEGER NOT NULL,
    raw_tx TEXT NOT NULL,
    max_fee_wei INTEGER NOT NULL,
    priority_fee_wei INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""


def test_a_journal_of_the_previous_version_keeps_its_order_and_takes_new_transactions(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_TRANSACTIONS)
    # Written by a daemon whose clock stepped back between the two: created_at says the opposite of the order.
    db.execute("INSERT INTO transactions VALUES ('0xfirst', 1, 7, '0x01', 10, 1, 2000000000.0)")
    db.execute("INSERT INTO transactions VALUES ('0xsecond', 1, 7, '0x02', 12, 2, 1999999000.0)")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    journal = Journal(path)
    assert [h for h, *_ in journal.transactions(1)] == ["0xfirst", "0xsecond"]
    journal.record_transaction(1, "0xthird", 7, "0x03", 14, 3)
    assert [h for h, *_ in journal.transactions(1)] == ["0xfirst", "0xsecond", "0xthird"]
    journal.close()
    assert Journal(path).transactions(1)[-1][0] == "0xthird"  # reopened: migrated once, order kept
