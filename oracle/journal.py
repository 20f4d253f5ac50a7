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
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_by_status ON reports (status);
"""
IN_FLIGHT = ("prepared", "sent")
# 2: reports.books, the pool's (totalSupply, totalDeposits) when the report was decided.
SCHEMA_VERSION = 2


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
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise JournalError(f"{self.path}: not a usable journal ({exc})") from None

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
        self._write(
            "INSERT OR IGNORE INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        self._write(
            "UPDATE reports SET status=?, reason=?, tx_hash=COALESCE(?, tx_hash), block_number=?, gas_used=?, "
            "fee_wei=?, updated_at=? WHERE id=?",
            (status, reason, tx_hash, block_number, gas_used, fee_wei, time.time(), report_id),
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
        """(hash, nonce, raw, max fee, tip) of every broadcast for a report, oldest first."""
        rows = self._read(
            "SELECT tx_hash, nonce, raw_tx, max_fee_wei, priority_fee_wei FROM transactions "
            "WHERE report_id=? ORDER BY created_at",
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
