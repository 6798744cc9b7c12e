from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ecoscore.commands import compare as compare_cmd
from ecoscore.grading.scale import load_scale
from ecoscore.jury.bundle import write_bundle
from ecoscore.jury.compare import build_comparison, iter_entries
from ecoscore.jury.policy import PolicyError, evaluate, load_policy
from ecoscore.jury.signing import generate_key_pair, load_private_key, sign_record
from ecoscore.jury.trust import trusted_keys_toml
from ecoscore.record import RunRecord, save_record
from tests.record_factory import K, make_record

POLICY = """
[policy]
name = "Frugal AI call 2026"
required_workloads = ["vision-digits"]
hardware_class = "cpu"
measured_only = true
allow_quick = false

[policy.min_grade]
micro = "C"
sme = "B"
mid-size = "A"
"""


@pytest.fixture
def lab(tmp_path):
    key, pub, b64 = generate_key_pair(tmp_path / "lab")
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY + "\n" + trusted_keys_toml("Lab A", b64))
    return load_private_key(key), policy


def submit(
    tmp: Path, name: str, records: list[RunRecord], category: str | None, key: object = None
) -> Path:
    """A bundle; its manifest is signed by ``key`` (the applicant's), when given."""
    folder = tmp / name
    paths = [save_record(r, folder) for r in records]
    return write_bundle(paths, tmp / f"{name}.zip", category=category, key=key)


def verdicts_for(paths, policy_path, category=None):
    """Verdicts by the submission's file name."""
    policy = load_policy(policy_path)
    comp = build_comparison(iter_entries(paths), load_scale(policy.scale_version), policy.trusted)
    return {Path(v.submission.split(" [")[0]).name: v for v in evaluate(comp, policy, category)}


def test_pass_and_fail_per_submission_with_reasons(tmp_path, lab):
    key, policy = lab
    grade_b = make_record(energy_per_inference_j=8e-5 * K)  # class B
    grade_c = make_record(energy_per_inference_j=2e-4 * K, model_name="big")  # class C
    subs = [
        submit(tmp_path, "acme", [sign_record(grade_b, key)], "sme", key),
        submit(tmp_path, "bigco", [sign_record(grade_c, key)], "sme", key),
        submit(tmp_path, "tiny", [sign_record(make_record(model_name="small"), key)], "micro", key),
        submit(tmp_path, "unsigned", [make_record(model_name="u")], "sme"),
        submit(tmp_path, "estimate", [sign_record(make_record(measurement="ESTIMATED"), key)],
               "micro", key),
        submit(tmp_path, "nlp", [sign_record(make_record(workload="nlp-intent"), key)], "micro",
               key),
        submit(tmp_path, "gpu", [sign_record(make_record(device_kind="gpu"), key)], "micro", key),
        submit(tmp_path, "nocat", [sign_record(make_record(model_name="c2"), key)], None, key),
    ]  # fmt: skip
    v = verdicts_for(subs, policy)
    assert v["acme.zip"].passed, v["acme.zip"].reasons
    assert v["tiny.zip"].passed  # C is enough for a micro-enterprise
    assert not v["bigco.zip"].passed
    assert v["bigco.zip"].reasons == [
        f"big on vision-digits ({grade_c.record_id[:12]}): grade C is below the minimum B for sme"
    ]
    assert any("no signature" in r for r in v["unsigned.zip"].reasons)
    assert any("ESTIMATED" in r and "measured only" in r for r in v["estimate.zip"].reasons)
    assert v["nlp.zip"].reasons == ["required workload vision-digits is missing"]
    assert any("hardware class gpu" in r for r in v["gpu.zip"].reasons)
    assert any("no applicant category" in r for r in v["nocat.zip"].reasons)
    assert v["nocat.zip"].category is None


def test_untrusted_key_and_edited_record_fail(tmp_path, lab):
    _, policy = lab
    other_key, _, _ = generate_key_pair(tmp_path / "other")
    rec = sign_record(make_record(energy_per_inference_j=8e-5 * K), load_private_key(other_key))
    path = save_record(rec, tmp_path / "x")
    v = verdicts_for([path], policy, category="sme")
    (only,) = v.values()
    assert not only.passed and "not in" in only.reasons[0]
    edited = path.read_text().replace('"value": 0.98', '"value": 0.99')
    assert edited != path.read_text()
    path.write_text(edited)
    (only,) = verdicts_for([path], policy, category="sme").values()
    assert only.reasons[0].endswith("integrity check failed")
    assert "required workload vision-digits is missing" in only.reasons


