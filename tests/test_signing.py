import json
import stat
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import sign as sign_cmd
from ecoscore.commands import verify as verify_cmd
from ecoscore.errors import EXIT_NOT_ELIGIBLE
from ecoscore.jury.signing import (
    SigningError,
    check_signature,
    generate_key_pair,
    load_private_key,
    record_bytes,
    sign_record,
)
from ecoscore.jury.trust import TrustError, load_trusted_keys, trusted_keys_toml
from ecoscore.record import IntegrityError, load_record, save_record
from tests.record_factory import make_record


def make_app() -> typer.Typer:
    app = typer.Typer()
    sign_cmd.register(app)
    verify_cmd.register(app)
    return app


def trust_file(tmp: Path, name: str, pub_path: Path) -> Path:
    path = tmp / f"trusted-{name}.toml"
    path.write_text(trusted_keys_toml(name, pub_path.read_text().strip()))
    return path


def edit_one_number(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["scenarios"][0]["energy_per_inference_j"]["median"] *= 0.5
    path.write_text(json.dumps(doc, indent=2))


def test_keys_private_key_is_owner_only_and_never_overwritten(tmp_path):
    key, pub, b64 = generate_key_pair(tmp_path / "lab")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert pub.read_text().strip() == b64
    assert b"PRIVATE KEY" in key.read_bytes()
    with pytest.raises(SigningError, match="already exists"):
        generate_key_pair(tmp_path / "lab")


def test_private_key_readable_by_others_is_refused(tmp_path):
    key, _, _ = generate_key_pair(tmp_path / "lab")
    key.chmod(0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        load_private_key(key)


def test_signature_covers_record_id_and_is_outside_the_hash(tmp_path):
    key, pub, _ = generate_key_pair(tmp_path / "lab")
    rec = make_record()
    signed = sign_record(rec, load_private_key(key))
    assert signed.record_id == rec.record_id == signed.content_sha256()
    trusted = load_trusted_keys(trust_file(tmp_path, "Lab A", pub))
    check = check_signature(signed, trusted)
    assert check.state == "trusted" and check.signer == "Lab A"
    # the same signature on other content does not verify
    other = make_record(energy_per_inference_j=1e-4)
    moved = other.model_copy(update={"signature": signed.signature})
    assert check_signature(moved, trusted).state == "invalid"


def test_key_not_in_trusted_file_is_untrusted(tmp_path):
    key_a, pub_a, _ = generate_key_pair(tmp_path / "a")
    _, pub_b, _ = generate_key_pair(tmp_path / "b")
    signed = sign_record(make_record(), load_private_key(key_a))
    check = check_signature(signed, load_trusted_keys(trust_file(tmp_path, "B", pub_b)))
    assert check.state == "untrusted"
    assert "not in" in check.detail
    assert check_signature(signed, None).state == "unchecked"
    assert check_signature(make_record(), None).state == "unsigned"


def test_trusted_keys_file_errors_name_the_field(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('[[keys]]\nname = "x"\npublic_key_b64 = "AAAA"\n')
    with pytest.raises(TrustError, match=r"keys\.0\.public_key_b64: .*3 bytes"):
        load_trusted_keys(bad)
    bad.write_text("[[keys]]\npublic_key_b64 = 'AAAA'\n")
    with pytest.raises(TrustError, match=r"keys\.0\.name: missing"):
        load_trusted_keys(bad)


def test_cli_keys_sign_verify(tmp_path):
    app, runner = make_app(), CliRunner()
    res = runner.invoke(app, ["keys", "--out", str(tmp_path / "lab"), "--name", "Lab A"])
    assert res.exit_code == 0, res.output
    assert "[[keys]]" in res.output and 'name = "Lab A"' in res.output
    path = save_record(make_record(), tmp_path)
    res = runner.invoke(app, ["sign", str(path), "--key", str(tmp_path / "lab.key")])
    assert res.exit_code == 0, res.output
    signed = load_record(path)
    assert signed.signature is not None
    trusted = trust_file(tmp_path, "Lab A", tmp_path / "lab.pub")

    res = runner.invoke(app, ["verify", str(path), "--trusted-keys", str(trusted)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("OK")
    assert "trusted key 'Lab A'" in res.output

    # an untrusted key: another lab's trusted-keys file
    generate_key_pair(tmp_path / "other")
    other = trust_file(tmp_path, "Other", tmp_path / "other.pub")
    res = runner.invoke(app, ["verify", str(path), "--trusted-keys", str(other)])
    assert res.exit_code == 5
    assert "FAIL" in res.output and "not in" in res.output

    # one number edited by hand
    edit_one_number(path)
    with pytest.raises(IntegrityError):
        load_record(path)
    res = runner.invoke(app, ["verify", str(path), "--trusted-keys", str(trusted)])
    assert res.exit_code == 5
    assert "integrity check failed" in res.output


def test_verify_exit_codes_for_unsigned_unreadable_and_below_gate(tmp_path):
    app, runner = make_app(), CliRunner()
    ok = save_record(make_record(), tmp_path / "a")
    low = save_record(make_record(quality=0.5), tmp_path / "b")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    res = runner.invoke(app, ["verify", str(ok)])
    assert res.exit_code == 0 and "no signature" in res.output
    res = runner.invoke(app, ["verify", str(ok), "--require-signature"])
    assert res.exit_code == 5
    res = runner.invoke(app, ["verify", str(ok), str(low)])
    assert res.exit_code == EXIT_NOT_ELIGIBLE
    assert "not eligible: accuracy 0.5 < gate 0.95" in res.output
    res = runner.invoke(app, ["verify", str(ok), str(junk), str(low)])
    assert res.exit_code == 3
    assert "malformed JSON" in res.output
    assert res.output.count("\n") == 4  # three lines, one per record, and the total


def test_sign_refuses_an_edited_record(tmp_path):
    key, _, _ = generate_key_pair(tmp_path / "lab")
    path = save_record(make_record(), tmp_path)
    edit_one_number(path)
    res = CliRunner().invoke(make_app(), ["sign", str(path), "--key", str(key)])
    assert res.exit_code == 5
    assert "integrity check failed" in res.output


def test_record_bytes_round_trip(tmp_path):
    key, _, _ = generate_key_pair(tmp_path / "lab")
    signed = sign_record(make_record(), load_private_key(key))
    path = tmp_path / "r.json"
    path.write_bytes(record_bytes(signed))
    assert load_record(path) == signed
