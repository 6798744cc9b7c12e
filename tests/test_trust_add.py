"""``ecoscore keys`` prints the ``[[keys]]`` entry; ``ecoscore trust add`` appends it to a
trusted-keys file, atomically, refusing a name or a key that is already there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.jury.trust import TrustError, add_trusted_key, load_trusted_keys

runner = CliRunner()


def keys(tmp: Path, name: str) -> tuple[Path, str]:
    res = runner.invoke(app, ["keys", "--out", str(tmp / name), "--name", name])
    assert res.exit_code == 0, res.output
    pub = tmp / f"{name}.pub"
    return pub, pub.read_text().strip()


def test_keys_prints_the_entry_to_paste(tmp_path: Path) -> None:
    res = runner.invoke(app, ["keys", "--out", str(tmp_path / "lab"), "--name", "Lab A"])
    assert res.exit_code == 0, res.output
    b64 = (tmp_path / "lab.pub").read_text().strip()
    assert f'[[keys]]\nname = "Lab A"\npublic_key_b64 = "{b64}"\n' in res.output
    assert "ecoscore trust add NAME" in res.output


def test_trust_add_creates_then_appends(tmp_path: Path) -> None:
    a_pub, a = keys(tmp_path, "a")
    b_pub, b = keys(tmp_path, "b")
    target = tmp_path / "jury" / "keys.toml"
    res = runner.invoke(app, ["trust", "add", "Lab A", str(a_pub), "--to", str(target)])
    assert res.exit_code == 0, res.output
    assert f'public_key_b64 = "{a}"' in res.output
    res = runner.invoke(app, ["trust", "add", "Acme", str(b_pub), "--to", str(target)])
    assert res.exit_code == 0, res.output
    trusted = load_trusted_keys(target)
    assert [(k.name, k.public_key_b64) for k in trusted.keys] == [("Lab A", a), ("Acme", b)]
    assert target.read_text().startswith("# Keys whose signatures")  # earlier text kept
    assert sorted(p.name for p in target.parent.iterdir()) == ["keys.toml"]  # no temp left


@pytest.mark.parametrize(
    "name, which, message",
    [
        ("Lab A", "a", "the name 'Lab A' is already there, for this key"),
        ("Lab A", "b", "the name 'Lab A' is already there, for another key"),
        ("Lab B", "a", "this key is already there, named 'Lab A'"),
    ],
)
def test_trust_add_refuses_a_second_name_or_key(tmp_path, name, which, message) -> None:
    pubs = {w: keys(tmp_path, w)[0] for w in ("a", "b")}
    target = tmp_path / "keys.toml"
    assert (
        runner.invoke(app, ["trust", "add", "Lab A", str(pubs["a"]), "--to", str(target)]).exit_code
        == 0
    )
    before = target.read_bytes()
    res = runner.invoke(app, ["trust", "add", name, str(pubs[which]), "--to", str(target)])
    assert res.exit_code == 3, res.output
    assert message in res.output
    assert target.read_bytes() == before


def test_trust_add_refuses_bad_input_and_leaves_the_file(tmp_path: Path) -> None:
    pub, _ = keys(tmp_path, "a")
    bad_pub = tmp_path / "bad.pub"
    bad_pub.write_text("not base64!\n")
    target = tmp_path / "keys.toml"
    res = runner.invoke(app, ["trust", "add", "X", str(bad_pub), "--to", str(target)])
    assert res.exit_code == 3 and "bad.pub: public_key_b64 is not valid base64" in res.output
    assert not target.exists()
    res = runner.invoke(app, ["trust", "add", "X", str(tmp_path / "none.pub"), "--to", str(target)])
    assert res.exit_code == 3 and "none.pub: cannot read the public key" in res.output
    target.write_text('[[keys]]\nname = "x"\n')  # a broken trusted-keys file
    res = runner.invoke(app, ["trust", "add", "X", str(pub), "--to", str(target)])
    assert res.exit_code == 3 and "keys.toml" in res.output and "public_key_b64" in res.output
    assert target.read_text() == '[[keys]]\nname = "x"\n'
    res = runner.invoke(app, ["trust", "add", "  ", str(pub), "--to", str(tmp_path / "k2.toml")])
    assert res.exit_code == 3 and "cannot add" in res.output


def test_trust_add_to_a_policy_file_keeps_it_loadable(tmp_path: Path) -> None:
    from ecoscore.jury.policy import EXAMPLE_POLICY, load_policy

    pub, b64 = keys(tmp_path, "a")
    policy = tmp_path / "policy.toml"
    policy.write_text(EXAMPLE_POLICY)
    add_trusted_key(policy, "Lab A", b64)
    assert [k.name for k in load_policy(policy).trusted.keys] == ["Lab A"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_trust_add_to_an_unwritable_folder(tmp_path: Path) -> None:
    _, b64 = keys(tmp_path, "a")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(Exception, match="cannot write"):
            add_trusted_key(folder / "keys.toml", "A", b64)
    finally:
        folder.chmod(0o700)


def test_trust_error_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="k.toml: cannot add"):
        add_trusted_key(tmp_path / "k.toml", "A", "AAAA")
