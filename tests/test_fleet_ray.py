"""Fleet campaigns on a real local Ray cluster of simulated device nodes (tests/fleet_cluster.py).

The cluster is started once for the module: a head node of device class ``board-a`` and a
node of class ``board-b``, each started with ``ecoscore node start`` and each reading its
own fake sysfs tree (a RAPL counter advanced at 4 W and 9 W). The kill test adds a second
``board-a`` node. Every test is bounded in time; the fixture kills every process of the
cluster and checks that none is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.fleet_cluster import (
    RAY_AUTH,
    RAY_IP,
    LocalCluster,
    ecoscore_exe,
    ray_installed,
    time_limit,
)
from tests.onnx_models import linear_classifier

pytestmark = pytest.mark.skipif(
    not ray_installed(),
    reason="Ray is not installed: pip install 'ecoscore[fleet]' (.ci/setup installs it)",
)

CAMPAIGN = """
schema_version = "1.0"
name = "{name}"
[devices.board-a]
[devices.board-b]
[defaults]
repeats = 1
settings = {{ threads = 1 }}
{entries}
"""

TWO_BY_TWO = """
[[entries]]
workload = "vision-digits"
models = ["reference", "mine.onnx"]
[[entries]]
workload = "nlp-intent"
models = ["reference", "baseline"]
"""


def write(folder: Path, name: str, entries: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    linear_classifier(folder / "mine.onnx")
    path = folder / "campaign.toml"
    path.write_text(CAMPAIGN.format(name=name, entries=entries))
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a fixture
    c = LocalCluster(tmp_path_factory.mktemp("fleet"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in RAY_AUTH.items():  # the in-process drivers' token
                mp.setenv(k, v)
            with time_limit(240):
                c.add_node("board-a", "Simulated Board A", 4.0)
                c.add_node("board-b", "Simulated Board B", 9.0)
            yield c
    finally:
        c.stop()
        assert c.leftover() == [], "processes of the test cluster are still running"


def driver_options(cluster: LocalCluster):  # noqa: ANN201
    from ecoscore.fleet.driver import DriverOptions
    from ecoscore.fleet.ray_env import ClusterOptions

    return DriverOptions(
        ClusterOptions(address=cluster.address, node_ip_address=RAY_IP), attempt_timeout_s=120
    )


def cli(cluster: LocalCluster, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ecoscore_exe(), *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def record_attempts(entry) -> list:  # noqa: ANN001
    return [a for a in entry.attempts if a.outcome == "record"]


def test_a_campaign_runs_on_two_simulated_devices(cluster: LocalCluster, tmp_path: Path) -> None:
    from ecoscore import results
    from ecoscore.fleet.campaign_record import load_campaign_record
    from ecoscore.record import load_record
    from ecoscore.results import note_fields

    path = write(tmp_path, "two-by-two", TWO_BY_TWO)
    out = tmp_path / "results"
    run_args = ["campaign", "run", str(path), "--quick", "--address", cluster.address,
                "--node-ip-address", RAY_IP, "--out", str(out),
                "--attempt-timeout", "120"]  # fmt: skip
    res = cli(cluster, *run_args, "--html", str(tmp_path / "report.html"))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "8 record(s) stored, 0 already in the store, 0 failed" in res.stdout
    assert "single-stream grade and energy per device class" in res.stdout
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")

    store = out / "campaigns" / "two-by-two"
    rec = load_campaign_record(store)
    assert len(rec.entries) == 8 and {e.state for e in rec.entries} == {"done"}
    files = sorted((store / "runs").glob("*.json"))
    assert len(files) == 8
    power = {"board-a": 4.0, "board-b": 9.0}
    board = {"board-a": "Simulated Board A", "board-b": "Simulated Board B"}
    by_entry = {e.entry: e for e in rec.entries}
    for f in files:
        run = load_record(f)  # schema and integrity
        note = note_fields(run.provenance.notes)
        assert note is not None and note["campaign"] == "two-by-two"
        entry = by_entry[note["entry"]]
        assert entry.record_id == run.record_id and entry.model_sha256 == run.model.sha256
        cls = note["device_class"]
        assert run.device.name == board[cls] and run.device.kind == "board"
        assert run.meter.name == "rapl" and run.meter.measurement == "MEASURED"
        assert run.idle.power_w == pytest.approx(power[cls], rel=0.25)  # its own sysfs tree
        assert run.run.quick and run.run.repeats == 1
        assert len(record_attempts(entry)) == 1
    # two nodes, one per class; the user model went to each once, the shipped ones never
    assert sorted(n.device_class for n in rec.nodes) == ["board-a", "board-b"]
    mine = next(e.model_sha256 for e in rec.entries if e.model_name == "mine")
    assert all(n.blobs_fetched == [mine] for n in rec.nodes)
    assert all(n.advertised_device == n.device_class for n in rec.nodes)

    df = results.load(store)
    assert len(df) == 8 * 2  # two scenarios a record
    assert set(df["device_class"]) == {"board-a", "board-b"}
    assert set(df["assurance"]) == {"self-measured"}
    # quick runs through fake sysfs trees: never certifiable, and the rules say why
    assert not df["certifiable"].any()
    assert all({"full-run", "not-redirected"} <= set(r.split()) for r in df["failed_rules"])

    check = cli(cluster, "campaign", "verify", str(store))
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("OK  ") == 1 + 8

    # everything is in the store: a second run sends nothing and says so
    again = cli(cluster, *run_args)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "0 record(s) stored, 8 already in the store, 0 failed" in again.stdout
    rec2 = load_campaign_record(store)
    assert [s.entries_in_store for s in rec2.sessions] == [0, 8]
    assert all(len(e.attempts) == 1 for e in rec2.entries)
    assert sorted((store / "runs").glob("*.json")) == files


def test_a_killed_worker_is_retried_on_another_node_or_fails(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    from ecoscore.fleet.campaign_file import plan_campaign
    from ecoscore.fleet.driver import run_campaign

    with time_limit(180):
        cluster.add_node("board-a", "Simulated Board A", 4.0)  # board-a now has two nodes
    path = write(
        tmp_path,
        "kill",
        """
