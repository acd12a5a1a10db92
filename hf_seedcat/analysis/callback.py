"""Watch pattern imbalance change during training: the CCT table at chosen steps, one JSON line each."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence

from transformers import TrainerCallback

from .consistency import cluster_consistency_table
from .figures import pattern_figures
from .report import sample_per_class
from .views import collect_views


class PatternImbalanceCallback(TrainerCallback):
    """Every ``every`` steps (default: the run's ``regroup_steps``) score ``dataset`` and record the CCT table.

    Appends ``{"step": ..., "random": ..., "rep_path": ..., ...}`` to ``output_dir/patterns.jsonl`` (default:
    the run's output_dir) and to ``self.history``; with ``figures=True`` also writes ``step<N>_*.png``. Runs on
    the main process only, on the unwrapped model in eval mode; training resumes unchanged afterwards.
    """

    def __init__(
        self,
        dataset,
        classes: Sequence[int] = (0, 1),
        n_clusters: int = 10,
        every: int | None = None,
        max_per_class: int | None = 500,
        output_dir: str | None = None,
        figures: bool = False,
        batch_size: int = 256,
        data_collator: Callable | None = None,
        seed: int = 0,
    ) -> None:
        self.dataset = sample_per_class(dataset, classes, max_per_class, seed)
        self.classes = list(classes)
        self.n_clusters = n_clusters
        self.every = every
        self.output_dir = output_dir
        self.figures = figures
        self.batch_size = batch_size
        self.data_collator = data_collator
        self.seed = seed
        self.history: list[dict] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        every = self.every or getattr(args, "regroup_steps", None)
        if not every or state.global_step % every or not state.is_world_process_zero:
            return
        views = collect_views(model, self.dataset, self.batch_size, self.data_collator)
        table = cluster_consistency_table(views, self.classes, self.n_clusters, self.seed)
        record = {"step": state.global_step, **{k: v for k, v in table.items() if isinstance(v, float)}}
        self.history.append(record)
        output_dir = self.output_dir or args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "patterns.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.figures:
            pattern_figures(views, self.classes, output_dir, prefix=f"step{state.global_step}_", seed=self.seed)
