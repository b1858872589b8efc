"""The Trainer: classification and regression for every registered PyTorch model (detection has its own loop in
`train/detection.py`; the fast CIFAR recipe its own in `train/fast.py`).

Data flow: Dataset (NumPy) -> BatchLoader (tensors on the device) -> model -> the task's objective (loss, metrics)
-> optimizer step, with the learning rate set per step by a schedule. After every epoch: validation metrics to
metrics.jsonl, the best model so far to `checkpoints/model.safetensors` (with its model card), and the full
training state to `checkpoints/last.safetensors` (so `--resume` continues a killed run and ends with the same
weights). The test split is evaluated once, at the end, with the model chosen on validation.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any, Callable

import torch
from torch import nn

from neuralab.config import Settings, to_dict
from neuralab.data import load_dataset
from neuralab.data.augment import build as build_augment
from neuralab.data.base import Dataset, Split
from neuralab.data.loader import BatchLoader, cpu_inference_batch, use_channels_last
from neuralab.data.preprocess import Preprocess
from neuralab.device import autocast, grad_scaler, pick_device, resolve_precision
from neuralab.errors import CheckpointError, ConfigError, Preempted, TrainingDiverged
from neuralab.files import remove_stale_temp_files
from neuralab.heap import retained_heap
from neuralab.models import create_model
from neuralab.models.checkpoint import load_state, load_weights, read_card, read_tensors, save_model, save_state
from neuralab.records import ModelCard
from neuralab.report.markdown import run_report
from neuralab.report.plots import plot_curves
from neuralab.runs import Run
from neuralab.seed import seed_everything
from neuralab.train.config import TrainConfig
from neuralab.train.distributed import (Preemption, World, all_sum, any_rank, barrier, broadcast_path, device_for,
                                        gather_rng, setup)
from neuralab.train.objectives import OBJECTIVES
from neuralab.train.optim import build_optimizer, build_schedule
from neuralab.train.result import TrainResult


def progress_enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Trainer:
    def __init__(self, model: nn.Module, data: Dataset, cfg: TrainConfig, run: Run, device: torch.device,
                 log: Callable[[str], None] = print, world: World = World(), report: bool = True, test: bool = True,
                 preprocess: Preprocess | None = None, card_extra: dict[str, Any] | None = None):
        if cfg.data.limit_eval:  # quick runs: a random subset of validation and test (reports say how many)
            data = dataclasses.replace(data, val=data.val.subset(cfg.data.limit_eval),
                                       test=data.test.subset(cfg.data.limit_eval))
        if cfg.tta and not data.is_image:
            raise ConfigError(f"--tta mirrors images left-right; {cfg.data.dataset} is not an image dataset")
        self.model, self.data, self.cfg, self.run, self.device = model.to(device), data, cfg, run, device
        self.world, self.objective = world, OBJECTIVES.get(data.task)
        # report=False skips the per-run curves figure and report.md (about a second each on a small CPU):
        # experiments that train dozens of short child runs draw their own comparison plots instead.
        # test=False for a stage whose model trains on (a head warm-up): the test split is measured once, at the end.
        self.report, self.test = report, test
        self.log = log if world.is_main else (lambda msg: None)
        self.dtype = resolve_precision(cfg.precision, device,
                                       convolutional=any(isinstance(m, nn.Conv2d) for m in model.modules()))
        self.channels_last = use_channels_last(data.input_shape, device, self.dtype)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # fp16 only (bf16 and fp32 pass through). Its scale is not checkpointed: after a resume it recalibrates
        # within a few steps.
        self.scaler = grad_scaler(device, self.dtype)
        self.forward = self._training_forward()
        self._build_loaders()
        self.optimizer = build_optimizer(cfg.optim.optimizer, model.parameters(), cfg.optim.lr,
                                         cfg.optim.weight_decay, cfg.optim.momentum)
        warmup = int(round(cfg.schedule.warmup_epochs * len(self.train_loader)))
        self.schedule = build_schedule(cfg.schedule.schedule, self.optimizer,
                                       cfg.schedule.epochs * len(self.train_loader), warmup)
        self.ema = None
        if cfg.optim.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.optim.ema), use_buffers=True)
        self.card = ModelCard.for_dataset(cfg.model.name, cfg.model.kwargs, data, cfg.data.dataset, preprocess,
                                          **(card_extra or {}))
        self.epoch, self.best, self.best_epoch, self.bad_epochs = 0, None, 0, 0
        self.partial = [0.0, 0.0, 0.0]  # loss sum, aux sum, count of an interrupted epoch
        self.preemption: Any = None
        self.test_outputs: torch.Tensor | None = None

    # -- the pieces -----------------------------------------------------------------------------------------
    def _training_forward(self) -> nn.Module:
        """What runs the training forward pass: DDP (gradients averaged across ranks) and/or torch.compile."""
        forward: nn.Module = self.model
        if self.world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            forward = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return torch.compile(forward) if self.cfg.compile else forward

    def _build_loaders(self) -> None:
        cfg, data, device = self.cfg, self.data, self.device
        aug = build_augment(cfg.data.augment) if data.is_image and cfg.data.augment not in ("", "none") else None
        norm = {"mean": data.mean, "std": data.std}
        self.train_loader = BatchLoader(data.train.subset(cfg.data.limit_train), cfg.batch_size, shuffle=True,
                                        augment=aug, device=device, seed=cfg.seed, rank=self.world.rank,
                                        world_size=self.world.size, **norm)
        self.eval_batch_size = cpu_inference_batch(cfg.eval_batch_size, data.input_shape, device)
        self.eval_loaders = {k: BatchLoader(s, self.eval_batch_size, device=device, **norm)
                             for k, s in (("val", data.val), ("test", data.test))}

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    @property
    def images_seen(self) -> int:
        return self.epoch * self.train_loader.num_samples

    @torch.no_grad()
    def predict(self, split: Split | str) -> torch.Tensor:
        """Raw outputs (logits, or regression values) of the evaluation model for a whole split."""
        loader = self.eval_loaders[split] if isinstance(split, str) else BatchLoader(
            split, self.eval_batch_size, device=self.device, mean=self.data.mean, std=self.data.std)
        model = self.eval_model.eval()
        return torch.cat([self._infer(model, self._layout(xb)) for xb, _ in loader]).cpu()

    def _infer(self, model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        """fp32 outputs of an evaluation batch; with `tta`, the mean of the images' and their mirrors' logits."""
        with autocast(self.device, dtype=self.dtype):
            out = model(xb).float()
            return 0.5 * out + 0.5 * model(xb.flip(-1)).float() if self.cfg.tta else out

    def _layout(self, xb: torch.Tensor) -> torch.Tensor:
        return xb.contiguous(memory_format=torch.channels_last) if self.channels_last else xb

    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[float, dict[str, float]]:
        loader, obj = self.eval_loaders[split], self.objective
        model = self.eval_model.eval()
        loss_sum = aux = 0.0
        for xb, yb in loader:
            out = self._infer(model, self._layout(xb))
            loss_sum += obj.loss_sum(out, yb).item()
            aux += obj.aux_sum(out, yb).item()
        n = loader.num_samples
        return loss_sum / n, obj.metrics(loss_sum, aux, n)

    def _step(self, xb: torch.Tensor, yb: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch; returns (loss, outputs)."""
        with autocast(self.device, dtype=self.dtype):
            out = self.forward(self._layout(xb))
        loss = self.objective.loss(out, yb, self.cfg.optim.label_smoothing)
        if any_rank(self.world, not torch.isfinite(loss).item(), self.device):
            raise TrainingDiverged(
                f"loss became {loss.item()} at epoch {self.epoch}, step {step} (lr "
                f"{self.schedule.get_last_lr()[0]:.3g}). Try a lower --lr or --grad-clip. The last good "
                f"checkpoint is {self.run.checkpoints / 'last.safetensors'} (epoch {self.epoch - 1}).")
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.distributed:
            # Each rank's mean is weighted by its share of the global batch, so DDP's average of the ranks'
            # gradients is exactly the gradient of the global batch's mean loss.
            share = len(yb) * self.world.size / self.train_loader.global_batch_size(step - 1)
            self.scaler.scale(loss * share).backward()
        else:
            self.scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss, out

    def train_epoch(self) -> tuple[float, dict[str, float], float]:
        self.model.train()
        loss_sum, aux, n = self.partial
        self.partial = [0.0, 0.0, 0.0]
        with ProgressBar(f"epoch {self.epoch}/{self.cfg.schedule.epochs}", len(self.train_loader)) as advance:
            for xb, yb in self.train_loader:
                step = self.train_loader.position
                loss, out = self._step(xb, yb, step)
                n += len(yb)
                loss_sum += loss.item() * len(yb)
                aux += self.objective.aux_sum(out.detach(), yb).item()
                advance()
                if self.preemption is not None and any_rank(self.world, self.preemption.requested, self.device):
                    self._preempt(step, [loss_sum, aux, n])
        lr = self.schedule.get_last_lr()[0]
        loss_sum, aux, n = all_sum(self.world, [loss_sum, aux, n], self.device)
        return loss_sum / n, self.objective.metrics(loss_sum, aux, int(n)), lr

    def _preempt(self, step: int, partial: list[float]) -> None:
        """Save the interrupted epoch's state (its sums included) and stop with Preempted."""
        self.partial = partial
        self.epoch -= 1  # the epoch in progress is not finished
        rng = gather_rng(self.world)
        if self.world.is_main:
            save_state(self.run.checkpoints / "last.safetensors", self.model, self.card, self.state(rng))
        barrier(self.world)
        raise Preempted(f"stopped by SIGTERM at epoch {self.epoch + 1}, step {step}; checkpoint "
                        f"written. Continue with `neuralab train --resume {self.run.path}`.")

    # -- checkpoints ----------------------------------------------------------------------------------------
    def state(self, rng: list[torch.Tensor]) -> dict[str, Any]:
        """Everything a bit-for-bit resume needs; `rng` holds every rank's random state (see gather_rng)."""
        return {"epoch": self.epoch, "best": list(self.best) if self.best else None, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "rng": rng,
                "loader": self.train_loader.state_dict(), "partial": list(self.partial),
                "ema": self.ema.state_dict() if self.ema is not None else None}

    def restore(self) -> None:
        path = self.run.checkpoints / "last.safetensors"
        remove_stale_temp_files(self.run.checkpoints)  # what writes killed mid-file left behind
        if not path.exists():
            raise CheckpointError(f"cannot resume {self.run.path}: no {path} (the run died before its first epoch "
                                  f"ended; start it again)")
        state = load_state(path, self.model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        torch.set_rng_state(rng[self.world.rank] if len(rng) == self.world.size else rng[0])
        self.train_loader.load_state_dict(state["loader"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_epoch, self.bad_epochs = state["epoch"], state["best_epoch"], state["bad_epochs"]
        self.best = tuple(state["best"]) if state["best"] else None
        self.partial = list(state.get("partial") or [0.0, 0.0, 0.0])
        if self.world.is_main:
            self.run.truncate_metrics(self.epoch)
        self.log(f"resumed {self.run.name} after epoch {self.epoch} of {self.cfg.schedule.epochs}")

    # -- the loop -------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        if resume:
            self.restore()
        with Preemption() as self.preemption, retained_heap():
            try:
                return self._fit()
            finally:
                self.preemption = None

    def _fit(self) -> TrainResult:
        start, stopped = time.perf_counter(), "completed"
        while self.epoch < self.cfg.schedule.epochs:
            self.epoch += 1
            self._epoch()
            if self.cfg.schedule.early_stop and self.bad_epochs >= self.cfg.schedule.early_stop:
                stopped = f"early stop: no val improvement for {self.bad_epochs} epochs"
                self.log(stopped)
                break
        return self.finish(stopped, time.perf_counter() - start)

    def _epoch(self) -> None:
        """Train one epoch, validate, keep the best model and the resumable state."""
        t0 = time.perf_counter()
        loss, metrics, lr = self.train_epoch()
        seconds = time.perf_counter() - t0
        vloss, vmetrics = self.evaluate("val")  # every rank evaluates the whole split: same numbers everywhere
        score = self.objective.score(vloss, vmetrics)
        improved = self.best is None or score > self.best
        if improved:
            self.best, self.best_epoch, self.bad_epochs = score, self.epoch, 0
        else:
            self.bad_epochs += 1
        rng = gather_rng(self.world)
        if self.world.is_main:  # only rank 0 writes the run directory
            self.run.log(self.epoch, "train", loss, metrics, lr=lr, seconds=seconds)
            self.run.log(self.epoch, "val", vloss, vmetrics, lr=lr, seconds=time.perf_counter() - t0 - seconds)
            if improved:
                save_model(self.run.checkpoints / "model.safetensors", self.eval_model,
                           self.card.with_metrics({"val_loss": vloss, **vmetrics}, epoch=self.epoch))
            save_state(self.run.checkpoints / "last.safetensors", self.model, self.card, self.state(rng))
        barrier(self.world)
        shown = " ".join(f"{k} {v:.4f}" for k, v in vmetrics.items())
        self.log(f"epoch {self.epoch}/{self.cfg.schedule.epochs}  train loss {loss:.4f}  val loss {vloss:.4f}  "
                 f"val {shown}  ({seconds:.1f}s)")

    def finish(self, stopped: str, seconds: float) -> TrainResult:
        """Reload the model chosen on validation, measure the test split once, write summary and report."""
        best = self.run.checkpoints / "model.safetensors"
        load_weights(self.eval_model, read_tensors(best), str(best))
        val = {("loss" if k == "val_loss" else k): v for k, v in read_card(best).metrics.items()}
        test: dict[str, Any] = {}
        if self.test:  # one pass over the test split: loss, metrics and the task's extra metrics from its outputs
            outputs, y = self.predict("test"), torch.from_numpy(self.data.test.y)
            self.test_outputs = outputs  # per-example answers, for paired comparisons between runs
            loss_sum = self.objective.loss_sum(outputs, y).item()
            metrics = self.objective.metrics(loss_sum, self.objective.aux_sum(outputs, y).item(), len(y))
            test = {"loss": loss_sum / len(y), **metrics, **self.objective.final(outputs, y, self.data.classes)}
        result = TrainResult(
            run=self.run.name, dataset=self.cfg.data.dataset, model=self.cfg.model.name,
            params=sum(p.numel() for p in self.model.parameters()), device=str(self.device),
            world_size=self.world.size, precision=str(self.dtype).removeprefix("torch."), epochs_run=self.epoch,
            best_epoch=self.best_epoch, stopped=stopped, train_seconds=seconds,
            train_images=self.train_loader.num_samples, images_seen=self.images_seen, val=val, test=test)
        if self.world.is_main and self.test:
            self.run.write_summary(result.summary())
            if self.report:
                self.run.save_figure(plot_curves(self.run.metrics()), "curves")
                self.run.write_report(run_report(self.run, result.summary()))
        return result


class ProgressBar:
    """A transient rich progress bar on an interactive terminal (nothing in CI or logs); `advance()` per step."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.bar = label, total, None

    def __enter__(self) -> Callable[[], None]:
        if not progress_enabled():
            return lambda: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda: self.bar.update(task, advance=1)  # type: ignore[union-attr]

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.stop()


def train(cfg: TrainConfig, settings: Settings, run: Run | None = None, resume: bool = False,
          log: Callable[[str], None] = print, report: bool = True) -> tuple[Run, TrainResult, Trainer]:
    """Load data, build the model, fit, evaluate: what `neuralab train` does, callable from experiments."""
    world = setup()
    device = device_for(world, pick_device(settings.device))
    data = load_dataset(cfg.data.dataset, settings, task=("classification", "regression"),
                        **cfg.data.loader_options())
    seed_everything(cfg.seed)
    model = create_model(cfg.model.name, data.input_shape, data.num_outputs, task=data.task, **cfg.model.kwargs)
    if run is None:
        config = {"command": "train", "config": to_dict(cfg), "data": data.describe(), "world_size": world.size}
        run = Run(broadcast_path(world, lambda: Run.create(settings.runs_dir, cfg.run_name, config).path))
    elif not resume and world.is_main:
        run.write_config({"command": "train", "config": to_dict(cfg), "data": data.describe(),
                          "world_size": world.size})
    trainer = Trainer(model, data, cfg, run, device, log=log, world=world, report=report)
    return run, trainer.fit(resume=resume), trainer
