"""Research assets: the robustness grid and the allocator model selection, as partitions.

Each partition is one independent unit of work (a grid cell ``<strategy>@<seed>``, a
selection unit ``<design>@<seed>``) computed by one library function that writes its rows to
its own Parquet files; the downstream summary asset merges them into DuckDB, the only DuckDB
writer (see :mod:`riskalloc.warehouse.units`). A backfill spreads the partitions over
processes or a cluster. None of these assets is part of ``main_job``.
"""

import dagster as dg

from pipelines.metadata import table_preview
from pipelines.resources import SourceResource, WarehouseResource
from riskalloc.atomic import atomic_write_text
from riskalloc.backtest import robustness_grid as grid
from riskalloc.backtest import selection, selection_partitions

GROUP = "research"


def grid_assets(spec: grid.GridSpec | None = None) -> list[dg.AssetsDefinition]:
    """``backtest_grid`` (one partition per cell of ``spec``) and ``backtest_grid_summary``."""
    spec = spec or grid.GridSpec()
    partitions = dg.StaticPartitionsDefinition(grid.keys_of(grid.spec_cells(spec)))

    @dg.asset(
        name="backtest_grid",
        group_name=GROUP,
        partitions_def=partitions,
        deps=["prices", "macro", "vol_forecasts"],
        kinds={"pytorch", "parquet"},
    )
    def backtest_grid(
        context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One cell of the robustness grid (a strategy under one risk measure and seed, every
        rebalance frequency and cost), walked forward over the grid's window."""
        res = grid.run_unit(warehouse.warehouse(), source.universe(), spec, context.partition_key)
        head = res.metrics.loc[res.metrics["period"] == spec.period]
        return dg.MaterializeResult(
            metadata={
                "rows": len(res.metrics),
                "sharpe": table_preview(
                    head.loc[:, ["strategy", "rebalance", "cost_bps", "seed", "sharpe"]], limit=20
                ),
            }
        )

    @dg.asset(
        name="backtest_grid_summary", group_name=GROUP, deps=[backtest_grid], kinds={"duckdb"}
    )
    def backtest_grid_summary(
        source: SourceResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Every cell's rows merged into the backtest tables with the Sharpe tests, and the
        mean ± std over seeds of each setting (Markdown under reports/backtest_grid)."""
        wh = warehouse.warehouse()
        t = grid.merge_units(wh, source.universe(), spec)
        text = t.summary.to_markdown(index=False, floatfmt=".3f")
        path = atomic_write_text(wh.root / "reports" / "backtest_grid" / "summary.md", text + "\n")
        return dg.MaterializeResult(
            metadata={
                "rows": len(t.metrics),
                "summary": table_preview(t.summary, limit=40),
                "report": dg.MetadataValue.path(str(path)),
            }
        )

    return [backtest_grid, backtest_grid_summary]


def selection_assets(
    cfg: selection.SelectionConfig | None = None,
    designs: list | None = None,
) -> list[dg.AssetsDefinition]:
    """``model_selection`` (one partition per (design, seed)) and ``model_selection_summary``."""
    cfg = cfg or selection.SelectionConfig()
    designs = list(designs or selection.search_space())
    keys = [selection.unit_key(d, s) for d, s in selection.selection_units(designs, cfg)]

    @dg.asset(
        name="model_selection",
        group_name=GROUP,
        partitions_def=dg.StaticPartitionsDefinition(keys),
        deps=["prices", "macro"],
        kinds={"pytorch", "parquet"},
    )
    def model_selection(
        context: dg.AssetExecutionContext, source: SourceResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """One (design, seed) of the allocator selection on the 2009-2016 development folds."""
        rows = selection_partitions.run_unit(
            warehouse.warehouse(), source.universe(), context.partition_key, designs, cfg
        )
        return dg.MaterializeResult(
            metadata={"mean_fold_sharpe": float(rows["sharpe"].mean()), "folds": len(rows)}
        )

    @dg.asset(
        name="model_selection_summary", group_name=GROUP, deps=[model_selection], kinds={"duckdb"}
    )
    def model_selection_summary(
        source: SourceResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        """Every candidate scored (the ``model_selection`` table) and the chosen design, written
        to research/model_selection/selected_design.json for review."""
        wh = warehouse.warehouse()
        result = selection_partitions.merge_units(wh, source.universe(), designs, cfg)
        path = selection.write_selected(
            result, wh.root / "research" / selection_partitions.EXPERIMENT / "selected_design.json"
        )
        return dg.MaterializeResult(
            metadata={
                "chosen": result.chosen.key,
                "n_trials": result.n_trials,
                "gate_spa_pvalue": float(result.gate.get("spa_pvalue", float("nan"))),
                "gate_superior": ", ".join(result.gate.get("superior", [])) or "none",
                "summary": table_preview(result.summary, limit=30),
                "selected_design": dg.MetadataValue.path(str(path)),
            }
        )

    return [model_selection, model_selection_summary]
