"""The journal (SQLite): every report's inputs, proof hash, transactions, nonce and outcome, written before
and after sending, so that a daemon killed at any point resumes without a duplicate report and without
losing track of a pending transaction."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    pool TEXT NOT NULL,
    pubkey TEXT NOT NULL,
    validator_index INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    balance_gwei INTEGER NOT NULL,
    previous_deposits_gwei INTEGER NOT NULL,
    proof_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,          -- prepared, sent, mined, reverted, failed, superseded, stale, cancelled
    nonce INTEGER,
    tx_hash TEXT,
    reason TEXT,
    block_number INTEGER,
    gas_used INTEGER,
    fee_wei INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (pool, slot)
);
CREATE TABLE IF NOT EXISTS transactions (
    tx_hash TEXT PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id),
    nonce INTEGER NOT NULL,
    raw_tx TEXT NOT NULL,          -- signed, public data; lets a restarted daemon rebroadcast
    max_fee_wei INTEGER NOT NULL,
    priority_fee_wei INTEGER NOT NULL,
    created_at REAL NOT NULL,      -- wall clock, for people only: it can step back
    seq INTEGER                    -- signing order over the journal (1, 2, ...): what transactions are ordered by
);
CREATE INDEX IF NOT EXISTS reports_by_status ON reports (status);
"""
IN_FLIGHT = ("prepared", "sent")
# 2: reports.books, the pool's (totalSupply, totalDeposits) when the report was decided.
# 3: transactions.seq, the signing order (created_at, the wall clock, can step back).
# 4: the keeper's actions and their transactions (an older daemon would not see them in flight: it refuses).
SCHEMA_VERSION = 4
ACTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY,
    duty TEXT NOT NULL,            -- activation, finalize, process_rewards, retry_full_exit
    key TEXT NOT NULL UNIQUE,      -- duty, subject and the block or slot it was decided at: claimed once
    pool TEXT NOT NULL,
    target TEXT NOT NULL,
    data TEXT NOT NULL,
    value_wei TEXT NOT NULL,       -- decimal: may exceed SQLite's integers
    proof_timestamp INTEGER,       -- an activation's proofs must land within MAX_TIMESTAMP_AGE of it
    status TEXT NOT NULL,          -- prepared, sent, then as reports
    nonce INTEGER,
    tx_hash TEXT,
    reason TEXT,
    block_number INTEGER,
    gas_used INTEGER,
    fee_wei INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS action_transactions (
    tx_hash TEXT PRIMARY KEY,
    action_id INTEGER NOT NULL REFERENCES actions(id),
    nonce INTEGER NOT NULL,
    raw_tx TEXT NOT NULL,
    max_fee_wei INTEGER NOT NULL,
    priority_fee_wei INTEGER NOT NULL,
    created_at REAL NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_by_status ON actions (status);
"""


class JournalError(Exception):
    """A journal this daemon cannot use (written by a newer version, or not a journal), or cannot write now
    (disk full, read-only): nothing is signed that the journal has not recorded."""


@dataclass(frozen=True)
class ReportRow:
    id: int
    pool: str
    pubkey: str
    validator_index: int
    slot: int
    timestamp: int
    balance_gwei: int
    previous_deposits_gwei: int
    status: str
    nonce: int | None
    tx_hash: str | None
    reason: str | None
    updated_at: float
    books: str | None = None  # "totalSupply,totalDeposits" when decided; None in journals before version 2


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: each statement commits at once (the daemon may be killed at any point).
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"{self.path}: cannot open the journal ({exc})") from None
        try:
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path}: journal schema {version} is newer than this daemon's ({SCHEMA_VERSION}); "
                    "run the newer version, or move the file aside"
                )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(reports)")}
            if "books" not in columns:
                self.db.execute("ALTER TABLE reports ADD COLUMN books TEXT")
            self._add_sequence()
            self.db.executescript(ACTIONS_SCHEMA)
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None
        self.actions = ActionLedger(self)

    def _add_sequence(self) -> None:
        """Journals before version 3: transactions.seq added and filled in insertion order (the rowid; the table
        has never had a row deleted), in one transaction, so that a daemon killed half-way finds it undone."""
        if "seq" in {row[1] for row in self.db.execute("PRAGMA table_info(transactions)")}:
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("ALTER TABLE transactions ADD COLUMN seq INTEGER")
            self.db.execute("UPDATE transactions SET seq = rowid")
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def _write(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._execute("write", sql, params)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._execute("read", sql, params)

    def _execute(self, action: str, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        """sqlite3's errors (disk full, read-only, I/O) as one JournalError line naming the file; a duplicate
        claim (IntegrityError) is an answer, not an error."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise JournalError(
                f"{self.path}: cannot {action} the journal ({exc}); nothing is signed until it works again"
            ) from None

    def _row(self, row: tuple[Any, ...]) -> ReportRow:
        return ReportRow(*row)

    _COLUMNS = (
        "id, pool, pubkey, validator_index, slot, timestamp, balance_gwei, previous_deposits_gwei, status, nonce, "
        "tx_hash, reason, updated_at, books"
    )

    def prepare(
        self,
        pool: str,
        pubkey: str,
        index: int,
        slot: int,
        timestamp: int,
        balance: int,
        previous: int,
        proof_hash: str,
        books: str | None = None,
    ) -> int | None:
        """Claim the report of `pool` at `slot`; None if it exists already (sent before, by us or a replica
        sharing this journal)."""
        now = time.time()
        try:
            cursor = self._write(
                "INSERT INTO reports (pool, pubkey, validator_index, slot, timestamp, balance_gwei, "
                "previous_deposits_gwei, proof_sha256, status, created_at, updated_at, books) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'prepared', ?, ?, ?)",
                (pool, pubkey, index, slot, timestamp, balance, previous, proof_hash, now, now, books),
            )
        except sqlite3.IntegrityError:
            return None
        return cursor.lastrowid

    def record_transaction(self, report_id: int, tx_hash: str, nonce: int, raw_tx: str, max_fee: int, tip: int) -> None:
        """Written after signing and before broadcasting."""
        now = time.time()
        # seq in the same statement: atomic under SQLite's write lock, also with a replica sharing the journal.
        self._write(
            "INSERT OR IGNORE INTO transactions (tx_hash, report_id, nonce, raw_tx, max_fee_wei, priority_fee_wei, "
            "created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM transactions))",
            (tx_hash, report_id, nonce, raw_tx, max_fee, tip, now),
        )
        self._write(
            "UPDATE reports SET status='sent', nonce=?, tx_hash=?, updated_at=? WHERE id=?",
            (nonce, tx_hash, now, report_id),
        )

    def finish(
        self, report_id: int, status: str, *, reason: str | None = None, tx_hash: str | None = None,
        block_number: int | None = None, gas_used: int | None = None, fee_wei: int | None = None,
    ) -> None:  # fmt: skip
        self._finish_row("reports", report_id, status, reason, tx_hash, block_number, gas_used, fee_wei)

    def _finish_row(self, table: str, row_id: int, status: str, reason: str | None, tx_hash: str | None,
                    block_number: int | None, gas_used: int | None, fee_wei: int | None) -> None:  # fmt: skip
        """A report's or an action's outcome (both tables keep the same outcome columns)."""
        self._write(
            f"UPDATE {table} SET status=?, reason=?, tx_hash=COALESCE(?, tx_hash), block_number=?, gas_used=?, "
            "fee_wei=?, updated_at=? WHERE id=?",
            (status, reason, tx_hash, block_number, gas_used, fee_wei, time.time(), row_id),
        )

    def landed_after(self, block: int) -> list[tuple[ReportRow, int]]:
        """Reports mined after `block` (those a reorganisation could still take away), with their blocks."""
        rows = self._read(
            f"SELECT {self._COLUMNS}, block_number FROM reports WHERE status='mined' AND block_number>? ORDER BY id",
            (block,),
        ).fetchall()
        return [(self._row(r[:-1]), int(r[-1])) for r in rows]

    def reopen(self, report_id: int, reason: str) -> None:
        """A landed report whose block left the chain: in flight again, so that its transaction is followed."""
        self._write(
            "UPDATE reports SET status='sent', reason=?, block_number=NULL, gas_used=NULL, fee_wei=NULL, "
            "updated_at=? WHERE id=?",
            (reason, time.time(), report_id),
        )

    def in_flight(self) -> list[ReportRow]:
        rows = self._read(f"SELECT {self._COLUMNS} FROM reports WHERE status IN {IN_FLIGHT} ORDER BY id").fetchall()
        return [self._row(r) for r in rows]

    def transactions(self, report_id: int) -> list[tuple[str, int, str, int, int]]:
        """(hash, nonce, raw, max fee, tip) of every transaction signed for a report, in signing order."""
        rows = self._read(
            "SELECT tx_hash, nonce, raw_tx, max_fee_wei, priority_fee_wei FROM transactions "
            "WHERE report_id=? ORDER BY seq",
            (report_id,),
        ).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]

    def last_landed(self, pool: str) -> ReportRow | None:
        row = self._read(
            f"SELECT {self._COLUMNS} FROM reports WHERE pool=? AND status='mined' ORDER BY slot DESC LIMIT 1",
            (pool,),
        ).fetchone()
        return self._row(row) if row else None

    def landed_since(self, pool: str, since: float) -> list[ReportRow]:
        rows = self._read(
            f"SELECT {self._COLUMNS} FROM reports WHERE pool=? AND status='mined' AND updated_at>=? ORDER BY slot",
            (pool, since),
        ).fetchall()
        return [self._row(r) for r in rows]

    def recent(self, limit: int = 50) -> list[ReportRow]:
        rows = self._read(f"SELECT {self._COLUMNS} FROM reports ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._row(r) for r in rows]

    def count(self, status: str | None = None) -> int:
        if status is None:
            return int(self._read("SELECT COUNT(*) FROM reports").fetchone()[0])
        return int(self._read("SELECT COUNT(*) FROM reports WHERE status=?", (status,)).fetchone()[0])

    # -- the keeper's actions -------------------------------------------------------------------------------------

    def claim_action(self, duty: str, key: str, pool: str, target: str, data: str, value_wei: int,
                     proof_timestamp: int | None) -> int | None:  # fmt: skip
        """Claim the action `key`; None if it exists already (decided before, by us or a replica)."""
        now = time.time()
        try:
            cursor = self._write(
                "INSERT INTO actions (duty, key, pool, target, data, value_wei, proof_timestamp, status, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'prepared', ?, ?)",
                (duty, key, pool, target, data, str(value_wei), proof_timestamp, now, now),
            )
        except sqlite3.IntegrityError:
            return None
        return cursor.lastrowid

    def finish_action(
        self, action_id: int, status: str, *, reason: str | None = None, tx_hash: str | None = None,
        block_number: int | None = None, gas_used: int | None = None, fee_wei: int | None = None,
    ) -> None:  # fmt: skip
        self._finish_row("actions", action_id, status, reason, tx_hash, block_number, gas_used, fee_wei)

    _ACTION_COLUMNS = (
        "id, duty, key, pool, target, data, value_wei, proof_timestamp, status, nonce, tx_hash, reason, created_at, "
        "updated_at"
    )

    def actions_in_flight(self) -> list[ActionRow]:
        rows = self._read(
            f"SELECT {self._ACTION_COLUMNS} FROM actions WHERE status IN {IN_FLIGHT} ORDER BY id"
        ).fetchall()
        return [_action_row(r) for r in rows]

    def recent_actions(self, limit: int = 50) -> list[ActionRow]:
        rows = self._read(f"SELECT {self._ACTION_COLUMNS} FROM actions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [_action_row(r) for r in rows]

    def anything_in_flight(self) -> str | None:
        """What of this key's is broadcast and not settled (a report or an action), if anything: one transaction
        in flight per key, whichever kind, as both draw on one nonce sequence."""
        for row in self.in_flight():
            if row.status == "sent":
                return f"the report of {row.pool} at slot {row.slot}"
        for action in self.actions_in_flight():
            if action.status == "sent":
                return f"the {action.duty} of {action.pool or action.target}"
        return None


@dataclass(frozen=True)
class ActionRow:
    id: int
    duty: str
    key: str
    pool: str
    target: str
    data: str
    value_wei: int
    proof_timestamp: int | None
    status: str
    nonce: int | None
    tx_hash: str | None
    reason: str | None
    created_at: float
    updated_at: float


def _action_row(row: tuple[Any, ...]) -> ActionRow:
    values = list(row)
    values[6] = int(values[6])
    return ActionRow(*values)


class ActionLedger:
    """The transactions of the keeper's actions, with the two calls the transaction manager makes of a ledger
    (the journal itself is the reports' ledger)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def record_transaction(self, action_id: int, tx_hash: str, nonce: int, raw_tx: str, max_fee: int, tip: int) -> None:
        """Written after signing and before broadcasting."""
        now = time.time()
        self.journal._write(
            "INSERT OR IGNORE INTO action_transactions (tx_hash, action_id, nonce, raw_tx, max_fee_wei, "
            "priority_fee_wei, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM action_transactions))",
            (tx_hash, action_id, nonce, raw_tx, max_fee, tip, now),
        )
        self.journal._write(
            "UPDATE actions SET status='sent', nonce=?, tx_hash=?, updated_at=? WHERE id=?",
            (nonce, tx_hash, now, action_id),
        )

    def transactions(self, action_id: int) -> list[tuple[str, int, str, int, int]]:
        """(hash, nonce, raw, max fee, tip) of every transaction signed for an action, in signing order."""
        rows = self.journal._read(
            "SELECT tx_hash, nonce, raw_tx, max_fee_wei, priority_fee_wei FROM action_transactions "
            "WHERE action_id=? ORDER BY seq",
            (action_id,),
        ).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]