[[entries]]
workload = "anomaly-machine"
models = ["reference", "baseline"]
devices = ["board-a"]
[[entries]]
workload = "anomaly-machine"
models = ["reference"]
devices = ["board-b"]
""",
    )
    plan = plan_campaign(path, quick=True)
    killed: dict[str, tuple[str, str]] = {}
    timers: list[threading.Timer] = []

    def on_event(ev: dict) -> None:
        if ev["kind"] == "started" and ev["device_class"] not in killed:
            killed[ev["device_class"]] = (ev["entry"], ev["node_id"])
            # mid-run: the entry is measuring (a quick run takes seconds)
            t = threading.Timer(1.0, os.kill, (ev["pid"], signal.SIGKILL))
            timers.append(t)
            t.start()

    out = tmp_path / "results"
    with time_limit(300):
        res = run_campaign(plan, out, driver_options(cluster), on_event)
    for t in timers:
        t.join()
    rec = res.record
    entries = {e.entry: e for e in rec.entries}

    a_entry, a_node = killed["board-a"]
    lost, retried = entries[a_entry].attempts
    assert lost.outcome == "lost" and lost.node_id == a_node
    assert retried.outcome == "record" and retried.node_id not in (None, a_node)
    assert entries[a_entry].state == "done"

    b_entry, _ = killed["board-b"]
    assert entries[b_entry].state == "failed"
    assert "no other node of device class board-b to retry on" in (entries[b_entry].failure or "")
    assert [a.outcome for a in entries[b_entry].attempts] == ["lost"]
    assert [f.entry for f in rec.failures] == [b_entry]

    others = [e for e in rec.entries if e.entry not in (a_entry, b_entry)]
    assert [e.state for e in others] == ["done"] and len(others[0].attempts) == 1
    store = out / "campaigns" / "kill" / "runs"
    assert len(list(store.glob("*.json"))) == res.stored == 2  # nothing lost, nothing twice
    assert [e.entry for e in res.failed] == [b_entry]

    # the next run takes only the failed entry; the raylet has started a new worker
    with time_limit(300):
        again = run_campaign(plan, out, driver_options(cluster))
    assert (again.stored, again.in_store, again.failed) == (1, 2, [])
    assert len(list(store.glob("*.json"))) == 3
    assert all(len(record_attempts(e)) == 1 for e in again.record.entries)


def test_an_interrupted_driver_resumes_and_no_entry_runs_twice(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    from ecoscore.fleet.campaign_file import plan_campaign
    from ecoscore.fleet.campaign_record import load_campaign_record
    from ecoscore.fleet.driver import run_campaign

    path = write(
        tmp_path,
        "resume",
        """
