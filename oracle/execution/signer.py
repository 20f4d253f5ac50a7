"""The reporting key: from an encrypted keystore plus a password file, or a raw key file. Errors name the
file and the problem, never its content."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.config.loading import resolve_path
from oracle.config.settings import Settings

HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class SignerError(Exception):
    """The configured key cannot be loaded: one line naming the file."""


def loosely_readable(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def loose_secret_files(settings: Settings, config_path: str | Path | None) -> list[str]:
    """The key and password files that others than their owner can read (Kubernetes and compose secrets
    are often mounted 0644): said loudly at start, not refused, as the deployment may need it."""
    signer = settings.signer
    named = [("signer.key_file", signer.key_file), ("signer.keystore_file", signer.keystore_file),
             ("signer.password_file", signer.password_file)]  # fmt: skip
    loose = []
    for setting, value in named:
        if value:
            path = resolve_path(config_path, value)
            if path.is_file() and loosely_readable(path):
                loose.append(f"{setting} {path} is readable by group or others (chmod 600 it, or mount it 0400)")
    return loose


def is_eip2335(keystore: object) -> bool:
    """A validator operator's BLS keystore (EIP-2335: version 4, crypto.kdf/checksum/cipher objects), which an
    execution-layer (Web3 Secret Storage, version 3) decryption would report as a wrong password."""
    if not isinstance(keystore, dict) or keystore.get("version") != 4:
        return False
    crypto = keystore.get("crypto")
    parts = ("kdf", "checksum", "cipher")
    return isinstance(crypto, dict) and all(isinstance(crypto.get(part), dict) for part in parts)


def load_signer(settings: Settings, config_path: str | Path | None) -> LocalAccount | None:
    """The signing account, or None for audit mode (no signer configured)."""
    signer = settings.signer
    if signer.key_file:
        path = resolve_path(config_path, signer.key_file)
        try:
            text = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SignerError(f"signer.key_file {path}: cannot read ({type(exc).__name__})") from None
        if not HEX_KEY.match(text):
            raise SignerError(f"signer.key_file {path}: not a 32-byte hex private key")
        try:
            account: LocalAccount = Account.from_key(text)
        except ValueError:
            raise SignerError(f"signer.key_file {path}: not a valid secp256k1 private key") from None
        return account
    if signer.keystore_file:
        keystore_path = resolve_path(config_path, signer.keystore_file)
        password_path = resolve_path(config_path, signer.password_file)
        try:
            keystore = json.loads(keystore_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SignerError(
                f"signer.keystore_file {keystore_path}: not a JSON keystore ({type(exc).__name__})"
            ) from None
        if is_eip2335(keystore):
            raise SignerError(
                f"signer.keystore_file {keystore_path}: an EIP-2335 validator (BLS) keystore, not an execution-layer "
                "key: give the keystore (or key_file) of the account holding FEEDER_ROLE"
            )
        try:
            password = password_path.read_text().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise SignerError(f"signer.password_file {password_path}: cannot read ({type(exc).__name__})") from None
        try:
            key = Account.decrypt(keystore, password)
        except ValueError:
            raise SignerError(
                f"signer.keystore_file {keystore_path}: cannot decrypt with the password in {password_path}"
            ) from None
        except (KeyError, TypeError):
            raise SignerError(f"signer.keystore_file {keystore_path}: not a valid keystore") from None
        decrypted: LocalAccount = Account.from_key(key)
        return decrypted
    return None
