from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.cli import main
from oracle.ssz.sample import sample_state

pytestmark = pytest.mark.unit


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "state.ssz"
    path.write_bytes(sample_state("beaconkit-electra", 12, seed=4))
    return path


def test_prove_then_verify(state_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proof.json"
    assert main(["prove", "--state", str(state_file), "--index", "3", "--index", "11", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["layout"] == "beaconkit-electra"
    assert [v["index"] for v in doc["validators"]] == ["3", "11"]
    entry = doc["validators"][0]
    assert entry["pubkey_gindex"] == str(6350779162034176 + 8 * 3)
    assert entry["balance_gindex"] == str(199011604627456 + 3 // 4)
    assert all(node.startswith("0x") and len(node) == 66 for node in entry["balance_proof"])
    assert doc["block_header"]["state_root"] == doc["state_root"]
    assert main(["verify", "--proof", str(out)]) == 0
    assert "0 failed" in capsys.readouterr().out


def test_prove_reads_stdin(
    state_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(state_file.read_bytes())))
    assert main(["prove", "--state", "-", "--index", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["validators"][0]["index"] == "0"


@pytest.mark.parametrize(
    ("field", "index"),
    [("balance_proof", 1), ("pubkey_proof", 0), ("withdrawal_credentials_proof", 5)],
)
def test_verify_names_the_failing_proof(
    field: str, index: int, state_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "proof.json"
    main(["prove", "--state", str(state_file), "--index", "3", "--index", "7", "--output", str(out)])
    doc = json.loads(out.read_text())
    node = doc["validators"][1][field][index]
    doc["validators"][1][field][index] = node[:-1] + ("0" if node[-1] != "0" else "1")
    out.write_text(json.dumps(doc))
    capsys.readouterr()
    assert main(["verify", "--proof", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"FAIL validator 7 {field}" in printed
    assert "validator 3" not in printed


def test_verify_catches_a_forged_balance(state_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proof.json"
    main(["prove", "--state", str(state_file), "--index", "2", "--output", str(out)])
    doc = json.loads(out.read_text())
    doc["validators"][0]["balance"] = str(int(doc["validators"][0]["balance"]) + 1)
    out.write_text(json.dumps(doc))
    assert main(["verify", "--proof", str(out)]) == 1
    assert "FAIL validator 2 balance" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prove", "--state", "/nonexistent", "--index", "0"], "no such file"),
        (["prove", "--state", "STATE", "--index", "12"], "validator index 12 is out of range"),
        (["prove", "--state", "STATE", "--index", "0", "--layout", "ethereum-deneb"], "truncated"),
        (["verify", "--proof", "STATE"], "not JSON"),
        (["prove", "--state", "STATE", "--index", "3,x"], "'x' is not a validator index or a range A-B"),
        (["prove", "--state", "STATE", "--index", "9-4"], "range '9-4' is empty"),
        (["prove", "--state", "STATE", "--indices", "/nonexistent"], "--indices: cannot read /nonexistent"),
        (["prove", "--state", "STATE"], "give the validators"),
    ],
)
def test_bad_input_is_one_clear_line(
    argv: list[str], message: str, state_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(state_file) if a == "STATE" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_malformed_proof_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"layout": "beaconkit-electra", "block_root": "0x12"}))
    assert main(["verify", "--proof", str(path)]) == 2
    assert "block_root: expected 32 bytes, got 1" in capsys.readouterr().err


def test_console_script_help() -> None:
    exe = Path(sys.executable).parent / "pool-oracle"
    if not exe.exists():
        pytest.skip("console script not installed (run through make test)")
    result = subprocess.run([str(exe), "prove", "--help"], capture_output=True, text=True, check=True)
    assert "--index" in result.stdout


def test_prove_reads_a_saved_beacon_kit_debug_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole response of beacon-kit's /eth/v2/debug/beacon/states/{id}, saved as served (Go's JSON of its
    BeaconState, the fork in `version`), proves like its SSZ would."""
    from tests.beaconkit import fixture

    saved = tmp_path / "state.json"
    saved.write_text(json.dumps(fixture("debug_state_electra")["body"]))
    out = tmp_path / "proof.json"
    assert main(["prove", "--state", str(saved), "--index", "2", "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["layout"] == "beaconkit-electra" and doc["slot"] == "1234"
    assert doc["validators"][0]["balance"] == str(251 * 10**12)
    # the block root beacon-kit's own proof answers (tests/data/beacon-kit/proof_validator_balance.json) name
    assert doc["block_root"] == fixture("proof_validator_balance")["body"]["beacon_block_root"]
    assert doc["validators"][0]["balance_proof"] == fixture("proof_validator_balance")["body"]["balance_proof"]
    assert main(["verify", "--proof", str(out)]) == 0
    saved.write_text(json.dumps(fixture("debug_state_deneb1")["body"]))
    assert main(["prove", "--state", str(saved), "--index", "0", "--output", str(out)]) == 0
    assert json.loads(out.read_text())["layout"] == "beaconkit-deneb"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "electra", "data": {"slot": "12"}}', "$.data.slot: expected a 0x-hex number (math.U64)"),
        ('{"version": "electra"', "starts like JSON but is not JSON"),
        ('{"data": {}}', "needs 'version' and 'data'"),
        ('{"a": ' * 100000, "starts like JSON but is not JSON"),  # nested past the recursion limit
    ],
)
def test_a_bad_debug_state_file_is_one_line(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "state.json"
    saved.write_text("  " + content)
    assert main(["prove", "--state", str(saved), "--index", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_prove_refuses_a_layout_the_response_contradicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.beaconkit import fixture

    saved = tmp_path / "state.json"
    saved.write_text(json.dumps(fixture("debug_state_electra")["body"]))
    assert main(["prove", "--state", str(saved), "--index", "0", "--layout", "beaconkit-deneb"]) == 2
    assert "the response is a electra state (beaconkit-electra), not beaconkit-deneb" in capsys.readouterr().err


def test_an_unusable_journal_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal.sqlite"
    journal.write_bytes(b"not a database, but some bytes " * 50)
    config = tmp_path / "c.yaml"
    config.write_text(
        "chain_id: 1\nbeacon_endpoints: [http://127.0.0.1:9]\nexecution_endpoints: [http://127.0.0.1:9]\n"
        f"contracts: {{factory: '0x{'11' * 20}'}}\nservice: {{journal_path: journal.sqlite}}\n"
    )
    assert main(["status", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{journal}: not a usable journal" in err and err.count("\n") == 1


def test_indices_as_lists_ranges_and_a_file(state_file: Path, tmp_path: Path) -> None:
    """A pool of thousands is given in one argument or a file: `--index 1,3-5` and `--indices FILE` prove the
    same validators as repeated options."""
    repeated, listed, filed = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    indices = tmp_path / "pool.txt"
    indices.write_text("1\n3-4, 5\n")
    base = ["prove", "--state", str(state_file), "--multi"]
    assert main([*base, *[a for i in (1, 3, 4, 5) for a in ("--index", str(i))], "--output", str(repeated)]) == 0
    assert main([*base, "--index", "1,3-5", "--output", str(listed)]) == 0
    assert main([*base, "--indices", str(indices), "--output", str(filed)]) == 0
    docs = [json.loads(p.read_text()) for p in (repeated, listed, filed)]
    assert docs[0]["validator_indices"] == ["1", "3", "4", "5"]
    assert docs[0] == docs[1] == docs[2]
