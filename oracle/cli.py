"""`pool-oracle`: the command line (its parser and entry point; the commands are in oracle.commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oracle import __version__
from oracle.commands import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    CLIError,
    cmd_activate,
    cmd_check,
    cmd_config_reference,
    cmd_devnet,
    cmd_finalize,
    cmd_prove,
    cmd_register_validators,
    cmd_report,
    cmd_run,
    cmd_sample_state,
    cmd_status,
    cmd_verify,
)

# EXIT_* and CLIError are re-exported: the tests and the fault matrix import them from here.
__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "CLIError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from oracle.ssz.layouts import LAYOUT_NAMES

    parser = argparse.ArgumentParser(
        prog="pool-oracle",
        description="Accounting oracle for validator-operated staking pools: SSZ balance proofs against "
        "beacon block roots, reconciled with on-chain share prices.",
    )
    parser.add_argument("--version", action="version", version=f"pool-oracle {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    prove = commands.add_parser(
        "prove",
        help="build block-root-anchored proofs of validators from a serialized beacon state",
        description="Print JSON with each validator's pubkey, withdrawal-credentials and balance proofs, "
        "anchored at the block root (siblings from the leaf upward), as AccountingOracle.updateTotalDeposits "
        "takes them; with --multi, one multiproof of all their balances and its total.",
    )
    prove.add_argument(
        "--state",
        required=True,
        metavar="FILE",
        help="the beacon state: SSZ, or a debug-state response saved as a node serves it (beacon-kit's JSON, "
        "or the Beacon API's), or - for stdin",
    )
    prove.add_argument(
        "--layout",
        default="auto",
        choices=["auto", *LAYOUT_NAMES],
        help="state layout (default: recognise it)",
    )
    prove.add_argument(
        "--index", action="append", metavar="N", default=[],
        help="validator index, a comma-separated list or a range A-B (inclusive); repeatable",
    )  # fmt: skip
    prove.add_argument(
        "--indices", metavar="FILE",
        help="a file of validator indices (whitespace- or comma-separated, ranges A-B allowed), for pools of "
        "thousands (10,000 repeated --index options cost argparse seconds)",
    )  # fmt: skip
    prove.add_argument(
        "--multi",
        action="store_true",
        help="write one SSZ multiproof (consensus-specs merkle-proofs.md) of the validators' balance chunks "
        "from the block root, with their total balance, instead of one set of proofs per validator",
    )
    prove.add_argument(
        "--with-pubkeys", action="store_true", help="with --multi: also prove each validator's pubkey leaf"
    )
    prove.add_argument("--output", metavar="FILE", help="write JSON here instead of stdout")
    prove.set_defaults(handler=cmd_prove)

    verify = commands.add_parser(
        "verify",
        help="check a proof document offline",
        description="Recompute the block root from the header and every proof's root from its leaf (for a "
        "multiproof: the block root and state root from its leaves and witnesses, its gindices from the "
        "validator indices, and the total from the proven balances); exit 1 and name the proof if any fails.",
    )
    verify.add_argument(
        "--proof", required=True, metavar="FILE", help="JSON written by prove (or prove --multi), or - for stdin"
    )
    verify.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    verify.set_defaults(handler=cmd_verify)

    sample = commands.add_parser(
        "sample-state",
        help="write a synthetic, well-formed beacon state (for trying prove and for benchmarks)",
    )
    sample.add_argument("--layout", default="beaconkit-electra", choices=LAYOUT_NAMES)
    sample.add_argument("--validators", type=int, default=8, metavar="N")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--slot", type=int, default=1000)
    sample.add_argument("--output", required=True, metavar="FILE", help="file to write, or - for stdout")
    sample.set_defaults(handler=cmd_sample_state)

    devnet = commands.add_parser(
        "devnet",
        help="run the embedded devnet: a simulated beacon chain (Beacon API), anvil, reference contracts",
        description="Start anvil with the EIP-4788 beacon-roots contract and the reference pool contracts, "
        "a simulated beacon chain served over the Beacon API (and beacon-kit's proof endpoints), one EL "
        "block per slot carrying the previous beacon block root; print endpoints, addresses and test keys; "
        "run until SIGINT or SIGTERM.",
    )
    devnet.add_argument("--layout", default="beaconkit-electra", choices=["beaconkit-electra", "ethereum-electra"])
    devnet.add_argument("--validators", type=int, default=8, metavar="N", help="validators at genesis (default 8)")
    devnet.add_argument("--pools", type=int, default=2, metavar="K", help="how many of them are pool validators")
    devnet.add_argument("--slot-seconds", type=int, default=2, metavar="S", help="slot time (default 2)")
    devnet.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    devnet.add_argument("--beacon-port", type=int, default=5052, metavar="P", help="Beacon API port (default 5052)")
    devnet.add_argument("--rpc-port", type=int, default=8545, metavar="Q", help="anvil JSON-RPC port (default 8545)")
    devnet.add_argument("--write-config", metavar="FILE", help="write a daemon config for this network here")
    devnet.add_argument(
        "--open-reporting",
        action="store_true",
        help="let anyone report (default: FEEDER_ROLE to the first test key)",
    )
    devnet.add_argument(
        "--ownable-oracle",
        action="store_true",
        help="deploy the Ownable AccountingOracle of Berachain's contract reference page, owned by the first test "
        "key (default: the AccessControl oracle of the published ABI)",
    )
    devnet.add_argument(
        "--random-events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="random pool deposits and withdrawals (and missed slots on Ethereum) while running (default on)",
    )
    devnet.add_argument("--seed", type=int, default=0, help="seed of the simulated chain")
    devnet.add_argument("--slots-per-epoch", type=int, default=32, metavar="N", help="slots per epoch (default 32)")
    devnet.add_argument(
        "--deposit-delay-slots", type=int, default=4, metavar="N", help="slots before the CL credits a deposit (4)"
    )
    devnet.add_argument(
        "--withdrawal-delay-epochs", type=int, default=1, metavar="N", help="epochs before a withdrawal pays out (1)"
    )
    devnet.add_argument(
        "--rewards",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Ethereum layout: per-epoch rewards and penalties (default on; off: balances move only by deposits "
        "and withdrawals, so that a test sees one report per event)",
    )
    devnet.add_argument(
        "--reorg-depth", type=int, default=0, metavar="N",
        help="Ethereum layout: let POST /devnet/v1/reorg/{depth} replace up to N newest slots (keeps a snapshot "
        "per slot, so memory grows: for tests; default 0, none)",
    )  # fmt: skip
    devnet.add_argument(
        "--finalization-delay-blocks", type=int, default=None, metavar="N",
        help="blocks before a withdrawal request can be finalized (default Berachain's 129,600)",
    )  # fmt: skip
    devnet.add_argument(
        "--proof-api",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="beacon-kit layout: serve /bkit/v1/proof (default on; off: as a node with its block store off, "
        "where every proof must come from the state)",
    )
    devnet.add_argument(
        "--set-pool-validators", type=int, default=0, metavar="N",
        help="Ethereum layout: a many-validator ValidatorSetPool whose validators are the last N genesis "
        "validators, registered at genesis, reported with multiproofs in batches (default 0, none)",
    )  # fmt: skip
    devnet.set_defaults(handler=cmd_devnet)

    def with_config(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--config", metavar="FILE", default=None,
            help="YAML settings (see docs/CONFIGURATION.md); POOL_ORACLE_* variables override it",
        )  # fmt: skip

    run = commands.add_parser("run", help="the daemon: report cycles on an interval, metrics and health",
                              description="Prove, reconcile and report every pool on an interval; serve /metrics, "
                              "/healthz and /readyz; stop on SIGINT or SIGTERM.")  # fmt: skip
    with_config(run)
    run.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here, host:port or [IPv6]:port (overrides service.metrics_address)",
    )
    run.set_defaults(handler=cmd_run)

    report = commands.add_parser("report", help="one report cycle, with a confirmation before each send")
    with_config(report)
    report.add_argument("--once", action="store_true", help="run exactly one cycle (required)")
    report.add_argument("--dry-run", action="store_true", help="prove, reconcile and pre-flight; send nothing")
    report.add_argument("--yes", action="store_true", help="send without asking")
    report.set_defaults(handler=cmd_report)

    check = commands.add_parser("check", help="check endpoints, archive depth, EIP-4788, contracts, role and balance")
    with_config(check)
    check.set_defaults(handler=cmd_check)

    status = commands.add_parser("status", help="per pool: proven vs on-chain, share price, holds, last report")
    with_config(status)
    status.set_defaults(handler=cmd_status)

    activate = commands.add_parser(
        "activate", help="activate a registered pool (activateStakingPool) with proofs from our engine",
        description="Prove the validator's pubkey, withdrawal credentials and balance at one slot from the "
        "state (no /bkit/v1/proof needed), verify them against the EIP-4788 root, pre-flight, and send "
        "factory.activateStakingPool through the journal. Any key with gas may: no role is needed.",
    )  # fmt: skip
    with_config(activate)
    activate.add_argument("--pubkey", required=True, metavar="PK", help="the validator's 48-byte pubkey (0x-hex)")
    activate.set_defaults(handler=cmd_activate)

    finalize = commands.add_parser(
        "finalize", help="finalize the stakers' withdrawal requests that are due",
        description="Every request of the keeper's pools (or of --pool) whose finalization delay has passed and "
        "that the WithdrawalVault can pay, in one finalizeWithdrawalRequests within the keeper's gas budget.",
    )  # fmt: skip
    with_config(finalize)
    finalize.add_argument("--pool", metavar="ADDR", help="only this StakingPool's requests")
    finalize.set_defaults(handler=cmd_finalize)

    register = commands.add_parser(
        "register-validators", help="register a ValidatorSetPool's validators (its owner's key)",
        description="The validators of the finalized state paying out to the pool (or those of --index) that its "
        "registry does not hold yet, each bound to its index by one multiproof of its pubkey and credentials "
        "against the EIP-4788 root, in registerValidators of 100, through the journal.",
    )  # fmt: skip
    with_config(register)
    register.add_argument("--pool", required=True, metavar="ADDR", help="the ValidatorSetPool's address")
    register.add_argument("--index", type=int, action="append", metavar="I", help="only these (repeatable)")
    register.set_defaults(handler=cmd_register_validators)

    reference = commands.add_parser("config-reference", help="print the configuration reference (Markdown)")
    reference.add_argument("--output", metavar="FILE", help="write it here instead of stdout")
    reference.add_argument(
        "--format", choices=["markdown", "env"], default="markdown", help="markdown (docs) or env (.env.example)"
    )
    reference.set_defaults(handler=cmd_config_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except CLIError as exc:
        print(f"pool-oracle {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
