"""``ecoscore policy init``: a commented example policy with every key, which loads; and
docs/policy.md documents every key of the model that reads policies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import policy as policy_cmd
from ecoscore.jury.policy import EXAMPLE_POLICY, PolicyError, PolicyRules, load_policy
from ecoscore.jury.trust import TrustedKey

REPO = Path(__file__).resolve().parents[1]
KEYS = tuple(PolicyRules.model_fields)


def app() -> typer.Typer:
    a = typer.Typer()
    a.callback()(lambda: None)
    policy_cmd.register(a)
    return a


def _uncommented(text: str) -> str:
    """The example with every commented-out setting (``# key = value``) put back."""
    return re.sub(r"^# ([a-z_0-9]+ = .*|\[\[keys\]\])$", r"\1", text, flags=re.M)


def test_init_writes_an_example_that_loads_and_names_every_key(tmp_path: Path) -> None:
    out = tmp_path / "policy.toml"
    res = CliRunner().invoke(app(), ["policy", "init", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"wrote {out}" in res.output
    text = out.read_text()
    assert text == EXAMPLE_POLICY
    policy = load_policy(out)
    assert policy.name == "Frugal AI call 2026"
    assert policy.min_assurance == "self-measured" and policy.require_certifiable
    assert policy.min_grade == {"micro": "C", "sme": "B", "mid-size": "B"}
    for key in KEYS:
        assert re.search(rf"^(# )?{key} = |^\[policy\.{key}\]$", text, re.M), key
    # the settings it leaves commented out load too, once put back
    full = tmp_path / "full.toml"
    full.write_text(
        _uncommented(text).replace("base64 of the 32-byte ed25519 public key", "A" * 43 + "=")
    )
    policy = load_policy(full)
    assert policy.hardware_class == "cpu"
    assert [k.name for k in policy.trusted.keys] == ["Lab A"]
    for key in TrustedKey.model_fields:
        assert re.search(rf"^# {key} = ", text, re.M), key


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "policy.toml"
    out.write_text("[policy]\n")
    res = CliRunner().invoke(app(), ["policy", "init", "--out", str(out)])
    assert res.exit_code == 3 and "already exists" in res.output
    assert out.read_text() == "[policy]\n"
    res = CliRunner().invoke(app(), ["policy", "init", "--out", str(out), "--force"])
    assert res.exit_code == 0 and out.read_text() == EXAMPLE_POLICY


def test_docs_policy_md_documents_every_key() -> None:
    doc = (REPO / "docs" / "policy.md").read_text()
    rows = set(re.findall(r"^\| `([a-z_0-9]+)` \|", doc, re.M))
    assert set(KEYS) <= rows, set(KEYS) - rows
    assert set(TrustedKey.model_fields) <= rows
    assert rows <= set(KEYS) | set(TrustedKey.model_fields)  # and nothing that is not a key
    # the assurance levels the docs list are the model's
    levels = PolicyRules.model_fields["min_assurance"].annotation.__args__
    for level in levels:
        assert f'`"{level}"`' in doc


def test_the_docstring_points_to_the_documentation() -> None:
    import ecoscore.jury.policy as module

    assert "docs/policy.md" in (module.__doc__ or "")
    with pytest.raises(PolicyError, match="unknown key"):
        from tempfile import TemporaryDirectory

        with TemporaryDirectory() as tmp:
            bad = Path(tmp) / "p.toml"
            bad.write_text("[policy]\nmin_assurence = 'lab-replicated'\n")
            load_policy(bad)