def test_cli_compare_policy_prints_pass_fail_and_exit_code(tmp_path, lab):
    key, policy = lab
    good = submit(
        tmp_path,
        "good",
        [sign_record(make_record(energy_per_inference_j=3e-5 * K), key)],
        "mid-size",
        key,
    )
    bad = submit(tmp_path, "bad", [sign_record(make_record(model_name="x"), key)], "mid-size", key)
    a = typer.Typer()
    a.callback()(lambda: None)  # a group, so that the command name is parsed
    compare_cmd.register(a)
    res = CliRunner().invoke(a, ["compare", str(good), str(bad), "--policy", str(policy)])
    assert res.exit_code == compare_cmd.EXIT_NOT_ELIGIBLE, res.output
    assert f"PASS  {good} [bundle " in res.output
    assert f"FAIL  {bad} [bundle " in res.output and "below the minimum A" in res.output
    res = CliRunner().invoke(a, ["compare", str(good), "--policy", str(policy)])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    "text, message",
    [
        ("[policy]\nmin_grade = { sme = 'F' }\n", "policy.min_grade.sme: Input should be 'A'"),
        ("[policy]\nhardware_class = 'tpu'\n", "policy.hardware_class"),
        ("[policy]\nmeasured_only = 'yes'\n", "policy.measured_only: Input should be a valid bool"),
        ("[policy]\nrequired_workload = ['x']\n", "policy.required_workload: unknown key"),
        ("[other]\n", "p.toml: policy: missing"),
        ("[policy\n", "malformed TOML"),
    ],
)
def test_policy_errors_name_the_field(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_signature_required_by_default_only_when_keys_are_listed(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[policy]\n")
    p = load_policy(path)
    assert not p.require_signature and p.measured_only and not p.allow_quick


def test_a_policy_fixes_how_engine_settings_were_set(tmp_path, lab):
    from ecoscore.record import Tuning, TuningTrial

    key, policy_path = lab
    text = policy_path.read_text().replace(
        "allow_quick = false", 'allow_quick = false\nengine_settings = "auto"\nthreads = 1'
    )
    policy_path.write_text(text)

    def with_settings(rec: RunRecord, mode: str, threads: int) -> RunRecord:
        chosen = {"threads": threads}
        trials = [TuningTrial(settings=chosen, queries=9, latency_p50_s=1e-5)]
        tuning = Tuning(mode=mode, chosen=chosen, trials=trials if mode == "auto" else [],
                        criterion="latency_p50_s" if mode == "auto" else None)  # fmt: skip
        config = {"engine": "onnxruntime", "threads": threads}
        scenarios = [
            s.model_copy(update={"tuning": tuning, "engine_config": config}) for s in rec.scenarios
        ]
        return rec.model_copy(update={"scenarios": scenarios}).with_id()

    base = make_record(energy_per_inference_j=8e-5 * K)
    auto_1 = with_settings(base, "auto", 1)
    user_2 = with_settings(make_record(energy_per_inference_j=8e-5 * K, model_name="u"),
                           "user-chosen", 2)  # fmt: skip
    subs = [
        submit(tmp_path, "auto1", [sign_record(auto_1, key)], "sme", key),
        submit(tmp_path, "user2", [sign_record(user_2, key)], "sme", key),
        submit(tmp_path, "untuned", [sign_record(make_record(model_name="o"), key)], "micro", key),
    ]
    v = verdicts_for(subs, policy_path)
    assert v["auto1.zip"].passed, v["auto1.zip"].reasons
    tag = f"u on vision-digits ({user_2.record_id[:12]})"
    assert f"{tag}: single_stream engine settings user-chosen; the policy needs auto" in (
        v["user2.zip"].reasons
    )
    assert (
        f"{tag}: single_stream ran with 2 engine thread(s); the policy needs 1"
        in v["user2.zip"].reasons
    )
    assert any("engine settings not recorded" in r for r in v["untuned.zip"].reasons)


def test_a_demo_workload_on_the_calibrated_scale_is_not_certifiable_and_says_why(tmp_path, lab):
    """Scale 2027.1 marks vision-digits demo: the policy's reason names that, not an empty
    list of failed rules."""
    key, policy_path = lab
    text = policy_path.read_text().replace("[policy]\n", '[policy]\nscale_version = "2027.1"\n', 1)
    policy_path.write_text(text)
    sub = submit(tmp_path, "acme", [sign_record(make_record(), key)], "micro", key)
    (only,) = verdicts_for([sub], policy_path).values()
    assert not only.passed
    assert any(r.endswith(": not certifiable (demo-workload)") for r in only.reasons), only.reasons
