"""The benchmark report's arithmetic: percentiles, ratios to the baseline, target verdicts."""

import os
import time
from types import SimpleNamespace

import pytest

from bench import cpu, report, results_io, targets
from bench.context import PipelineResult, Results
from bench.loadgen import LoadResult
from bench.profiler import category, parse, summarise
from bench.stats import Target, format_number, percentile, rate, ratio
from bench.stats import summarise as summarise_values


def test_percentile_interpolates_between_closest_ranks():
    values = [10, 20, 30, 40]
    assert percentile(values, 0) == 10
    assert percentile(values, 100) == 40
    assert percentile(values, 50) == pytest.approx(25)
    assert percentile(values, 90) == pytest.approx(37)


def test_percentile_ignores_input_order_and_handles_one_value():
    assert percentile([5, 1, 3], 50) == 3
    assert percentile([7.5], 99) == 7.5


def test_percentile_of_nothing_is_none_and_q_is_checked():
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="must be within"):
        percentile([1], 101)


def test_summary_of_latencies():
    summary = summarise_values(float(ms) for ms in range(1, 101))
    assert summary.count == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p99 == pytest.approx(99.01)
    assert summary.max == 100
    assert summary.mean == pytest.approx(50.5)
    assert summarise_values([]).p99 is None


def test_ratio_to_baseline_and_rate():
    assert ratio(150, 1000) == pytest.approx(0.15)
    assert ratio(None, 1000) is None
    assert ratio(10, 0) is None
    assert ratio(10, None) is None
    assert rate(300, 2.0) == 150
    assert rate(1, 0) is None


def test_targets_compare_in_the_right_direction():
    assert Target("create vs baseline", 0.2, 0.15, at_least=True).met is True
    assert Target("create vs baseline", 0.1, 0.15, at_least=True).met is False
    assert Target("p99", 100.0, 100, at_least=False).met is True
    assert Target("p99", 100.1, 100, at_least=False).met is False
    unmeasured = Target("p99", None, 100, at_least=False)
    assert unmeasured.met is None
    assert unmeasured.verdict == "not measured"
    assert Target("rss", 1, 150, at_least=False, unit=" MB").rule == "<= 150 MB"


def test_a_load_answered_mostly_with_errors_is_not_valid():
    ok = LoadResult(1000, 10.0, 1, 2, 3, 4, statuses={201: 995, 500: 5})
    broken = LoadResult(1000, 10.0, 1, 2, 3, 4, statuses={404: 1000})
    assert ok.valid
    assert ok.rps == 100
    assert not broken.valid
    assert not LoadResult(0, 10.0, None, None, None, None).valid


def test_format_number_keeps_three_significant_digits():
    assert format_number(None) == "-"
    assert format_number(0.012345) == "0.0123"
    assert format_number(12.345) == "12.3"
    assert format_number(1234.5) == "1,234"


def test_profile_samples_go_to_the_innermost_known_library():
    raw = (
        'process 7:"gunicorn";ThreadWorker.handle_request (gunicorn/workers/gthread.py:1);'
        "create (payments/services/create.py:9);execute (sqlalchemy/engine/base.py:3) 6\n"
        "ThreadWorker.handle_request (gunicorn/workers/gthread.py:1);"
        "create (payments/services/create.py:9);dumps (json/__init__.py:231) 4\n"
        "_worker (concurrent/futures/thread.py:83) 90\n"
    )
    stacks = parse(raw)
    assert sum(stacks.values()) == 100
    summary = summarise(stacks)
    # Threads idling in the pool are counted, but only request handling is broken down.
    assert summary["all_samples"] == 100
    assert summary["samples"] == 10
    assert summary["categories"][0] == ("database driver and ORM (SQLAlchemy, psycopg2)", 6)
    assert summary["own"] == [("create (payments/services/create.py)", 10)]
    assert category(("main (gunicorn/app.py:1)",)) == "gunicorn"


def test_saved_measurements_come_back_the_same(tmp_path):
    intake = LoadResult(300, 2.0, 5, 8, 20, 30, statuses={200: 300})
    results = Results(
        http={"create": LoadResult(100, 10.0, 50, 80, 99, 120, statuses={201: 99, 502: 1})},
        pipeline=PipelineResult(300, 300, 2, 3.0, [12.5, 40.0], intake),
        floor_pipeline=PipelineResult(300, 299, 0, 2.0, [9.0], intake),
        paced_pipeline=PipelineResult(300, 300, 0, 1.0, [7.0], intake, paced_per_second=300),
        memory_mb={"gunicorn": 101.5},
        data_sets={"small": 10_000},
        notes=["a warning"],
    )
    results_io.save(tmp_path / "results.json", results, ["a condition"])
    loaded, conditions = results_io.load(tmp_path / "results.json")
    assert loaded == results
    assert conditions == ["a condition"]
    assert loaded.http["create"].statuses[201] == 99