[[entries]]
workload = "nlp-intent"
models = ["reference", "baseline"]
replicates = 2
""",
    )
    out = tmp_path / "results"
    runs = out / "campaigns" / "resume" / "runs"
    driver = subprocess.Popen(
        [ecoscore_exe(), "campaign", "run", str(path), "--quick", "--address", cluster.address,
         "--node-ip-address", RAY_IP, "--out", str(out)],
        env=cluster.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not list(runs.glob("*.json")):
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            time.sleep(0.2)
        assert list(runs.glob("*.json")), "no record arrived in time"
        driver.send_signal(signal.SIGINT)
        output, _ = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert driver.returncode == 130, output[-3000:]
    assert "interrupted" in output
    first = {f.name: f.read_bytes() for f in runs.glob("*.json")}
    rec = load_campaign_record(out / "campaigns" / "resume")
    assert rec.sessions[-1].state == "interrupted"
    done_first = {e.entry for e in rec.entries if e.state == "done"}
    assert len(done_first) == len(first) < 8
    assert all(a.outcome != "running" for e in rec.entries for a in e.attempts)

    plan = plan_campaign(path, quick=True)
    with time_limit(300):
        res = run_campaign(plan, out, driver_options(cluster))
    assert (res.stored, res.in_store, res.failed) == (8 - len(first), len(first), [])
    assert {f.name: f.read_bytes() for f in runs.glob("*.json") if f.name in first} == first
    assert len(list(runs.glob("*.json"))) == 8
    for e in res.record.entries:
        assert e.state == "done" and len(record_attempts(e)) == 1  # no entry ran twice
        if e.entry in done_first:
            assert all(a.session == 0 for a in e.attempts)  # not sent again on resumption


def test_without_a_cluster_the_campaign_runs_on_an_embedded_ray(tmp_path: Path) -> None:
    """No --address, no RAY_ADDRESS: one machine works with no set-up."""
    from ecoscore.fleet.campaign_file import plan_campaign

    path = tmp_path / "here.toml"
    path.write_text(
        'schema_version = "1.0"\nname = "here"\n[devices.this-machine]\nmeter = "estimate"\n'
        '[[entries]]\nworkload = "anomaly-machine"\nmodels = ["baseline"]\nrepeats = 1\n'
        "settings = { threads = 1 }\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH)  # nothing written to ~/.ray
    proc = subprocess.Popen(
        [ecoscore_exe(), "campaign", "run", str(path), "--quick", "--out", str(tmp_path / "r"),
         "--object-store-mb", "80"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=240)
    finally:
        LocalCluster._kill_group(proc.pid)  # whatever the embedded Ray left, if anything
    assert proc.returncode == 0, output[-3000:]
    assert "embedded Ray, this machine as this-machine" in " ".join(output.split())
    assert "1 record(s) stored" in output
    (entry,) = plan_campaign(path, quick=True).entries
    assert len(list((tmp_path / "r" / "campaigns" / "here" / "runs").glob("*.json"))) == 1
    assert entry.spec.device_class == "this-machine"


def test_a_device_class_without_nodes_fails_its_entries_with_the_reason(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    from ecoscore.fleet.campaign_file import plan_campaign
    from ecoscore.fleet.driver import run_campaign

    path = write(
        tmp_path,
        "absent",
        '[[entries]]\nworkload = "nlp-intent"\nmodels = ["baseline"]\n',
    )
    path.write_text(path.read_text().replace("[devices.board-b]", "[devices.board-c]"))
    with time_limit(180):
        res = run_campaign(plan_campaign(path, quick=True), tmp_path / "r", driver_options(cluster))
    (failed,) = res.failed
    assert failed.device_class == "board-c" and failed.attempts == []
    assert "no node of the cluster advertises device:board-c" in (failed.failure or "")
    assert "ecoscore node start --device board-c" in (failed.failure or "")
    assert res.stored == 1  # board-a's entry ran all the same
