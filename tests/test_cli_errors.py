"""One table of exit codes: the same fault gives the same code and one line on standard
error, whichever command meets it (docs/errors.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ecoscore.cli import app
from ecoscore.record import save_record
from tests.record_factory import make_record


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return save_record(make_record(), tmp_path)


@pytest.mark.parametrize(
    "argv",
    [
        ["score", "{rec}", "--scale", "2099.1"],
        ["label", "{rec}", "--out", "{tmp}/l.svg", "--scale", "2099.1"],
        ["compare", "{rec}", "--scale", "2099.1"],
    ],
)
def test_an_unknown_scale_is_a_usage_error_for_every_command(
    argv: list[str], record: Path, tmp_path: Path
) -> None:
    args = [a.format(rec=record, tmp=tmp_path) for a in argv]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("ecoscore: error: no scale '2099.1'; published scales:")
    assert res.stdout == ""


def test_debug_shows_the_traceback_instead(record: Path) -> None:
    from ecoscore.grading.scale import UnknownScale

    res = CliRunner().invoke(app, ["--debug", "score", str(record), "--scale", "2099.1"])
    assert isinstance(res.exception, UnknownScale)


def test_version() -> None:
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("ecoscore ")


# -- every command's failure cases: code, one line on stderr, nothing on stdout -----------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Files the failure cases use, as format fields."""
    import json

    from ecoscore.jury.signing import generate_key_pair

    good = save_record(make_record(), tmp_path / "good")
    edited = tmp_path / "edited.json"
    doc = json.loads(good.read_text())
    doc["quality"]["value"] = 0.999
    edited.write_text(json.dumps(doc))
    bad = tmp_path / "malformed.json"
    bad.write_text("{not json")
    below = save_record(make_record(quality=0.5), tmp_path / "below")
    replication = save_record(
        make_record(updates={"provenance": {"notes": "r"}})
        .model_copy(update={"record_type": "replication", "replicates": "0" * 64})
        .with_id(),
        tmp_path / "replication",
    )
    csv_meter = save_record(make_record(boundary="wall"), tmp_path / "csv")
    unknown_meter = save_record(
        make_record(updates={"meter": {"config": {"meter": "warp-drive"}}}), tmp_path / "um"
    )
    (tmp_path / "empty").mkdir()
    (tmp_path / "folder.svg").mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    policy = tmp_path / "policy.toml"
    policy.write_text('[policy]\nname = "strict"\nrequired_workloads = ["nlp-intent"]\n')
    bad_policy = tmp_path / "bad-policy.toml"
    bad_policy.write_text("[policy]\nsurprise = 1\n")
    key, _, _ = generate_key_pair(tmp_path / "lab")
    return {
        "tmp": str(tmp_path),
        "good": str(good),
        "edited": str(edited),
        "bad": str(bad),
        "below": str(below),
        "replication": str(replication),
        "csv_meter": str(csv_meter),
        "unknown_meter": str(unknown_meter),
        "empty": str(tmp_path / "empty"),
        "folder_svg": str(tmp_path / "folder.svg"),
        "file": str(a_file),
        "policy": str(policy),
        "bad_policy": str(bad_policy),
        "key": str(key),
        "absent": str(tmp_path / "absent.json"),
    }


