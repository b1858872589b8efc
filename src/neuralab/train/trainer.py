"""One training engine for every PyTorch model in neuralab.

Data flow: Dataset (NumPy) -> BatchLoader (tensors on the device) -> model -> loss -> optimizer step, with the
learning rate set per step by a schedule. After every epoch: validation metrics to metrics.jsonl, the best model so
far to `checkpoints/model.safetensors`, and the full training state to `checkpoints/last.safetensors` (so `--resume`
continues a killed run and ends with the same weights). The test split is evaluated once, at the end, with the
model chosen on validation.
"""

from __future__ import annotations

import dataclasses

import math
import os
import sys
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.data.base import Dataset, Split
from neuralab.data.loader import BatchLoader, cpu_inference_batch, use_channels_last
from neuralab.device import autocast, grad_scaler, resolve_precision
from neuralab.errors import CheckpointError, ConfigError, NeuralabError, TrainingDiverged
from neuralab.runs import Run
from neuralab.train.checkpoint import load_state, save_model, save_state
from neuralab.train.config import TrainConfig
from neuralab.train.distributed import World, all_sum, any_rank, barrier, gather_rng
from neuralab.train.optim import build_optimizer, build_schedule


class Preempted(NeuralabError):
    """SIGTERM arrived: the current step finished, a checkpoint was written; `--resume` continues."""


