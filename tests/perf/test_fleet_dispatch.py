"""Fleet campaigns: the dispatch overhead per entry, 100 quick entries on two simulated nodes.

Target (issue #18): at most 2 s of overhead per entry.

Set-up: the local Ray cluster of the fleet tests (tests/fleet_cluster.py), two nodes started
with ``ecoscore node start`` (``board-a`` and ``board-b``, each with a fake RAPL tree), and
a campaign of the cheapest real entry: the non-neural baseline of ``nlp-intent`` (a linear
model), ``--quick`` with 1 repeat and 1 thread, 50 replicates on each class (100 entries,
each a full run through the session path: quality on the evaluation set, idle baseline,
single-stream and offline windows, the record).

Method: every entry's own run time is measured on its node, around the session's plan,
meter and execute (``run_s``). Over the whole campaign, as the driver sees it (from joining
the cluster to the last record stored), the two nodes offer ``2 x wall`` seconds of device
time; what the entries' runs did not use of it is the framework's: joining Ray, sending the
model, scheduling, starting workers, returning, verifying and storing records, rewriting
the campaign record, and the idle tail when one node finishes before the other. Overhead
per entry = (2 x wall - sum of run_s) / 100: an upper bound of the dispatch cost. The gap
between two consecutive entries on one node (the next start minus the previous end, both
on the node's clock) is reported beside it.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from tests.fleet_cluster import RAY_AUTH, RAY_IP, LocalCluster, ray_installed, time_limit
from tests.perf.figures import report

TITLE = "fleet dispatch (target: overhead <= 2 s per entry)"
ENTRIES_PER_CLASS = 50

pytestmark = pytest.mark.skipif(
    not ray_installed(),
    reason="Ray is not installed: pip install 'ecoscore[fleet]' (.ci/setup installs it)",
)

CAMPAIGN = f"""
schema_version = "1.0"
name = "dispatch"
[devices.board-a]
[devices.board-b]
[[entries]]
workload = "nlp-intent"
models = ["baseline"]
repeats = 1
quick = true
settings = {{ threads = 1 }}
replicates = {ENTRIES_PER_CLASS}
"""


@pytest.mark.benchmark(group="fleet")
def test_dispatch_overhead_of_100_quick_entries(
    benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecoscore.fleet.campaign_file import plan_campaign
    from ecoscore.fleet.driver import DriverOptions, run_campaign
    from ecoscore.fleet.ray_env import ClusterOptions

    for k, v in RAY_AUTH.items():  # the driver's token
        monkeypatch.setenv(k, v)
    cluster = LocalCluster(tmp_path / "cluster")
    (tmp_path / "cluster").mkdir()
    try:
        with time_limit(240):
            cluster.add_node("board-a", "Simulated Board A", 4.0)
            cluster.add_node("board-b", "Simulated Board B", 9.0)
        path = tmp_path / "campaign.toml"
        path.write_text(CAMPAIGN)
        plan = plan_campaign(path)
        assert len(plan.entries) == 2 * ENTRIES_PER_CLASS
        opts = DriverOptions(
            ClusterOptions(address=cluster.address, node_ip_address=RAY_IP),
            attempt_timeout_s=120,
        )

        def campaign():  # noqa: ANN202
            return run_campaign(plan, tmp_path / "results", opts)

        with time_limit(1200):
            result = benchmark.pedantic(campaign, rounds=1, warmup_rounds=0)
    finally:
        cluster.stop()
    assert result.failed == [] and result.stored == 2 * ENTRIES_PER_CLASS
    n = len(result.timings)
    nodes = len({t.node_id for t in result.timings})
    run_total = sum(t.run_s for t in result.timings)
    overhead = (nodes * result.wall_s - run_total) / n
    gaps = []
    for node in {t.node_id for t in result.timings}:
        mine = sorted(
            (t for t in result.timings if t.node_id == node), key=lambda t: t.started_unix
        )
        gaps += [b.started_unix - a.finished_unix for a, b in zip(mine, mine[1:], strict=False)]
    back = [t.stored_unix - t.finished_unix for t in result.timings]
    runs = [t.run_s for t in result.timings]
    benchmark.extra_info.update(
        entries=n,
        nodes=nodes,
        wall_s=result.wall_s,
        run_s_total=run_total,
        run_s_median=statistics.median(runs),
        overhead_per_entry_s=overhead,
        gap_between_entries_median_s=statistics.median(gaps),
        record_back_and_stored_median_s=statistics.median(back),
    )
    report(TITLE, f"campaign wall ({n} entries, {nodes} nodes)", f"{result.wall_s:.1f} s")
    report(TITLE, "entry run on its node (median)", f"{statistics.median(runs):.2f} s")
    report(TITLE, "overhead per entry (2 x wall - runs) / n", f"{overhead:.3f} s")
    report(TITLE, "gap between entries on a node (median)", f"{statistics.median(gaps):.3f} s")
    report(TITLE, "record back, verified, stored (median)", f"{statistics.median(back):.3f} s")
    assert overhead <= 2.0