FAILURES = [
    # (argv, exit code, a fragment of the one stderr line)
    (["score", "{absent}"], 3, "no such file"),
    (["score", "{bad}"], 3, "malformed JSON"),
    (["score", "{edited}"], 5, "integrity check failed"),
    (["score", "{good}", "--location", "XXX"], 2, "XXX"),
    (["label", "{good}", "--out", "{tmp}/l.txt"], 2, ".svg or .png"),
    (["label", "{good}", "--out", "{folder_svg}"], 6, "is a folder"),
    (["label", "{good}", "--out", "{file}/l.svg"], 6, "is not a folder"),
    (["label", "{absent}", "--out", "{tmp}/l.svg"], 3, "no such file"),
    (["compare", "{bad}"], 3, "no readable record"),
    (["compare", "{good}", "--csv", "{file}/t.csv"], 6, "cannot write the CSV table"),
    (["compare", "{good}", "--html", "{empty}"], 6, "is a folder"),
    (["compare", "{good}", "--policy", "{bad_policy}"], 3, "surprise"),
    (["compare", "{good}", "--policy", "{absent}"], 3, "no such file"),
    (["compare", "{good}", "--trusted-keys", "{bad}"], 3, "malformed TOML"),
    (["compare", "{good}", "--policy", "{policy}"], 7, None),
    (["verify"], 2, "give record files"),
    (["verify", "{empty}"], 3, "no record found"),
    (["verify", "{bad}"], 3, None),
    (["verify", "{edited}"], 5, None),
    (["verify", "{below}"], 7, None),
    (["verify", "{good}", "--trusted-keys", "{absent}"], 3, "no such file"),
    (["keys", "--out", "{file}/k"], 6, "cannot write the key pair"),
    (["keys", "--out", "{tmp}/lab"], 6, "already exists"),
    (["sign", "{good}", "--key", "{absent}"], 3, "no such file"),
    (["sign", "{absent}", "--key", "{key}"], 3, "no such file"),
    (["sign", "{good}", "--key", "{key}", "--out", "{file}/s.json"], 6, "is not a folder"),
    (["bundle", "{good}", "--out", "{tmp}/b.tar"], 2, "a bundle is a .zip file"),
    (["bundle", "{good}", "--out", "{file}/b.zip"], 6, "is not a folder"),
    (["bundle", "{absent}", "--out", "{tmp}/b.zip"], 3, "no such file"),
    (["bundle", "{good}", "--out", "{tmp}/b.zip", "--scale", "2099.1"], 2, "no scale '2099.1'"),
    (["label", "{good}", "--out", "{tmp}/l.svg", "--scale", "../../x"], 2, "YYYY.N"),
    (["bundle", "{good}", "--out", "{tmp}/b.zip", "--category", "Big Co"], 2, "--category"),
    (["reproduce", "{replication}", "--out", "{tmp}/o"], 3, "is itself a replication"),
    (["reproduce", "{csv_meter}", "--out", "{tmp}/o"], 3, "never opened"),
    (["reproduce", "{unknown_meter}", "--out", "{tmp}/o"], 3, "unknown meter 'warp-drive'"),
    (["reproduce", "{good}", "--out", "{file}"], 6, "not a folder"),
    (["reproduce", "{absent}"], 3, "no such file"),
    (["run", "-w", "vision-digits", "--out", "{file}"], 6, "not a folder"),
    (["run", "-w", "no-such-workload", "--out", "{tmp}/o"], 3, "no-such-workload"),
    (["run", "-w", "vision-digits", "-m", "{tmp}/m.onnx", "--out", "{tmp}/o"], 3, "not found"),
    (["run", "-w", "vision-digits", "-s", "turbo=1", "--out", "{tmp}/o"], 2, "turbo"),
    (["run", "-w", "vision-digits", "--meter", "warp", "--out", "{tmp}/o"], 2, "unknown meter"),
]


#: Failures that are results, printed on standard output (verify's FAIL lines, a policy's
#: FAIL lines), not an error line.
RESULTS = {"verify {bad}", "verify {edited}", "verify {below}", "compare {good} --policy {policy}"}


@pytest.mark.parametrize(("argv", "code", "fragment"), FAILURES, ids=lambda v: str(v)[:60])
def test_each_command_fails_with_its_code_and_one_line_on_stderr(
    argv: list[str], code: int, fragment: str | None, files: dict[str, str]
) -> None:
    res = CliRunner().invoke(app, [a.format(**files) for a in argv])
    assert res.exit_code == code, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("ecoscore: error:")]
    if " ".join(argv) in RESULTS:
        assert not errors, res.stderr
        assert "FAIL" in res.stdout
    else:
        assert len(errors) == 1, res.stderr
        assert "error" not in res.stdout.lower(), res.stdout  # errors never go to stdout
    if fragment is not None:
        assert fragment.lower() in res.stderr.lower(), res.stderr