def test_the_floors_table_sets_each_target_beside_the_floor_and_the_service():
    def load(rps: float, p99_ms: float = 3) -> LoadResult:
        return LoadResult(int(rps * 10), 10.0, 1, 2, p99_ms, 400, statuses={200: int(rps * 10)})

    intake = LoadResult(300, 2.0, 5, 8, 20, 30, statuses={200: 300})
    results = Results(
        # create needs 0.15 x 1000 = 150/s, show 0.4 x 1000 = 400/s
        http={
            "baseline": load(1000),
            "create": load(60, p99_ms=150),
            "floor create": load(120, p99_ms=120),
            "show @small": load(300),
            "floor show @small": load(500),
        },
        pipeline=PipelineResult(600, 600, 0, 3.0, [10.0], intake),  # 200/s
        floor_pipeline=PipelineResult(600, 600, 0, 2.0, [10.0], intake),  # 300/s: meets 300
        paced_pipeline=PipelineResult(
            600, 600, 0, 2.0, [20.0] * 90 + [900.0] * 10, intake, {}, 300
        ),
        floor_paced_pipeline=PipelineResult(600, 600, 0, 2.0, [200.0] * 100, intake, {}, 300),
        data_sets={"small": 10_000},
    )
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")
        for line in report._floor_section(results).splitlines()
        if line.startswith("| ") and not line.startswith("| scenario")
    }
    assert rows["create"][1:5] == ["150/s", "120/s", "60.0/s", "0.50"]
    assert "beyond the floor" in rows["create"][5]
    assert rows["show (10,000 rows)"][1:5] == ["400/s", "500/s", "300/s", "0.60"]
    assert "the floor meets it" in rows["show (10,000 rows)"][5]
    assert rows["pipeline deliveries"][1:5] == ["300/s", "300/s", "200/s", "0.67"]
    assert "the floor meets it" in rows["pipeline deliveries"][5]
    # A latency is met at most; the share is floor / service (1.0: as quick as the floor).
    assert rows["create p99 latency"][1:5] == ["<= 100 ms", "120 ms", "150 ms", "0.80"]
    assert "beyond the floor" in rows["create p99 latency"][5]
    paced = rows["pipeline p99 latency at 300 reports/s"]
    assert paced[1:4] == ["<= 500 ms", "200 ms", "900 ms"]
    assert "the floor meets it" in paced[5]


def test_the_pipeline_latency_targets_are_judged_at_the_paced_rate():
    intake = LoadResult(300, 1.0, 5, 8, 20, 30, statuses={200: 300})  # taken at 300/s
    flood = PipelineResult(300, 300, 0, 1.0, [900.0] * 10, intake)  # the backlog's wait
    paced = PipelineResult(300, 300, 0, 1.0, [20.0] * 10, intake, paced_per_second=300)
    verdicts = {
        target.name: target.met
        for target in targets.evaluate(Results(pipeline=flood, paced_pipeline=paced))
    }
    assert verdicts["pipeline: deliveries/s"] is True  # 300 in 1 s, from the flood
    assert verdicts["pipeline: commit -> merchant p50 at 300 reports/s"] is True
    assert verdicts["pipeline: commit -> merchant p99 at 300 reports/s"] is True
    # A webhook that could not take 300/s is not judged at the lighter load it managed.
    slow_intake = LoadResult(300, 1.5, 5, 8, 20, 30, statuses={200: 300})  # 200/s
    slow = PipelineResult(300, 300, 0, 1.5, [20.0] * 10, slow_intake, paced_per_second=300)
    lagging = targets.evaluate(Results(pipeline=flood, paced_pipeline=slow))
    assert {t.name: t.met for t in lagging}[
        "pipeline: commit -> merchant p50 at 300 reports/s"
    ] is None
    unpaced = targets.evaluate(Results(pipeline=flood))
    assert {t.name: t.met for t in unpaced}[
        "pipeline: commit -> merchant p99 at 300 reports/s"
    ] is None


def test_cpu_per_request_and_the_ceiling_it_sets():
    before = {"service": 10.0, "postgres": 4.0, "redis": 1.0}
    after = {"service": 12.0, "postgres": 5.0, "redis": 1.0}

    per_request = cpu.per_unit_ms(before, after, units=1000)

    assert per_request == {"service": 2.0, "postgres": 1.0}  # redis spent nothing: left out
    assert cpu.ceiling(per_request, cores=2) == pytest.approx(2000 / 3)
    assert cpu.per_unit_ms(before, after, units=0) == {}
    assert cpu.ceiling({}, cores=2) is None


def test_cpu_meter_counts_this_process_as_the_load_generator():
    meter = cpu.CpuMeter({"gunicorn": SimpleNamespace(pid=os.getpid())}, fakes_pid=None)
    before = meter.snapshot()
    # Burn 0.2 s of CPU here: the kernel counts CPU time in 10 ms ticks, so a shorter burn
    # could end before the count moves.
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        sum(i * i for i in range(10_000))
    after = meter.snapshot()
    assert after["load generator"] > before["load generator"]
    assert after["gunicorn"] > before["gunicorn"]  # a named process: this one, here
    assert set(cpu.GROUPS) - {"dramatiq", "scheduler"} <= set(after)
