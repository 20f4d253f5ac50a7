"""What each `pool-oracle` command does (the parser and main are in oracle.cli)."""

from __future__ import annotations

import argparse
import json
import mmap
import sys
from pathlib import Path
from typing import Any

from oracle import safejson

EXIT_FAILED = 1  # a check or verification failed
EXIT_BAD_INPUT = 2  # unusable input: state, proof file, config, arguments


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def _read_input(path: str) -> Any:
    """The bytes of a file (memory-mapped, no copy) or of stdin for '-'."""
    if path == "-":
        return sys.stdin.buffer.read()
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{path}: no such file")
    if file.stat().st_size == 0:
        raise CLIError(f"{path}: file is empty")
    with file.open("rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _write_json(doc: Any, output: str | None) -> None:
    text = json.dumps(doc, indent=2) + "\n"
    if output and output != "-":
        Path(output).write_text(text)
    else:
        sys.stdout.write(text)


def parse_indices(texts: list[str], where: str) -> list[int]:
    """Validator indices from `N`, `N,M,...` and `A-B` (inclusive) tokens; CLIError names a bad one."""
    out: list[int] = []
    for text in texts:
        for token in text.replace(",", " ").split():
            first, dash, last = token.partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise CLIError(f"{where}: {token[:40]!r} is not a validator index or a range A-B")
            if dash:
                low, high = int(first), int(last)
                if high < low or high - low >= 1 << 22:
                    raise CLIError(f"{where}: range {token!r} is empty or over 4,194,304 indices")
                out.extend(range(low, high + 1))
            else:
                out.append(int(first))
    return out


def cmd_prove(args: argparse.Namespace) -> int:
    from oracle.ssz.errors import ProofError, SSZError
    from oracle.ssz.state import load_state, state_json

    args.index = parse_indices(args.index, "--index")
    if args.indices is not None:
        try:
            text = Path(args.indices).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"--indices: cannot read {args.indices}: {exc}") from None
        args.index += parse_indices([text], f"--indices {args.indices}")
    if not args.index:
        raise CLIError("give the validators: --index N (repeatable, lists and ranges) or --indices FILE")
    if args.with_pubkeys and not args.multi:
        raise CLIError("--with-pubkeys goes with --multi (a single-proof document always proves the pubkeys)")
    if args.multi:
        from oracle.ssz.multiproof_document import check_validator_indices

        try:
            check_validator_indices(args.index)
        except ProofError as exc:
            raise CLIError(f"--index: {exc}") from None
    data = _read_input(args.state)
    layout = args.layout
    if bytes(data[:64]).lstrip()[:1] == b"{":  # a debug-state response saved as served (beacon-kit: JSON only)
        from oracle.ssz.bkjson import read_debug_state
        from oracle.ssz.layouts import get_layout

        try:
            served, version, data = read_debug_state(safejson.loads(bytes(data)))
            if layout != "auto" and get_layout(layout) is not served:
                raise SSZError(f"the response is a {version} state ({served.name}), not {layout}", path="$.version")
        except SSZError as exc:
            raise CLIError(f"{args.state}: {exc}") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too deep
            raise CLIError(f"{args.state}: starts like JSON but is not JSON ({exc})") from None
        layout = served
    try:
        state = load_state(data, layout)
        if args.multi:
            from oracle.ssz.state_multiproof import prove_pool

            document = prove_pool(state, args.index, with_pubkeys=args.with_pubkeys).to_json()
        else:
            document = state_json(state, [state.prove_validator(index) for index in args.index])
    except (SSZError, ProofError) as exc:
        raise CLIError(f"{args.state}: {exc}") from None
    _write_json(document, args.output)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from oracle.ssz.errors import ProofError
    from oracle.ssz.multiproof_document import is_multiproof_document
    from oracle.ssz.multiproof_verify import verify_multiproof_document
    from oracle.ssz.verify import verify_document

    raw = _read_input(args.proof)
    try:
        doc = safejson.loads(bytes(raw))
    except ValueError as exc:
        raise CLIError(f"{args.proof}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise CLIError(f"{args.proof}: expected a JSON object")
    try:
        checks = verify_multiproof_document(doc) if is_multiproof_document(doc) else verify_document(doc)
    except ProofError as exc:
        raise CLIError(f"{args.proof}: {exc}") from None
    failed = [c for c in checks if not c.ok]
    for check in checks:
        if args.verbose or not check.ok:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.subject}: {check.detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return EXIT_FAILED if failed else 0


def cmd_sample_state(args: argparse.Namespace) -> int:
    from oracle.ssz.sample import sample_state

    data = sample_state(args.layout, args.validators, seed=args.seed, slot=args.slot)
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        Path(args.output).write_bytes(data)
        print(
            f"wrote {args.output}: {args.layout}, {args.validators} validators, {len(data)} bytes",
            file=sys.stderr,
        )
    return 0


def cmd_devnet(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from oracle.devnet.anvil import DevnetError
    from oracle.devnet.network import Devnet, DevnetConfig, format_banner
    from oracle.devnet.tools import ToolMissing

    try:
        config = DevnetConfig(
            layout=args.layout,
            validators=args.validators,
            pools=args.pools,
            slot_seconds=args.slot_seconds,
            host=args.host,
            beacon_port=args.beacon_port,
            rpc_port=args.rpc_port,
            open_reporting=args.open_reporting,
            ownable_oracle=args.ownable_oracle,
            seed=args.seed,
            random_events=args.random_events,
            reorg_depth=args.reorg_depth,
            rewards=args.rewards,
            slots_per_epoch=args.slots_per_epoch,
            deposit_delay_slots=args.deposit_delay_slots,
            withdrawal_delay_epochs=args.withdrawal_delay_epochs,
            finalization_delay_blocks=args.finalization_delay_blocks,
            proof_api=args.proof_api,
            set_pool_validators=args.set_pool_validators,
        )
    except DevnetError as exc:
        raise CLIError(str(exc)) from None

    async def serve() -> None:
        devnet = Devnet(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await devnet.start()
        try:
            print(format_banner(devnet), flush=True)
            if args.write_config:
                key_file = devnet.write_config(Path(args.write_config))
                print(
                    f"  daemon config    {Path(args.write_config).resolve()} (feeder key in {key_file})",
                    flush=True,
                )
            print("running; Ctrl-C or SIGTERM stops it", flush=True)
            await devnet.run(stop)
        finally:
            await devnet.stop()
            print("devnet stopped", flush=True)

    try:
        asyncio.run(serve())
    except (DevnetError, ToolMissing) as exc:
        raise CLIError(str(exc)) from None
    return 0


def _settings(args: argparse.Namespace) -> tuple[Any, Any]:
    """(settings, signer account or None): validated, the key loaded once, before anything starts."""
    from oracle.config.loading import load_settings
    from oracle.config.settings import ConfigError
    from oracle.execution.signer import SignerError, load_signer
    from oracle.service.logs import configure

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"pool-oracle {args.command}: config: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    try:
        account = load_signer(settings, args.config)
    except SignerError as exc:
        raise CLIError(str(exc)) from None
    configure(settings.service.log_level, settings.service.log_format)
    import structlog

    from oracle.execution.signer import loose_secret_files

    for warning in loose_secret_files(settings, args.config):
        structlog.get_logger("oracle.signer").warning("secret file too open", problem=warning)
    return settings, account


def cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from oracle import ops
    from oracle.config.loading import metrics_address_problem

    settings, account = _settings(args)
    if args.metrics_address:
        problem = metrics_address_problem(args.metrics_address)
        if problem:
            raise CLIError(f"--metrics-address: {problem}")
        service = dataclasses.replace(settings.service, metrics_address=args.metrics_address)
        settings = dataclasses.replace(settings, service=service)
    return ops.run(settings, account)


def cmd_report(args: argparse.Namespace) -> int:
    from oracle import ops

    if not args.once:
        raise CLIError("report runs one cycle: pass --once (the daemon is `pool-oracle run`)")
    return ops.report_once(*_settings(args), dry_run=args.dry_run, yes=args.yes)


def cmd_check(args: argparse.Namespace) -> int:
    from oracle import ops

    return ops.check(*_settings(args))


def cmd_status(args: argparse.Namespace) -> int:
    from oracle import ops

    return ops.status(*_settings(args))


def cmd_activate(args: argparse.Namespace) -> int:
    from oracle import ops

    text = args.pubkey[2:] if args.pubkey.startswith("0x") else args.pubkey
    try:
        pubkey = bytes.fromhex(text)
    except ValueError:
        raise CLIError(f"--pubkey: {args.pubkey!r} is not hex") from None
    if len(pubkey) != 48:
        raise CLIError(f"--pubkey: a validator pubkey is 48 bytes, this one is {len(pubkey)}")
    return ops.duty_once(*_settings(args), "activation", pubkey=pubkey)


def cmd_finalize(args: argparse.Namespace) -> int:
    from oracle import ops
    from oracle.config.loading import ADDRESS_RE

    if args.pool is not None and not ADDRESS_RE.match(args.pool):
        raise CLIError(f"--pool: {args.pool!r} is not a 0x-prefixed 20-byte address")
    return ops.duty_once(*_settings(args), "finalize", pool=args.pool)


def cmd_register_validators(args: argparse.Namespace) -> int:
    from oracle import ops
    from oracle.config.loading import ADDRESS_RE

    if not ADDRESS_RE.match(args.pool):
        raise CLIError(f"--pool: {args.pool!r} is not a 0x-prefixed 20-byte address")
    return ops.register_once(*_settings(args), args.pool, list(args.index or []))


def cmd_config_reference(args: argparse.Namespace) -> int:
    from oracle import ops

    return ops.write_reference(args.output, args.format)
