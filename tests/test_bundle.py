import json
import stat
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import bundle as bundle_cmd
from ecoscore.commands import verify as verify_cmd
from ecoscore.jury import bundle as bundle_mod
from ecoscore.jury.bundle import (
    BundleError,
    BundleIntegrityError,
    read_bundle,
    sha256_hex,
    write_bundle,
)
from ecoscore.record import save_record
from ecoscore.reports.label import label_svg
from tests.record_factory import make_record


def app() -> typer.Typer:
    a = typer.Typer()
    bundle_cmd.register(a)
    verify_cmd.register(a)
    return a


def two_records(tmp: Path) -> list[Path]:
    return [
        save_record(make_record(model_name="m1"), tmp),
        save_record(make_record(model_name="m2", energy_per_inference_j=1e-4), tmp),
    ]


def manifest_for(members: dict[str, bytes]) -> bytes:
    doc = {
        "format": "ecoscore-bundle",
        "version": 1,
        "members": {n: {"sha256": sha256_hex(d), "size_bytes": len(d)} for n, d in members.items()},
    }
    return json.dumps(doc).encode()


def hand_made_zip(path: Path, members: dict[str, bytes], extra=None) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", manifest_for(members))
        for n, d in members.items():
            z.writestr(n, d)
        if extra:
            extra(z)
    return path


def test_bundle_round_trip_with_labels_environment_and_manifest(tmp_path):
    paths = two_records(tmp_path)
    out = write_bundle(
        paths, tmp_path / "sub.zip", applicant="Acme", category="sme", draw_label=label_svg
    )
    b = read_bundle(out)
    assert b.category == "sme" and b.applicant == "Acme"
    assert len(b.record_names()) == 2
    for p in paths:
        assert b.members[f"records/{p.stem}.json"] == p.read_bytes()
        assert b.members[f"labels/{p.stem}.svg"].lstrip().startswith(b"<?xml")
    env = json.loads(b.members["environment.json"])
    assert env["python"] and env["os"] and "pydantic" in {k.lower() for k in env["packages"]}
    assert {b.parse(n).model.name for n in b.record_names()} == {"m1", "m2"}


def test_cli_bundle_then_verify_accepts_the_archive(tmp_path):
    paths = two_records(tmp_path)
    runner = CliRunner()
    res = runner.invoke(
        app(), ["bundle", *map(str, paths), "--out", str(tmp_path / "s.zip"), "--no-labels"]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app(), ["verify", str(tmp_path / "s.zip")])
    assert res.exit_code == 0, res.output
    assert res.output.count("OK  ") == 2
    assert "s.zip:records/" in res.output


def test_verify_flags_an_edited_record_inside_a_bundle(tmp_path):
    rec = make_record()
    doc = rec.model_dump(mode="json")
    doc["quality"]["value"] = 0.999
    good = make_record(model_name="ok")
    members = {
        f"records/{rec.record_id}.json": json.dumps(doc).encode(),
        f"records/{good.record_id}.json": json.dumps(good.model_dump(mode="json")).encode(),
    }
    path = hand_made_zip(tmp_path / "edited.zip", members)
    res = CliRunner().invoke(app(), ["verify", str(path)])
    assert res.exit_code == 5
    assert "integrity check failed" in res.output and "OK  " in res.output


def test_altered_member_fails_the_manifest(tmp_path):
    out = write_bundle(two_records(tmp_path), tmp_path / "s.zip")
    with zipfile.ZipFile(out) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = next(n for n in members if n.startswith("records/"))
    members[name] = members[name].replace(b'"m1"', b'"m9"').replace(b'"m2"', b'"m9"')
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    with pytest.raises(BundleIntegrityError, match="the bundle was altered"):
        read_bundle(tmp_path / "t.zip")
    res = CliRunner().invoke(app(), ["verify", str(tmp_path / "t.zip")])
    assert res.exit_code == 5 and "the bundle was altered" in res.output


@pytest.mark.parametrize(
    "name, message",
    [
        ("../evil.json", "path traversal"),
        ("records/../../evil.json", "path traversal"),
        ("/etc/evil.json", "absolute path"),
        ("C:/evil.json", "drive"),
        ("records\\evil.json", "not allowed"),
    ],
)
def test_dangerous_member_names_are_refused(tmp_path, name, message):
    path = hand_made_zip(tmp_path / "b.zip", {name: b"{}"})
    with pytest.raises(BundleError, match=message):
        read_bundle(path)


def test_symlink_member_is_refused(tmp_path):
    def add_link(z: zipfile.ZipFile) -> None:
        info = zipfile.ZipInfo("records/link.json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")

    path = hand_made_zip(tmp_path / "b.zip", {}, add_link)
    with pytest.raises(BundleError, match="symbolic link"):
        read_bundle(path)


def test_size_limits(tmp_path, monkeypatch):
    bomb = {"records/big.json": b"0" * (4 * 1024 * 1024)}
    path = hand_made_zip(tmp_path / "bomb.zip", bomb)
    with pytest.raises(BundleError, match="compression ratio"):
        read_bundle(path)
    many = {f"labels/{i}.svg": b"x" for i in range(20)}
    path = hand_made_zip(tmp_path / "many.zip", many)
    monkeypatch.setattr(bundle_mod, "MAX_MEMBERS", 10)
    with pytest.raises(BundleError, match="21 members"):
        read_bundle(path)
    monkeypatch.setattr(bundle_mod, "MAX_MEMBERS", 2000)
    monkeypatch.setattr(bundle_mod, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(BundleError, match="uncompressed in all"):
        read_bundle(tmp_path / "bomb.zip")


def test_not_a_zip_and_no_manifest(tmp_path):
    (tmp_path / "x.zip").write_text("hello")
    with pytest.raises(BundleError, match="not a zip"):
        read_bundle(tmp_path / "x.zip")
    with zipfile.ZipFile(tmp_path / "y.zip", "w") as z:
        z.writestr("a.json", "{}")
    with pytest.raises(BundleError, match="no manifest.json"):
        read_bundle(tmp_path / "y.zip")


def test_bundle_refuses_an_edited_record_and_a_bad_category(tmp_path):
    paths = two_records(tmp_path)
    with pytest.raises(BundleError, match="category"):
        write_bundle(paths, tmp_path / "s.zip", category="SME Plus")
    doc = json.loads(paths[0].read_text())
    doc["quality"]["value"] = 0.5
    paths[0].write_text(json.dumps(doc))
    res = CliRunner().invoke(app(), ["bundle", *map(str, paths), "--out", str(tmp_path / "s.zip")])
    assert res.exit_code == 5
    assert not (tmp_path / "s.zip").exists()
