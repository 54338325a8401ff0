"""Nightly schedule runs on NYSE sessions only (config = that day); weekly retrain on Saturdays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from pipelines.assets import ingest
from pipelines.resources import SourceResource, WarehouseResource
from pipelines.schedules import build_schedules

NY = ZoneInfo("America/New_York")
DAYS = dg.DailyPartitionsDefinition(start_date="2020-01-01", timezone=str(NY), end_offset=1)


@dg.asset(partitions_def=DAYS, deps=["prices"])
def per_day() -> None:
    """A throwaway day-partitioned asset."""


@pytest.fixture(scope="module")
def defs_and_schedules(tmp_path_factory):
    """Throwaway jobs over the ingest assets, so the tests do not hang on the final job wiring."""
    nightly = dg.define_asset_job("test_nightly", selection=["prices", "macro"])
    retrain = dg.define_asset_job("test_retrain", selection=["prices"])
    daily = dg.define_asset_job("test_nightly_daily", selection=["prices", "macro", "per_day"])
    schedules = build_schedules(nightly, retrain)
    # the same nightly logic on a job with a day-partitioned asset (as the real target weights)
    [daily_schedule] = [s for s in build_schedules(daily, retrain) if s.name == "nightly_schedule"]
    db = tmp_path_factory.mktemp("wh") / "riskalloc.duckdb"
    defs = dg.Definitions(
        assets=[ingest.prices, ingest.macro, per_day],
        jobs=[nightly, retrain, daily],
        schedules=schedules,
        resources={
            "warehouse": WarehouseResource(database=str(db)),
            "source": SourceResource(source="sample"),
        },
    )
    return defs, {**{s.name: s for s in schedules}, "daily": daily_schedule}


def _tick(schedule: dg.ScheduleDefinition, when: dt.datetime):
    ctx = dg.build_schedule_context(scheduled_execution_time=when)
    return schedule.evaluate_tick(ctx)


def test_cron_and_timezone(defs_and_schedules):
    defs, by_name = defs_and_schedules
    nightly, retrain = by_name["nightly_schedule"], by_name["weekly_retrain_schedule"]
    assert nightly.cron_schedule == "30 18 * * 1-5"
    assert retrain.cron_schedule == "0 6 * * 6"
    assert nightly.execution_timezone == retrain.execution_timezone == "America/New_York"
    assert nightly.job_name == "test_nightly"
    assert retrain.job_name == "test_retrain"
    # both load into a Definitions object (names unique, jobs resolvable)
    assert defs.resolve_schedule_def("nightly_schedule") is not None


def test_nightly_on_trading_day_requests_run_for_that_date(defs_and_schedules):
    defs, by_name = defs_and_schedules
    when = dt.datetime(2026, 11, 25, 18, 30, tzinfo=NY)  # Wednesday before Thanksgiving
    data = _tick(by_name["nightly_schedule"], when)
    assert data.skip_message is None
    [req] = data.run_requests
    assert req.run_key == "2026-11-25"
    assert req.run_config["ops"]["prices"]["config"]["end"] == "2026-11-25"
    assert req.run_config["ops"]["macro"]["config"]["end"] == "2026-11-25"
    # the config is valid for the real ingest assets' IngestConfig
    job = defs.resolve_job_def("test_nightly")
    dg.validate_run_config(job, req.run_config)


def test_nightly_date_is_new_york_date_not_utc(defs_and_schedules):
    _, by_name = defs_and_schedules
    # 18:30 New York on Fri 2026-11-27 is already Saturday in UTC
    when = dt.datetime(2026, 11, 27, 18, 30, tzinfo=NY).astimezone(dt.timezone.utc)
    data = _tick(by_name["nightly_schedule"], when)
    assert [r.run_key for r in data.run_requests] == ["2026-11-27"]


def test_nightly_skips_thanksgiving_naming_the_date(defs_and_schedules):
    _, by_name = defs_and_schedules
    when = dt.datetime(2026, 11, 26, 18, 30, tzinfo=NY)  # Thursday, NYSE closed
    data = _tick(by_name["nightly_schedule"], when)
    assert not data.run_requests
    assert "2026-11-26" in data.skip_message
    # the direct call also returns a SkipReason
    result = by_name["nightly_schedule"](dg.build_schedule_context(scheduled_execution_time=when))
    assert isinstance(result, dg.SkipReason)


def test_nightly_skips_weekend(defs_and_schedules):
    _, by_name = defs_and_schedules
    when = dt.datetime(2026, 11, 28, 18, 30, tzinfo=NY)  # Saturday
    data = _tick(by_name["nightly_schedule"], when)
    assert not data.run_requests
    assert "2026-11-28" in data.skip_message


def test_weekly_retrain_requests_one_run_per_week(defs_and_schedules):
    _, by_name = defs_and_schedules
    when = dt.datetime(2026, 11, 28, 6, 0, tzinfo=NY)
    data = _tick(by_name["weekly_retrain_schedule"], when)
    [req] = data.run_requests
    assert req.run_key == "retrain-2026-11-28"
    assert req.tags["riskalloc/as_of"] == "2026-11-28"


def test_nightly_on_partitioned_job_runs_that_days_partition(defs_and_schedules):
    defs, by_name = defs_and_schedules
    when = dt.datetime(2026, 11, 25, 18, 30, tzinfo=NY)
    ctx = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    [req] = by_name["daily"].evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-11-25"
    assert req.tags["dagster/partition"] == "2026-11-25"
    # the un-partitioned job gets no partition key
    [plain] = _tick(by_name["nightly_schedule"], when).run_requests
    assert plain.partition_key is None
