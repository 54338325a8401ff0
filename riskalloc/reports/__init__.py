"""reports stage of riskalloc: SHAP attributions and regime/SHAP report renderers.

Modules: ``shap_attributions`` (explain, check_local_accuracy, aggregate_by_regime),
``regime_report``, ``shap_report`` and ``render`` (atomic writes, Markdown/HTML helpers).
Heavy libraries (shap, matplotlib) are imported only where used.
"""

__all__: list[str] = []  # import the submodules by name (heavy libraries stay unloaded)
