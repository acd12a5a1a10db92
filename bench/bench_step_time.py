"""Step time and peak memory of ERM, GroupDRO and SeedCat, as ratios to a plain-``Trainer`` ERM, in one process.

The setting is DomainBed's ColoredMNIST run: test environment 2, the MNIST CNN, 64 samples per training
environment (a total batch of 128), Adam at lr 1e-3, constant schedule, no clipping (``DomainBedConfig``).
Four configurations train the same initial model:

    trainer_erm  a plain ``transformers.Trainer``: random sampler over the concatenated training
                 environments, a dataset of only the model's columns, the default ``compute_loss`` (the
                 model's ``.loss``, its mean cross-entropy). Every ratio is against this one.
    erm          ``SeedCatTrainer``, ``--algorithm erm`` (domain-balanced batches, plain mean loss).
    groupdro     ``SeedCatTrainer``, ``--algorithm groupdro``.
    seedcat      ``SeedCatTrainer``, ``--algorithm seedcat`` (loss rank, K=4), timed on steps without a regroup.

The seedcat regroup pass (one pass over the training set, ``trainer.regroup(step)``) is timed on its own. The
first pass is the initial grouping seedcat needs before it trains, and is also metered for memory (on CPU the
profiler's cost is within the noise there: large convolutions, few ops); ``--passes`` - 1 more are timed at the
start of the first rounds. On the paper's schedule (one pass every ``regroup_steps`` = 1000 steps) it adds
``pass time / 1000`` to every step: the amortised overhead is that over seedcat's step time.

Each round runs every configuration once, in an order that rotates from round to round: a short
``trainer.train()`` of ``--warmup`` + ``--steps`` optimizer steps, of which the first ``--warmup`` are discarded.
Background load therefore falls on all configurations alike. Medians are over every measured step of every
round; each round also gives its own ratio (its median over trainer_erm's median in the same round). Many
short rounds interleave better than a few long ones: on a shared CPU the load comes in phases of seconds.

A step's time is the interval between two ``on_step_end`` callbacks: drawing and collating the batch (which
the Trainer does *before* ``on_step_begin``), forward, backward, optimizer step. The ``on_step_begin`` ->
``on_step_end`` time (no data loading) is reported beside it. No evaluation and no logging run.

Peak memory of a configuration = its resident state (parameters, buffers and Adam moments, counted by tensor
bytes) + the most tensor bytes one training step holds at once above what was held when it began
(activations, gradients, temporaries). The step is metered on the last warm-up step of every round and
reported from the last round (the first round's first step also allocates Adam's moments). On CUDA that is
``max_memory_allocated()`` after ``reset_peak_memory_stats()``, minus ``memory_allocated()`` at the start; on
CPU it is replayed from ``torch.profiler``'s allocation events (``profile_memory=True``): the running sum of the
bytes allocated and freed through PyTorch's CPU allocator, in time order. Python objects and oneDNN's private
scratch buffers are not counted on CPU; the metered step is not timed.

Run from the repository root (see bench/README.md for the latest figures)::

    python bench/bench_step_time.py --output runs/bench/step_time_fp32.json
    python bench/bench_step_time.py --bf16 --output runs/bench/step_time_bf16.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import transformers
from torch.profiler import ProfilerActivity, profile
from transformers import HfArgumentParser, PrinterCallback, Trainer, TrainerCallback, set_seed

from hf_seedcat import SeedCatTrainer, create_image_classifier
from hf_seedcat.cli.train import parse_arguments
from hf_seedcat.console_logging import ConsoleLogCallback
from hf_seedcat.data_scripts import load_domain_dataset
from hf_seedcat.hparams import default_hparams
from hf_seedcat.protocol import DomainBedConfig
from hf_seedcat.regroup import RegroupCallback
from hf_seedcat.tensor_rows import as_tensor_rows

REFERENCE = "trainer_erm"
CONFIGURATIONS = (REFERENCE, "erm", "groupdro", "seedcat")
REGROUP = "seedcat_regroup"  # the regroup pass, timed on its own
BARE = "bare_loop"  # the same step in a plain PyTorch loop: what the Trainer path costs on top
TEST_ENVS = [2]
PER_ENV_BATCH = 64  # DomainBed: 64 samples from every training environment
MIB = 2**20


# ---- measuring ----------------------------------------------------------------------------------


class CudaPeakMemory:
    """Peak bytes allocated on the current CUDA device between ``start`` and ``stop``, above the start."""

    def start(self) -> None:
        torch.cuda.synchronize()
        self.base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()

    def stop(self) -> int:
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - self.base


class CpuPeakMemory:
    """Peak tensor bytes allocated on the CPU between ``start`` and ``stop``, above the start.

    Replays ``torch.profiler``'s memory events (one per allocation and free through PyTorch's CPU allocator)
    in time order. Frees of blocks allocated before ``start`` are not reported by the profiler, so the
    figure is the peak of what the metered code itself allocated and still held.
    """

    def start(self) -> None:
        self.profiler = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self.profiler.start()

    def stop(self) -> int:
        self.profiler.stop()
        # The raw event list: FunctionEvents fold allocations into the op that made them, losing the order.
        events = [
            event
            for event in self.profiler.profiler.kineto_results.events()
            if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
        ]
        held = peak = 0
        for event in sorted(events, key=lambda event: event.start_ns()):
            held += event.nbytes()
            peak = max(peak, held)
        return peak


class StepTimer(TrainerCallback):
    """Times each ``train()`` call's optimizer steps after the first ``warmup``; meters the memory of step ``warmup``.

    ``step_times``: previous ``on_step_end`` -> this ``on_step_end`` (batch draw, collation, forward,
    backward, optimizer step). ``compute_times``: ``on_step_begin`` -> ``on_step_end`` (no data loading).
    """

    def __init__(self, warmup: int, memory: CudaPeakMemory | CpuPeakMemory, synchronize: Callable[[], None]):
        self.warmup = warmup
        self.memory = memory
        self.synchronize = synchronize
        self.step_times: list[float] = []
        self.compute_times: list[float] = []
        self.step_peak_bytes: int | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.step_times, self.compute_times, self.step_peak_bytes = [], [], None
        self._begin = self._last_end = None

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step + 1 == self.warmup:
            self.memory.start()
        self.synchronize()
        self._begin = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.synchronize()
        now = time.perf_counter()
        if state.global_step > self.warmup:
            self.step_times.append(now - self._last_end)
            self.compute_times.append(now - self._begin)
        if state.global_step == self.warmup:
            self.step_peak_bytes = self.memory.stop()
        self._last_end = time.perf_counter()  # after the meter's own work, which no measured step includes


def resident_bytes(trainer: Trainer) -> int:
    """Bytes of the model's parameters and buffers and the optimizer's state tensors."""
    tensors = [*trainer.model.parameters(), *trainer.model.buffers()]
    if trainer.optimizer is not None:
        tensors += [v for state in trainer.optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


# ---- the configurations -------------------------------------------------------------------------


def build_trainers(args: argparse.Namespace, train_dataset, input_shape, num_classes, output_dir: str, timer):
    """The four trainers, each with its own copy of the same initial model and ``timer`` as a callback."""
    n_train_envs = len(train_dataset.unique("domain"))
    flags = [
        "--output_dir", output_dir,
        "--per_device_train_batch_size", str(PER_ENV_BATCH * n_train_envs),
        "--max_steps", str(args.warmup + args.steps),
        "--seed", "0",
        "--eval_strategy", "no",
        "--save_strategy", "no",
        "--logging_strategy", "no",
        "--disable_tqdm", "true",
    ]  # fmt: skip
    defaults = default_hparams("erm", "ColoredMNIST")  # DomainBed's lr and weight decay for the MNIST datasets
    flags += ["--learning_rate", str(defaults["lr"]), "--weight_decay", str(defaults["weight_decay"])]
    flags += ["--per_device_eval_batch_size", "1024"]
    if args.bf16:
        flags.append("--bf16")
    if args.device == "cpu":
        flags.append("--use_cpu")

    def fresh_model():
        set_seed(0)
        return create_image_classifier(input_shape, num_classes)

    # The same protocol for the plain Trainer, which reads only the TrainingArguments fields of DomainBedConfig.
    (reference_args,) = HfArgumentParser(DomainBedConfig).parse_args_into_dataclasses(
        args=flags + ["--remove_unused_columns", "false"]
    )
    model_columns = train_dataset.select_columns(["pixel_values", "labels"])
    trainers: dict[str, Trainer] = {
        REFERENCE: Trainer(model=fresh_model(), args=reference_args, train_dataset=model_columns, callbacks=[timer])
    }
    for algorithm in CONFIGURATIONS[1:]:
        _, config = parse_arguments(flags + ["--algorithm", algorithm])
        trainer = SeedCatTrainer(model=fresh_model(), args=config, train_dataset=train_dataset, callbacks=[timer])
        # Regroups are run (and timed) by hand: otherwise every train() call would start with a full pass.
        trainer.remove_callback(RegroupCallback)
        trainers[algorithm] = trainer
    for trainer in trainers.values():  # keep stdout for the table: no end-of-train metrics dicts or lines
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ConsoleLogCallback)
    return trainers


def timed_regroup(trainer: SeedCatTrainer, step: int, synchronize: Callable[[], None]) -> float:
    synchronize()
    start = time.perf_counter()
    trainer.regroup(step)
    synchronize()
    return time.perf_counter() - start


def bare_loop_times(
    args, train_dataset, input_shape, num_classes, device: str, steps: int, synchronize
) -> list[float]:
    """Per-step times of the same model, batch and Adam step in a plain loop: batches drawn at random from
    the training tensors in memory, moved to the device, forward, cross-entropy, backward, step."""
    set_seed(0)
    model = create_image_classifier(input_shape, num_classes).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    rows = as_tensor_rows(train_dataset.select_columns(["pixel_values", "labels"]))
    pixels, labels = rows.columns["pixel_values"], rows.columns["labels"]
    batch = PER_ENV_BATCH * len(train_dataset.unique("domain"))
    generator = torch.Generator().manual_seed(0)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=args.bf16)
    times = []
    for step in range(args.warmup + steps):
        synchronize()
        start = time.perf_counter()
        picks = torch.randint(len(labels), (batch,), generator=generator)
        x, y = pixels[picks].to(device), labels[picks].to(device)
        with autocast:
            logits = model(pixel_values=x).logits
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    return times


def count_syncs(trainer: Trainer, steps: int) -> dict[str, float]:
    """Host-device synchronisations per training step, inside ``compute_loss`` and in the whole step.

    ``torch.cuda.set_sync_debug_mode("warn")`` makes every synchronising call (a read-back, a blocking
    copy) warn; the warnings raised inside each wrapped call are counted. No step logs (logging is off),
    so these are the steps that must not wait for the device.
    """
    counts = {"compute_loss": 0, "training_step": 0}

    def counted(name: str, method: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = method(*args, **kwargs)
            counts[name] += sum("synchroniz" in str(w.message) for w in caught)
            for w in caught:  # keep every other warning visible
                if "synchroniz" not in str(w.message):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return result

        return wrapper

    trainer.compute_loss = counted("compute_loss", trainer.compute_loss)
    trainer.training_step = counted("training_step", trainer.training_step)
    trainer.args.max_steps = steps
    torch.cuda.set_sync_debug_mode("warn")
    try:
        trainer.train()
    finally:
        torch.cuda.set_sync_debug_mode("default")
        del trainer.compute_loss, trainer.training_step
    return {name: count / steps for name, count in counts.items()}


# ---- reporting ----------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {"median": q2, "p25": q1, "p75": q3, "n": len(values)}


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians, ratios to trainer_erm, peak memory; the regroup pass and what it adds per step."""
    reference = raw[REFERENCE]
    ref_step = statistics.median(t for times in reference["step_times"] for t in times)
    ref_memory = reference["resident_bytes"] + reference["step_peak_bytes"][-1]
    summary: dict[str, Any] = {}
    for name in CONFIGURATIONS:
        runs = raw[name]
        step = spread([t for times in runs["step_times"] for t in times])
        peak = runs["resident_bytes"] + runs["step_peak_bytes"][-1]
        summary[name] = {
            "step_time_s": step,
            "compute_time_s": spread([t for times in runs["compute_times"] for t in times]),
            "ratio": step["median"] / ref_step,
            "per_round_ratio": [
                statistics.median(mine) / statistics.median(ref)
                for mine, ref in zip(runs["step_times"], reference["step_times"], strict=True)
            ],
            "resident_bytes": runs["resident_bytes"],
            "step_peak_bytes": runs["step_peak_bytes"][-1],
            "peak_memory_bytes": peak,
            "memory_ratio": peak / ref_memory,
        }

    passes = raw[REGROUP]
    seedcat = summary["seedcat"]
    per_step = statistics.median(passes["times"]) / passes["regroup_steps"]
    with_regroup = seedcat["step_time_s"]["median"] + per_step
    pass_peak = seedcat["resident_bytes"] + passes["peak_bytes"]
    run_peak = max(seedcat["peak_memory_bytes"], pass_peak)
    bare = statistics.median(t for times in raw[BARE]["step_times"] for t in times)
    summary[BARE] = {
        "step_time_s": spread([t for times in raw[BARE]["step_times"] for t in times]),
        "ratio": bare / ref_step,
        "trainer_over_bare": {name: summary[name]["step_time_s"]["median"] / bare for name in CONFIGURATIONS},
    }
    if "syncs_per_step" in raw:
        summary["syncs_per_step"] = raw["syncs_per_step"]
    summary[REGROUP] = {
        "pass_time_s": spread(passes["times"]),
        "regroup_steps": passes["regroup_steps"],
        "train_samples": passes["train_samples"],
        "amortised_overhead": per_step / seedcat["step_time_s"]["median"],
        "pass_peak_bytes": passes["peak_bytes"],
        "peak_memory_bytes": pass_peak,
        "memory_ratio": pass_peak / ref_memory,
        "seedcat_with_regroup": {
            "step_time_s": with_regroup,
            "ratio": with_regroup / ref_step,
            "peak_memory_bytes": run_peak,
            "memory_ratio": run_peak / ref_memory,
        },
    }
    return summary