def progress_enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Trainer:
    def __init__(self, model: nn.Module, data: Dataset, cfg: TrainConfig, run: Run, device: torch.device,
                 meta: dict[str, Any] | None = None, log: Callable[[str], None] = print, world: World = World(),
                 report: bool = True, test: bool = True):
        if cfg.limit_eval:  # quick runs: a random subset of validation and test (reports say how many)
            data = dataclasses.replace(data, val=data.val.subset(cfg.limit_eval),
                                       test=data.test.subset(cfg.limit_eval))
        self.model, self.data, self.cfg, self.run, self.device = model.to(device), data, cfg, run, device
        self.world = world
        # report=False skips the per-run curves figure and report.md (about a second each on a small CPU):
        # experiments that train dozens of short child runs draw their own comparison plots instead.
        self.report = report
        # test=False for a stage whose model trains on (a head warm-up): the test split is measured once, at the end.
        self.test = test
        self.log = log if world.is_main else (lambda msg: None)
        self.dtype = resolve_precision(cfg.precision, device,
                                       convolutional=any(isinstance(m, nn.Conv2d) for m in model.modules()))
        self.channels_last = use_channels_last(data.input_shape, device) or (  # oneDNN's AMX kernels want it
            len(data.input_shape) == 3 and device.type == "cpu" and self.dtype == torch.bfloat16)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # fp16 only (bf16 and fp32 pass through). Its scale is not checkpointed: after a resume it recalibrates
        # within a few steps.
        self.scaler = grad_scaler(device, self.dtype)
        # What runs the training forward pass: DDP (gradients averaged across ranks) and/or torch.compile.
        self.forward: nn.Module = self.model
        if world.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.forward = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None)
        if cfg.compile:
            self.forward = torch.compile(self.forward)
        self.classify = data.task == "classification"
        if cfg.tta and not data.is_image:
            raise ConfigError(f"--tta mirrors images left-right; {cfg.dataset} is not an image dataset")
        train = data.train.subset(cfg.limit_train)
        aug = None
        if data.is_image and cfg.augment not in ("", "none"):
            from neuralab.data.augment import build

            aug = build(cfg.augment)
        norm = {"mean": data.mean, "std": data.std}
        self.train_loader = BatchLoader(train, cfg.batch_size, shuffle=True, augment=aug, device=device,
                                        seed=cfg.seed, rank=world.rank, world_size=world.size, **norm)
        self.eval_batch_size = cpu_inference_batch(cfg.eval_batch_size, data.input_shape, device)
        self.eval_loaders = {k: BatchLoader(s, self.eval_batch_size, device=device, **norm)
                             for k, s in (("val", data.val), ("test", data.test))}
        self.optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
        steps = cfg.epochs * len(self.train_loader)
        warmup = int(round(cfg.warmup_epochs * len(self.train_loader)))
        self.schedule = build_schedule(cfg.schedule, self.optimizer, steps, warmup)
        self.ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
        self.meta = {"model": cfg.model, "model_args": cfg.model_kwargs, "input_shape": list(data.input_shape),
                     "num_outputs": data.num_outputs, "task": data.task, "classes": data.classes,
                     "mean": list(data.mean), "std": list(data.std),
                     "input_scale": 255.0 if data.train.x.dtype.name == "uint8" else 1.0,
                     "dataset": cfg.dataset, **(meta or {})}
        self.epoch, self.best, self.best_epoch, self.bad_epochs = 0, None, 0, 0
        self.partial = [0.0, 0.0, 0.0, 0.0]  # loss sum, correct, abs error, count of an interrupted epoch
        self.preemption: Any = None

    # -- the pieces -----------------------------------------------------------------------------------------
    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def loss_fn(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.classify:
            return F.cross_entropy(out.float(), y, label_smoothing=self.cfg.label_smoothing)
        return F.mse_loss(out.float().squeeze(-1), y.float())

    def metrics(self, loss_sum: float, n: int, correct: float, abs_err: float) -> dict[str, float]:
        if self.classify:
            return {"accuracy": correct / n}
        return {"rmse": math.sqrt(loss_sum / n), "mae": abs_err / n}

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
        loader = self.eval_loaders[split]
        model = self.eval_model.eval()
        loss_sum = correct = abs_err = 0.0
        for xb, yb in loader:
            out = self._infer(model, self._layout(xb))
            if self.classify:
                loss_sum += F.cross_entropy(out.float(), yb, reduction="sum").item()
                correct += (out.argmax(1) == yb).sum().item()
            else:
                err = out.float().squeeze(-1) - yb.float()
                loss_sum += (err * err).sum().item()
                abs_err += err.abs().sum().item()
        n = loader.num_samples
        return loss_sum / n, self.metrics(loss_sum, n, correct, abs_err)

    def train_epoch(self) -> tuple[float, dict[str, float], float]:
        self.model.train()
        loss_sum, correct, abs_err, n = self.partial
        self.partial = [0.0, 0.0, 0.0, 0.0]
        bar = None
        if progress_enabled():
            from rich.progress import Progress

            bar = Progress(transient=True)
            bar.start()
            task = bar.add_task(f"epoch {self.epoch}/{self.cfg.epochs}", total=len(self.train_loader))
        try:
            for xb, yb in self.train_loader:
                step = self.train_loader.position
                xb = self._layout(xb)
                with autocast(self.device, dtype=self.dtype):
                    out = self.forward(xb)
                loss = self.loss_fn(out, yb)
                if any_rank(self.world, not torch.isfinite(loss).item(), self.device):
                    raise TrainingDiverged(
                        f"loss became {loss.item()} at epoch {self.epoch}, step {step} (lr "
                        f"{self.schedule.get_last_lr()[0]:.3g}). Try a lower --lr or --grad-clip. The last good "
                        f"checkpoint is {self.run.checkpoints / 'last.safetensors'} (epoch {self.epoch - 1}).")
                self.optimizer.zero_grad(set_to_none=True)
                if self.world.distributed:
                    # Each rank's mean is weighted by its share of the global batch, so DDP's average of the
                    # ranks' gradients is exactly the gradient of the global batch's mean loss.
                    share = len(yb) * self.world.size / self.train_loader.global_batch_size(step - 1)
                    self.scaler.scale(loss * share).backward()
                else:
                    self.scaler.scale(loss).backward()
                if self.cfg.grad_clip:
                    self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.schedule.step()
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
                b = len(yb)
                n += b
                loss_sum += loss.item() * b
                if self.classify:
                    correct += (out.argmax(1) == yb).sum().item()
                else:
                    abs_err += (out.detach().float().squeeze(-1) - yb).abs().sum().item()
                if bar is not None:
                    bar.update(task, advance=1)
                if self.preemption is not None and any_rank(self.world, self.preemption.requested, self.device):
                    self.partial = [loss_sum, correct, abs_err, n]
                    self.epoch -= 1  # the epoch in progress is not finished
                    rng = gather_rng(self.world)
                    if self.world.is_main:
                        save_state(self.run.checkpoints / "last.safetensors", self.model, self.meta, self.state(rng))
                    barrier(self.world)
                    raise Preempted(f"stopped by SIGTERM at epoch {self.epoch + 1}, step {step}; checkpoint "
                                    f"written. Continue with `neuralab train --resume {self.run.path}`.")
        finally:
            if bar is not None:
                bar.stop()
        lr = self.schedule.get_last_lr()[0]
        loss_sum, correct, abs_err, n = all_sum(self.world, [loss_sum, correct, abs_err, n], self.device)
        return loss_sum / n, self.metrics(loss_sum, int(n), correct, abs_err), lr

    def _score(self, loss: float, metrics: dict[str, float]) -> tuple[float, float]:
        """Higher is better: accuracy first (then lower loss) for classifiers, lower loss for regression."""
        return (metrics["accuracy"], -loss) if self.classify else (-loss, 0.0)

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
        if not path.exists():
            raise CheckpointError(f"cannot resume {self.run.path}: no {path} (the run died before its first epoch "
                                  f"ended; start it again)")
        state, _ = load_state(path, self.model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        rng = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        torch.set_rng_state(rng[self.world.rank] if len(rng) == self.world.size else rng[0])
        self.train_loader.load_state_dict(state["loader"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_epoch, self.bad_epochs = state["epoch"], state["best_epoch"], state["bad_epochs"]
        self.best = tuple(state["best"]) if state["best"] else None
        self.partial = list(state.get("partial") or [0.0, 0.0, 0.0, 0.0])
        if self.world.is_main:
            self.run.truncate_metrics(self.epoch)
        self.log(f"resumed {self.run.name} after epoch {self.epoch}")

    # -- the loop -------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        from neuralab.train.distributed import Preemption

        if resume:
            self.restore()
        with Preemption() as self.preemption:
            try:
                return self._fit()
            finally:
                self.preemption = None

    def _fit(self) -> dict[str, Any]:
        main = self.world.is_main
        start = time.perf_counter()
        stopped = "completed"
        while self.epoch < self.cfg.epochs:
            self.epoch += 1
            t0 = time.perf_counter()
            loss, metrics, lr = self.train_epoch()
            seconds = time.perf_counter() - t0
            vloss, vmetrics = self.evaluate("val")  # every rank evaluates the whole split: same numbers everywhere
            score = self._score(vloss, vmetrics)
            improved = self.best is None or score > self.best
            if improved:
                self.best, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            else:
                self.bad_epochs += 1
            rng = gather_rng(self.world)
            if main:  # only rank 0 writes the run directory
                self.run.log(self.epoch, "train", loss, metrics, lr=lr, seconds=seconds)
                self.run.log(self.epoch, "val", vloss, vmetrics, lr=lr, seconds=time.perf_counter() - t0 - seconds)
                if improved:
                    save_model(self.run.checkpoints / "model.safetensors", self.eval_model,
                               {**self.meta, "epoch": self.epoch, "metrics": {"val_loss": vloss, **vmetrics}})
                save_state(self.run.checkpoints / "last.safetensors", self.model, self.meta, self.state(rng))
            barrier(self.world)
            shown = " ".join(f"{k} {v:.4f}" for k, v in vmetrics.items())
            self.log(f"epoch {self.epoch}/{self.cfg.epochs}  train loss {loss:.4f}  val loss {vloss:.4f}  "
                     f"val {shown}  ({seconds:.1f}s)")
            if self.cfg.early_stop and self.bad_epochs >= self.cfg.early_stop:
                stopped = f"early stop: no val improvement for {self.bad_epochs} epochs"
                self.log(stopped)
                break
        return self.finish(stopped, time.perf_counter() - start)

    def finish(self, stopped: str, seconds: float) -> dict[str, Any]:
        """Reload the model chosen on validation, measure the test split once, write summary and report."""
        from neuralab.train.checkpoint import load_weights, read

        tensors, meta = read(self.run.checkpoints / "model.safetensors")
        load_weights(self.eval_model, tensors, "best checkpoint")
        if not self.test:
            return {"epochs_run": self.epoch, "best_epoch": self.best_epoch, "stopped": stopped,
                    "train_seconds": seconds, "val": meta["metrics"]}
        if self.classify:  # one pass over the test split: loss, accuracy and the per-class metrics from its logits
            from neuralab.train.evaluate import classification_metrics

            logits, y = self.predict("test"), torch.from_numpy(self.data.test.y).long()
            loss_sum = F.cross_entropy(logits, y, reduction="sum").item()
            tloss = loss_sum / len(y)
            tmetrics = {**self.metrics(loss_sum, len(y), (logits.argmax(1) == y).sum().item(), 0.0),
                        **classification_metrics(logits, y, self.data.classes)}
        else:
            tloss, tmetrics = self.evaluate("test")
        if not self.world.is_main:
            return {"test": {"loss": tloss, **tmetrics}}
        summary = {"run": self.run.name, "dataset": self.cfg.dataset, "model": self.cfg.model,
                   "params": sum(p.numel() for p in self.model.parameters()), "device": str(self.device),
                   "world_size": self.world.size, "precision": str(self.dtype).removeprefix("torch."),
                   "epochs_run": self.epoch, "best_epoch": self.best_epoch, "stopped": stopped,
                   "train_seconds": seconds, "val": meta["metrics"], "test": {"loss": tloss, **tmetrics}}
        self.run.write_summary(summary)
        if self.report:
            from neuralab.report.markdown import run_report
            from neuralab.report.plots import plot_curves

            self.run.save_figure(plot_curves(self.run.metrics()), "curves")
            self.run.write_report(run_report(self.run, summary))
        return summary


def train(cfg: TrainConfig, settings: Any, run: Run | None = None, resume: bool = False,
          log: Callable[[str], None] = print, report: bool = True) -> tuple[Run, dict[str, Any], Trainer]:
    """Load data, build the model, fit, evaluate: what `neuralab train` does, callable from experiments."""
    from neuralab.config import to_dict
    from neuralab.data import load_dataset
    from neuralab.device import pick_device
    from neuralab.models import create_model
    from neuralab.seed import seed_everything

    from neuralab.train.distributed import broadcast_path, device_for, setup

    world = setup()
    device = device_for(world, pick_device(settings.device))
    data = load_dataset(cfg.dataset, settings, **cfg.data_options())
    seed_everything(cfg.seed)
    model = create_model(cfg.model, data.input_shape, data.num_outputs, **cfg.model_kwargs)
    if run is None:
        run = Run(broadcast_path(world, lambda: Run.create(settings.runs_dir, cfg.run_name).path))
    if not resume and world.is_main:
        run.write_config({"command": "train", "config": to_dict(cfg), "data": data.describe(),
                          "world_size": world.size})
    trainer = Trainer(model, data, cfg, run, device, log=log, world=world, report=report)
    summary = trainer.fit(resume=resume)
    return run, summary, trainer
