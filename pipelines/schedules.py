"""Schedules: the nightly run after the US close (NYSE sessions only) and the weekly retrain."""

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias
from zoneinfo import ZoneInfo

import dagster as dg

from riskalloc.calendar import is_trading_day

if TYPE_CHECKING:  # what dg.define_asset_job returns; not exported at dagster's top level
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

TIMEZONE = "America/New_York"
NIGHTLY_CRON = "30 18 * * 1-5"  # 18:30 New York, Mon-Fri: after the 16:00 close and data settle
RETRAIN_CRON = "0 6 * * 6"  # Saturday 06:00 New York: a quiet window for the slow retrain
INGEST_ASSETS = ("prices", "macro")

JobLike: TypeAlias = "dg.JobDefinition | UnresolvedAssetJobDefinition"


def _local_date(context: dg.ScheduleEvaluationContext) -> dt.date:
    """The tick's calendar date in New York (a naive time is taken as New York time)."""
    tz = ZoneInfo(TIMEZONE)
    t = context.scheduled_execution_time or dt.datetime.now(tz)
    t = t.replace(tzinfo=tz) if t.tzinfo is None else t.astimezone(tz)
    return t.date()


def _is_partitioned(context: dg.ScheduleEvaluationContext, job: JobLike) -> bool:
    """Whether ``job`` is partitioned; an asset job only knows once resolved in its repository."""
    if getattr(job, "partitions_def", None) is not None:
        return True
    try:
        repo = context.repository_def
    except dg.DagsterInvariantViolationError:  # evaluated outside a repository (plain tests)
        return False
    return repo.get_job(job.name).partitions_def is not None


def nightly_run_config(day: str, ingest_assets: Sequence[str] = INGEST_ASSETS) -> dict:
    """Run config that ingests (incrementally) up to and including ``day``."""
    cfg = {"end": day, "incremental": True}
    return {"ops": {name: {"config": dict(cfg)} for name in ingest_assets}}


def build_schedules(
    nightly_job: JobLike,
    retrain_job: JobLike,
    ingest_assets: Sequence[str] = INGEST_ASSETS,
) -> list[dg.ScheduleDefinition]:
    """The nightly schedule (skips non-NYSE days) and the weekly retrain schedule."""

    @dg.schedule(
        name="nightly_schedule",
        cron_schedule=NIGHTLY_CRON,
        job=nightly_job,
        execution_timezone=TIMEZONE,
        description="After the US close on NYSE sessions: ingest the day, then everything "
        "downstream. Holidays are skipped with the date named.",
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext):
        day = _local_date(context).isoformat()
        if not is_trading_day(day):
            return dg.SkipReason(f"{day} is not an NYSE (XNYS) trading day: nothing to ingest")
        return dg.RunRequest(
            run_key=day,
            run_config=nightly_run_config(day, ingest_assets),
            tags={"riskalloc/as_of": day},
            # a day-partitioned job (e.g. with the target weights) runs that day's partition
            partition_key=day if _is_partitioned(context, nightly_job) else None,
        )

    @dg.schedule(
        name="weekly_retrain_schedule",
        cron_schedule=RETRAIN_CRON,
        job=retrain_job,
        execution_timezone=TIMEZONE,
        description="Saturday morning: refit the volatility forecaster and the first "
        "allocator's network.",
    )
    def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
        day = _local_date(context).isoformat()
        return dg.RunRequest(run_key=f"retrain-{day}", tags={"riskalloc/as_of": day})

    return [nightly_schedule, weekly_retrain_schedule]
