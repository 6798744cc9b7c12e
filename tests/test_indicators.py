"""Indicators beside the grade: CO2e, embodied share, water, baseline, volume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecoscore.grading.carbon import CarbonDataError, energy_mix_path, grid_intensity
from ecoscore.grading.embodied import (
    SECONDS_PER_YEAR,
    EmbodiedDataError,
    embodied_share,
    load_embodied_table,
)
from ecoscore.grading.indicators import (
    IndicatorError,
    compare_with_baseline,
    compute_indicators,
    format_quantity,
)
from tests.record_factory import make_record


def test_grid_intensity_is_read_from_codecarbons_bundled_file() -> None:
    doc = json.loads(energy_mix_path().read_text())
    fra = grid_intensity("fra")
    assert fra.iso3 == "FRA" and fra.country == "France"
    assert fra.g_co2e_per_kwh == doc["FRA"]["carbon_intensity"]
    assert fra.year == doc["FRA"]["year"]
    assert "global_energy_mix.json" in fra.source and str(fra.year) in fra.source
    assert grid_intensity("POL").g_co2e_per_kwh > 5 * fra.g_co2e_per_kwh


def test_bad_locations_are_refused() -> None:
    with pytest.raises(CarbonDataError, match="no country 'XXX'"):
        grid_intensity("XXX")
    with pytest.raises(CarbonDataError, match="alpha-3"):
        grid_intensity("France")


def test_co2e_per_thousand_inferences() -> None:
    rec = make_record(energy_per_inference_j=3.6e-3)  # 1 kWh per million inferences
    ind = compute_indicators(rec, location="DEU")
    grid = grid_intensity("DEU").g_co2e_per_kwh
    assert ind.energy_per_1000_j == pytest.approx(3.6)
    assert ind.carbon is not None
    assert ind.carbon.g_co2e_per_1000 == pytest.approx(3.6 / 3.6e6 * grid)


def test_embodied_table_matches_devices_and_keeps_unknowns_unknown() -> None:
    table = load_embodied_table("2026.1")
    h100 = table.match("gpu", "NVIDIA H100 80GB HBM3")
    assert h100 is not None and h100.id == "nvidia-h100" and h100.footprint_status == "proxy"
    assert table.match("gpu", "NVIDIA A100-SXM4-40GB").id == "nvidia-a100"
    assert table.match("cpu", "AMD EPYC 7763 64-Core Processor").id == "server-cpu-x86"
    assert table.match("cpu", "NVIDIA H100") is None  # kind must match too
    for entry in table.devices:
        assert entry.footprint_source and entry.lifetime_source

    pi = embodied_share(table, "board", "Raspberry Pi 5 Model B Rev 1.0", 1e-3)
    assert not pi.known and pi.g_co2e_per_1000 is None
    assert pi.entry is not None and "no published" in (pi.reason or "")
    laptop = embodied_share(table, "cpu", "Intel(R) Core(TM) i7-1165G7", 1e-3)
    assert not laptop.known and laptop.g_co2e_per_1000 is None
    assert "not in embodied table 2026.1" in (laptop.reason or "")


def test_embodied_share_is_allocated_by_active_time() -> None:
    table = load_embodied_table()
    share = embodied_share(table, "cpu", "Intel(R) Xeon(R) Gold 6134 CPU @ 3.20GHz", 50e-6)
    assert share.known
    expected = 23.78e3 * (50e-6 * 1000) / (5 * SECONDS_PER_YEAR)
    assert share.g_co2e_per_1000 == pytest.approx(expected)
    assert not embodied_share(table, "cpu", "Intel Xeon", None).known


def test_active_time_comes_from_the_measured_windows() -> None:
    ind = compute_indicators(make_record(latency_ms=0.2))
    assert ind.embodied.active_s_per_inference == pytest.approx(0.2e-3)
    assert ind.latency_p90_ms == pytest.approx(0.26)


def test_embodied_table_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text(
        '[table]\nversion = "2026.9"\n[[devices]]\nid = "a"\nkind = "board"\nname = "n"\n'
        'match = "n"\nfootprint_status = "none"\nkgco2e = 1.0\nfootprint_source = "s"\n'
        'lifetime_years = 5\nlifetime_source = "s"\n'
    )
    with pytest.raises(EmbodiedDataError, match=r"t\.toml: devices\.0: .*kgco2e is given"):
        load_embodied_table(path=bad)
    bad.write_text(bad.read_text().replace('kind = "board"', 'kind = "tpu"'))
    with pytest.raises(EmbodiedDataError, match=r"t\.toml: devices\.0\.kind: "):
        load_embodied_table(path=bad)
    bad.write_text(bad.read_text().replace('version = "2026.9"', 'version = "x"'))
    with pytest.raises(EmbodiedDataError, match=r"t\.toml: table\.version: "):
        load_embodied_table(path=bad)


def test_water_needs_a_declared_factor() -> None:
    rec = make_record(energy_per_inference_j=3.6e-3)
    assert compute_indicators(rec).water is None
    water = compute_indicators(rec, water_l_per_kwh=2.0).water
    assert water is not None and water.l_per_1000 == pytest.approx(2.0e-6)  # 3.6 J = 1e-6 kWh
    assert "declared" in water.source
    with pytest.raises(IndicatorError):
        compute_indicators(rec, water_l_per_kwh=-1)


def test_baseline_comparison_points_per_extra_joule() -> None:
    model = make_record(energy_per_inference_j=2e-4, quality=0.98)
    base = make_record(
        model_name="digits-logreg", role="baseline", energy_per_inference_j=5e-5, quality=0.96
    )
    cmp_ = compare_with_baseline(model, base)
    assert cmp_.quality_points_gained == pytest.approx(2.0)
    assert cmp_.extra_energy_j == pytest.approx(1.5e-4)
    assert cmp_.points_per_extra_joule == pytest.approx(2.0 / 1.5e-4)
    assert cmp_.energy_ratio == pytest.approx(4.0)
    assert cmp_.baseline_passes_gate
    assert cmp_.verdict.startswith("the baseline already passes the gate")


def test_baseline_that_wins_and_baseline_of_another_workload() -> None:
    model = make_record(energy_per_inference_j=2e-4, quality=0.96)
    base = make_record(
        model_name="logreg", role="baseline", energy_per_inference_j=5e-5, quality=0.97
    )
    cmp_ = compare_with_baseline(model, base)
    assert cmp_.verdict == "the baseline is as good or better with 4x less energy"
    other = make_record(workload="nlp-intent")
    with pytest.raises(IndicatorError, match="not vision-digits 1.0"):
        compare_with_baseline(model, other)


def test_volume_projection_shows_the_rebound() -> None:
    rec = make_record(energy_per_inference_j=3.6e-3)  # 1 Wh per 1000 inferences
    ind = compute_indicators(rec, location="FRA", queries_per_day=1000)
    kwh = 3.6e-3 * 1000 * 365.25 / 3.6e6
    assert [r.queries_per_day for r in ind.volume] == [1000, 10000, 100000]
    assert ind.volume[0].kwh_per_year == pytest.approx(kwh)
    assert ind.volume[2].kwh_per_year == pytest.approx(100 * kwh)
    g = grid_intensity("FRA").g_co2e_per_kwh
    assert ind.volume[0].kg_co2e_per_year == pytest.approx(kwh * g / 1000)
    assert ind.volume[0].embodied_kg_co2e_per_year is not None
    unknown = compute_indicators(make_record(device_name="Apple M2"), queries_per_day=10)
    assert unknown.volume[0].embodied_kg_co2e_per_year is None


def test_format_quantity() -> None:
    assert format_quantity(0.2, "J") == "200 mJ"
    assert format_quantity(1.12, "J") == "1.12 J"
    assert format_quantity(3.11e-6, "g") == "3.11 µg"
    assert format_quantity(None, "g") == "unknown"
