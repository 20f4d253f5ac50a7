"""Signer loading, revert decoding, fee-too-low detection across clients, the journal, the ABIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from oracle.config.loading import load_settings
from oracle.execution.el import decode_revert
from oracle.execution.signer import SignerError, load_signer
from oracle.execution.txmanager import Fees, _parts, is_fee_too_low
from oracle.journal import Journal

pytestmark = pytest.mark.unit
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


def settings_with(tmp_path: Path, signer: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(
        "chain_id: 1\nbeacon_endpoints: [http://b:1]\nexecution_endpoints: [http://e:1]\n"
        f'contracts: {{factory: "0x5FbDB2315678afecb367f032d93F642f64180aa3"}}\nsigner: {signer}\n'
    )
    return load_settings(path, environ={}), path


def test_key_file_and_keystore(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY + "\n")
    settings, path = settings_with(tmp_path, "{key_file: k}")
    assert load_signer(settings, path).address == Account.from_key(KEY).address  # type: ignore[arg-type, union-attr]
    keystore = Account.encrypt(KEY, "correct horse", iterations=2)
    (tmp_path / "ks.json").write_text(json.dumps(keystore))
    (tmp_path / "pw").write_text("correct horse\n")
    settings, path = settings_with(tmp_path, "{keystore_file: ks.json, password_file: pw}")
    assert load_signer(settings, path).address == Account.from_key(KEY).address  # type: ignore[arg-type, union-attr]
    (tmp_path / "pw").write_text("wrong\n")
    with pytest.raises(SignerError, match="cannot decrypt with the password in") as info:
        load_signer(settings, path)  # type: ignore[arg-type]
    assert "correct horse" not in str(info.value) and KEY[4:20] not in str(info.value)


def test_a_bad_key_file_never_echoes_its_content(tmp_path: Path) -> None:
    secret = "0x" + "zz" * 32
    (tmp_path / "k").write_text(secret)
    settings, path = settings_with(tmp_path, "{key_file: k}")
    with pytest.raises(SignerError) as info:
        load_signer(settings, path)  # type: ignore[arg-type]
    assert "not a 32-byte hex private key" in str(info.value) and secret not in str(info.value)


def test_reverts_decode_by_selector() -> None:
    assert decode_revert("0xb7d09497") == "InvalidTimestamp"
    assert decode_revert("0x09bde339") == "InvalidProof"
    assert decode_revert("0x1b6661c3") == "BranchHasMissingItem"
    assert decode_revert("0xe2517d3f" + "00" * 64) == "AccessControlUnauthorizedAccount"
    assert decode_revert("0xdeadbeef") == "unknown error 0xdeadbeef"
    assert decode_revert(None) == "revert without reason"


@pytest.mark.parametrize(
    "message",
    [
        "replacement transaction underpriced",  # geth, anvil
        "transaction underpriced",
        "FeeTooLow: fee too low",  # nethermind
        "max fee per gas less than block base fee",  # geth, reth
        "INTERNAL_ERROR: gas price too low",
        "insufficient fee",
    ],
)
def test_fee_too_low_is_recognised_across_clients(message: str) -> None:
    assert is_fee_too_low(message)


def test_fee_bump_clears_the_ten_percent_minimum() -> None:
    bumped = Fees(100, 10).bumped(12.5)
    assert bumped.max_fee >= 110 and bumped.priority_fee >= 11


def test_journal_claims_each_pool_and_slot_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    first = journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h")
    assert first is not None
    assert journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h") is None
    journal.record_transaction(first, "0xabc", 7, "0xraw", 10, 1)
    assert [r.status for r in journal.in_flight()] == ["sent"]
    reopened = Journal(tmp_path / "j.sqlite")  # a restarted daemon sees it
    assert reopened.in_flight()[0].nonce == 7
    assert reopened.transactions(first) == [("0xabc", 7, "0xraw", 10, 1)]
    reopened.finish(first, "mined", tx_hash="0xabc", block_number=3, gas_used=50_000, fee_wei=1)
    assert reopened.in_flight() == [] and reopened.last_landed("0xpool").slot == 100  # type: ignore[union-attr]


def test_a_landed_report_can_be_reopened_after_a_reorganisation(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    early, late = (journal.prepare("0xpool", "0xpk", 1, slot, 1, 5, 4, "h") for slot in (100, 101))
    assert early is not None and late is not None
    for report_id, block in ((early, 50), (late, 60)):
        journal.record_transaction(report_id, f"0x{report_id:064x}", report_id, "0xraw", 2, 1)
        journal.finish(report_id, "mined", block_number=block)
    # Only what landed after the finalized block can still leave the chain.
    assert [(row.id, block) for row, block in journal.landed_after(55)] == [(late, 60)]
    journal.reopen(late, "its block 60 left the chain (reorganisation)")
    assert [row.id for row in journal.in_flight()] == [late]
    assert journal.landed_after(0)[0][0].id == early
    assert journal.transactions(late)[0][0] == f"0x{late:064x}"  # still followed by its hash


def test_unanswered_broadcasts_are_told_from_refusals() -> None:
    unanswered = (
        "eth_sendRawTransaction failed on every endpoint: a:1: TransportError: a:1 x: timed out; b:2: TimeoutError: "
    )
    refused = "eth_sendRawTransaction failed on every endpoint: a:1: Web3RPCError: {'message': 'insufficient funds'}"
    assert [p.split(": ")[1] for p in _parts(unanswered)] == ["TransportError", "TimeoutError"]
    assert [p.split(": ")[1] for p in _parts(refused)] == ["Web3RPCError"]


def test_a_journal_from_a_newer_daemon_or_not_a_journal_is_refused(tmp_path: Path) -> None:
    from oracle.journal import JournalError

    newer = tmp_path / "newer.sqlite"
    Journal(newer).close()
    import sqlite3

    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(JournalError, match="schema 99 is newer than this daemon's"):
        Journal(newer)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="not a usable journal"):
        Journal(garbage)


def test_a_journal_that_cannot_be_written_says_so_in_one_line(tmp_path: Path) -> None:
    """Disk full, a read-only volume: every write (claim, signed transaction, outcome) raises JournalError naming
    the file, so the cycle stops before signing; reads still answer; a duplicate claim is still None."""
    import sqlite3

    from oracle.journal import JournalError

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    claimed = journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h")
    assert claimed is not None and journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h") is None
    journal.db.close()
    journal.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)  # writes now refused
    with pytest.raises(JournalError, match=r"j.sqlite: cannot write the journal \(attempt to write a readonly"):
        journal.prepare("0xpool", "0xpk", 1, 101, 1, 5, 4, "h")
    with pytest.raises(JournalError, match="nothing is signed until it works again"):
        journal.record_transaction(claimed, "0xtx", 0, "0xraw", 1, 1)
    assert [row.id for row in journal.in_flight()] == [claimed]
    journal.close()


def test_an_old_journal_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    from oracle.journal import SCHEMA

    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)  # as version 1 wrote it: no books column, user_version 0
    db.close()
    journal = Journal(path)
    report = journal.prepare("0xpool", "0xpk", 1, 100, 1, 5, 4, "h", "10,20")
    assert report is not None and journal.in_flight()[0].books == "10,20"


def test_a_relative_journal_path_follows_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _ = settings_with(tmp_path, "{}")
    monkeypatch.chdir("/")
    assert settings.service.journal_path == str(tmp_path / "pool-oracle.sqlite")  # type: ignore[attr-defined]


def test_a_world_readable_key_file_is_said_loudly(tmp_path: Path) -> None:
    from oracle.execution.signer import loose_secret_files

    (tmp_path / "k").write_text(KEY + "\n")
    (tmp_path / "k").chmod(0o644)
    settings, path = settings_with(tmp_path, "{key_file: k}")
    (warning,) = loose_secret_files(settings, path)  # type: ignore[arg-type]
    assert "signer.key_file" in warning and "readable by group or others" in warning and KEY[4:20] not in warning
    (tmp_path / "k").chmod(0o600)
    assert loose_secret_files(settings, path) == []  # type: ignore[arg-type]