def markdown_table(summary: dict[str, Any]) -> str:
    lines = [
        "| configuration | median step (s) | p25-p75 (s) | ratio to trainer_erm | per-round ratios "
        "| w/o data loading (s) | peak memory (MiB) | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in CONFIGURATIONS:
        row = summary[name]
        step, compute, rounds = row["step_time_s"], row["compute_time_s"], row["per_round_ratio"]
        label = "seedcat (steps without a regroup)" if name == "seedcat" else name
        lines.append(
            f"| {label} | {step['median']:.3f} | {step['p25']:.3f}-{step['p75']:.3f} | {row['ratio']:.3f} "
            f"| {min(rounds):.2f}-{max(rounds):.2f} | {compute['median']:.3f} "
            f"| {row['peak_memory_bytes'] / MIB:.1f} | {row['memory_ratio']:.2f} |"
        )
    regroup = summary[REGROUP]
    both, passes, t0 = regroup["seedcat_with_regroup"], regroup["pass_time_s"], regroup["regroup_steps"]
    lines += [
        f"| seedcat + regroup pass amortised over {t0} steps | {both['step_time_s']:.3f} | | {both['ratio']:.3f} "
        f"| | | {both['peak_memory_bytes'] / MIB:.1f} | {both['memory_ratio']:.2f} |",
        "",
        f"Regroup pass over {regroup['train_samples']} samples: median {passes['median']:.1f} s "
        + (
            f"({passes['n']} passes, p25-p75 {passes['p25']:.1f}-{passes['p75']:.1f} s), "
            if passes["n"] > 1
            else "(1 pass), "
        )
        + f"peak memory {regroup['peak_memory_bytes'] / MIB:.1f} MiB ({regroup['memory_ratio']:.2f} x trainer_erm). "
        f"Amortised overhead = pass / {t0} / seedcat step = {100 * regroup['amortised_overhead']:.1f}%.",
        "",
        f"Bare PyTorch loop (same model, batch and Adam step, batches from tensors in memory): median "
        f"{summary[BARE]['step_time_s']['median']:.4f} s; Trainer paths over it: "
        + ", ".join(f"{name} {ratio:.2f}x" for name, ratio in summary[BARE]["trainer_over_bare"].items())
        + ".",
    ]
    if "syncs_per_step" in summary:
        lines += [
            "",
            "Host-device synchronisations per step (CUDA sync debug mode, no logging step): "
            + "; ".join(
                f"{name}: compute_loss {c['compute_loss']:.2f}, whole step {c['training_step']:.2f}"
                for name, c in summary["syncs_per_step"].items()
            )
            + ".",
        ]
    return "\n".join(lines)


def device_name(cuda: bool) -> str:
    if cuda:
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="Measured optimizer steps per configuration per round.")
    parser.add_argument("--rounds", type=int, default=5, help="Rounds over all configurations (interleaved).")
    parser.add_argument("--warmup", type=int, default=1, help="Steps discarded at the start of every train() call.")
    parser.add_argument("--passes", type=int, default=1, help="Regroup passes timed (the first is the initial one).")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast, as run_dg.py --bf16.")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA if present.")
    parser.add_argument("--max_digits", type=int, default=None, help="Use only the first N MNIST digits (quick).")
    parser.add_argument("--output", default=None, help="Write every number (raw step times too) to this JSON file.")
    parser.add_argument(
        "--count_syncs", type=int, default=20, help="CUDA: steps per configuration counted for host syncs (0: off)."
    )
    args = parser.parse_args(argv)
    for flag in ("steps", "rounds", "warmup", "passes"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}.")
    if args.passes > args.rounds + 1:
        parser.error(f"--passes {args.passes}: at most one pass per round after the first, so at most --rounds + 1.")
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device.")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cuda = args.device == "cuda"
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    memory = CudaPeakMemory() if cuda else CpuPeakMemory()
    load_before = os.getloadavg()

    data = load_domain_dataset("ColoredMNIST", max_digits=args.max_digits)
    train_dataset = data.training_dataset(TEST_ENVS)
    timer = StepTimer(args.warmup, memory, synchronize)
    raw: dict[str, Any] = {
        name: {"step_times": [], "compute_times": [], "step_peak_bytes": []} for name in CONFIGURATIONS
    }
    with tempfile.TemporaryDirectory() as output_dir:
        trainers = build_trainers(args, train_dataset, data.input_shape, data.num_classes, output_dir, timer)
        seedcat = trainers["seedcat"]
        trainers["erm"].regroup(0)  # domains: no pass
        trainers["groupdro"].regroup(0)
        memory.start()
        first_pass = timed_regroup(seedcat, 0, synchronize)
        raw[REGROUP] = {
            "times": [first_pass],
            "peak_bytes": memory.stop(),
            "regroup_steps": seedcat.args.regroup_steps,
            "train_samples": len(train_dataset),
        }
        log(f"initial regroup pass (metered): {first_pass:.1f} s")

        started = time.perf_counter()
        for r in range(args.rounds):
            order = list(CONFIGURATIONS[r % 4 :] + CONFIGURATIONS[: r % 4])
            if r + 1 < args.passes:
                order.insert(r % 5, REGROUP)
            for name in order:
                if name == REGROUP:
                    elapsed = timed_regroup(seedcat, (r + 1) * seedcat.args.regroup_steps, synchronize)
                    raw[REGROUP]["times"].append(elapsed)
                    log(f"round {r + 1}/{args.rounds} regroup pass: {elapsed:.1f} s")
                    continue
                trainers[name].train()
                runs = raw[name]
                runs["step_times"].append(timer.step_times)
                runs["compute_times"].append(timer.compute_times)
                runs["step_peak_bytes"].append(timer.step_peak_bytes)
                log(f"round {r + 1}/{args.rounds} {name}: median step {statistics.median(timer.step_times):.3f} s")
            bare = bare_loop_times(
                args, train_dataset, data.input_shape, data.num_classes, args.device, args.steps, synchronize
            )
            raw.setdefault(BARE, {"step_times": []})["step_times"].append(bare)
            log(f"round {r + 1}/{args.rounds} {BARE}: median step {statistics.median(bare):.3f} s")
        for name in CONFIGURATIONS:
            raw[name]["resident_bytes"] = resident_bytes(trainers[name])
        if cuda and args.count_syncs:
            raw["syncs_per_step"] = {name: count_syncs(trainers[name], args.count_syncs) for name in CONFIGURATIONS}
            log(f"host syncs per step: {raw['syncs_per_step']}")

    summary = summarize(raw)
    result = {
        "settings": {
            **vars(args),
            "dataset": "ColoredMNIST",
            "test_envs": TEST_ENVS,
            "train_samples": len(train_dataset),
            "batch_size": trainers[REFERENCE].args.per_device_train_batch_size,
        },
        "environment": {
            "device": device_name(cuda),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "rounds_wall_s": time.perf_counter() - started,
        },
        "summary": summary,
        "raw": raw,
    }
    print(markdown_table(summary))
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump(result, f, indent=2)
    return result


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
