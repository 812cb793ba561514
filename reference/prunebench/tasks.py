"""Tasks: a dataset, a paper architecture, an objective and a training recipe, bound under one name.

Every experiment, the saliency check and the leaderboard start from a task, so a given (task, seed) always
yields the same trained dense model. Trained models are cached as checkpoints outside git (see
:func:`cache_dir`), keyed by task, seed, dtype and the recipe, and shared by every method.

Objectives: ``mse`` is ``nn.MSELoss(reduction="mean")`` on targets coded as the paper coded them (0/1 for the
sigmoid MONK and XOR nets; -1/+1 for LeCun's scaled-tanh digit nets, so that OBD's objective in dB is
10 log10 of that MSE); ``ce`` is cross-entropy on logits (the WoodFisher MNIST network).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import data
from ._validation import task_name
from .models import Net, build
from .train import FitReport, TrainConfig, fit, load_checkpoint, save_checkpoint

__all__ = ["TASKS", "Task", "TaskData", "cache_dir", "get"]


@dataclass(frozen=True)
class TaskData:
    """Inputs, loss targets and labels of both splits. ``x_*`` (N, *input_shape); ``t_*`` what the loss takes;
    ``y_*`` (N,) integer labels (for NETtalk (N, 26) bits)."""

    x_train: torch.Tensor
    t_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    t_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device=None, dtype=None) -> TaskData:
        def move(t, floating):
            return t.to(device=device, dtype=dtype if floating and dtype is not None else t.dtype)
        return TaskData(*(move(t, t.is_floating_point()) for t in
                          (self.x_train, self.t_train, self.y_train, self.x_test, self.t_test, self.y_test)))


@dataclass(frozen=True)
class Task:
    """One benchmark task. ``targets``: ``binary`` (one sigmoid output, 0/1), ``pm1`` (one output per class,
    -1/+1), ``index`` (class index for cross-entropy), ``bits`` (multi-label 0/1)."""

    name: str
    dataset: str
    model: str
    loss: str
    targets: str
    recipe: TrainConfig
    dtype: torch.dtype = torch.float64
    description: str = ""
    max_restarts: int = 0
    required_train_accuracy: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)
    input_normalization: tuple[float, float] | None = None
    weights: str | None = None
    """A published checkpoint (a path under the data root) that *is* the dense model: one model, seed 0."""

    def loss_fn(self, reduction: str = "mean") -> nn.Module:
        """The objective E = loss_fn(model(x), t)."""
        return nn.MSELoss(reduction=reduction) if self.loss == "mse" else nn.CrossEntropyLoss(reduction=reduction)

    def data(self, root=None, device="cpu") -> TaskData:
        """Load the dataset, normalise the inputs (``(x - mean) / std`` when ``input_normalization`` is
        ``(mean, std)``) and code the targets for this task's objective."""
        splits = data.load(self.dataset, root)
        (x_tr, y_tr), (x_te, y_te) = splits.train, splits.test
        if self.input_normalization is not None:
            mean, std = self.input_normalization
            x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
        shape = build(self.model).input_shape
        x_tr, x_te = x_tr.reshape(-1, *shape), x_te.reshape(-1, *shape)
        return TaskData(x_tr, self._code(y_tr), y_tr, x_te, self._code(y_te), y_te).to(device, self.dtype)

    def _code(self, y: torch.Tensor) -> torch.Tensor:
        if self.targets == "binary":
            return y.to(self.dtype).reshape(-1, 1)
        if self.targets == "pm1":
            return 2 * nn.functional.one_hot(y, 10).to(self.dtype) - 1
        if self.targets == "bits":
            return y.to(self.dtype)
        return y

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Labels from network outputs (N, C): threshold 0.5 for sigmoid outputs, else arg-max."""
        if self.targets in ("binary", "bits"):
            out = (outputs > 0.5).long()
            return out.reshape(-1) if self.targets == "binary" else out
        return outputs.argmax(dim=1)

    def accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fraction of correct labels (for NETtalk: of correct output bits)."""
        with torch.no_grad():
            return float((self.predict(model(x)) == y).to(torch.float64).mean())

    def recipe_digest(self) -> str:
        """Twelve hex digits naming the recipe (training config, model, objective), the cache key of its nets.
        Fields added later are left out at their defaults (a stopping rule left unset, SGD momentum 0.9, no
        learning-rate decay), so older recipes keep their digests."""
        recipe = asdict(self.recipe)
        for key, default in (("grad_rms_tol", None), ("momentum", 0.9), ("lr_decay", 1.0)):
            if recipe[key] == default:
                del recipe[key]
        extra = {} if self.input_normalization is None else {"input_normalization": self.input_normalization}
        text = json.dumps({"recipe": recipe, **extra, "model": self.model, "loss": self.loss,
                           "targets": self.targets, "restarts": self.max_restarts,
                           "required": self.required_train_accuracy}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def fit(self, seed: int, task_data: TaskData) -> tuple[Net, FitReport, int]:
        """Train a fresh model from ``seed``; restart from a derived seed (up to ``max_restarts``) when it ends
        below ``required_train_accuracy`` (XOR's local minima). Returns (model, report, restarts used)."""
        for attempt in range(self.max_restarts + 1):
            init_seed = seed if attempt == 0 else seed + 100_003 * attempt
            model = build(self.model, seed=init_seed, dtype=self.dtype).to(task_data.x_train.device)
            report = fit(model, self.loss_fn(), task_data.x_train, task_data.t_train, self.recipe, seed=init_seed)
            if self.accuracy(model, task_data.x_train, task_data.y_train) >= self.required_train_accuracy:
                break
        return model, report, attempt

    def trained(self, seed: int, root=None, *, device: str = "cpu", cache: bool = True
                ) -> tuple[Net, TaskData, dict]:
        """The dense model for (task, seed), trained once and cached. Returns (model, data, fit info).

        The trained weights depend on torch's CPU thread count (the summation order of parallel kernels moves
        the last bits, and training amplifies them), so the count is part of the cache key and of the fit
        info: the leaderboard trains and prunes on one thread, an experiment on what its units were given.
        """
        task_data = self.data(root, device)
        if self.weights is not None:
            return self._published(seed, root, task_data, device)
        threads = torch.get_num_threads()
        path = cache_dir() / "models" / f"{self.name}-seed{seed}-{self.recipe_digest()}-threads{threads}.pt"
        if cache and path.is_file():
            try:
                model, meta = load_checkpoint(path)
                return model.to(device), task_data, meta
            except ValueError:
                path.unlink()
        model, report, restarts = self.fit(seed, task_data)
        meta = {"task": self.name, "seed": seed, "threads": threads, "restarts": restarts, "fit": report.to_dict(),
                "train_accuracy": self.accuracy(model, task_data.x_train, task_data.y_train),
                "test_accuracy": self.accuracy(model, task_data.x_test, task_data.y_test)}
        if cache:
            save_checkpoint(model.cpu(), path, meta)
        return model.to(device), task_data, meta


    def _published(self, seed: int, root, task_data: TaskData, device: str) -> tuple[Net, TaskData, dict]:
        from .weights import file_sha256, load_weights

        if seed != 0:
            raise ValueError(f"task {self.name} is one published model: seed must be 0; got {seed}")
        for base in data.data_roots(root):
            path = Path(base) / self.weights
            if path.is_file():
                break
        else:
            raise FileNotFoundError(f"task {self.name} needs the published weights {self.weights} under a data "
                                    "root; set PRUNEBENCH_DATA or --root to the shared datasets")
        model = build(self.model, dtype=self.dtype)
        load_weights(model, path)
        meta = {"task": self.name, "seed": 0, "weights": self.weights, "weights_sha256": file_sha256(path),
                "restarts": 0, "fit": {"loss": None, "iterations": 0, "objective_grad_norm": None,
                                       "wall_time": 0.0},
                "train_accuracy": self.accuracy(model, task_data.x_train, task_data.y_train),
                "test_accuracy": self.accuracy(model, task_data.x_test, task_data.y_test)}
        return model.to(device), task_data, meta


def cache_dir() -> Path:
    """Where trained checkpoints live: ``PRUNEBENCH_CACHE``, else the per-user cache folder
    (:func:`platformdirs.user_cache_path`, ``~/.cache/prunebench`` on Linux); never in git."""
    import platformdirs

    return Path(os.environ.get("PRUNEBENCH_CACHE") or platformdirs.user_cache_path("prunebench"))


_MONK_NOTE = ("architecture inferred from the weight count (PAPERS.md section 2); sigmoid units; weight decay "
              "lambda/2 |w|^2 (BPWD); full-batch L-BFGS (the paper's optimiser is not stated)")

_NETTALK_RECIPE = TrainConfig(optimizer="adam", epochs=60, lr=1e-2, batch_size=256, finish_lbfgs=300,
                              tolerance_grad=1e-6)
_NETTALK_NOTE = ("Adam (60 epochs, lr 1e-2, batches of 256), then full-batch L-BFGS until the largest gradient "
                 "entry is <= 1e-6 or 300 iterations; the reached gradient norm and iterations are in the fit "
                 "report")

TASKS: dict[str, Task] = {t.name: t for t in [
    Task("xor", "xor", "xor-2-2-1", "mse", "binary",
         TrainConfig(epochs=2000, weight_decay=1e-4), description="XOR, 2-2-1 sigmoid net (Hassibi & Stork 1993)",
         max_restarts=20, required_train_accuracy=1.0,
         notes=("weight decay 1e-4 keeps the minimum finite (without it sigmoid weights grow without bound)",
                "restarted from a derived seed when training ends in a local minimum (about 30% of inits)")),
    Task("monks-1", "monks-1", "monk-17-3-1", "mse", "binary", TrainConfig(epochs=3000, weight_decay=1e-4),
         description="MONK-1, 17-3-1 sigmoid (58 weights)", notes=(_MONK_NOTE,)),
    Task("monks-2", "monks-2", "monk-17-2-1", "mse", "binary", TrainConfig(epochs=3000, weight_decay=1e-4),
         description="MONK-2, 17-2-1 sigmoid (39 weights)", notes=(_MONK_NOTE,)),
    Task("monks-3", "monks-3", "monk-17-2-1", "mse", "binary", TrainConfig(epochs=3000, weight_decay=1e-2),
         description="MONK-3, 17-2-1 sigmoid (39 weights), 5% label noise", notes=(_MONK_NOTE,)),
    Task("digits", "digits", "lenet-digits", "mse", "pm1", TrainConfig(epochs=600),
         description="scikit-learn 8x8 digits, LeNet-style shared-weight net, MSE on -1/+1 targets",
         notes=("stands in for the 1989 zip-code data offline",)),
    Task("usps", "usps", "lenet-usps", "mse", "pm1",
         TrainConfig(optimizer="adam", epochs=15, lr=3e-3, batch_size=128, finish_lbfgs=100),
         dtype=torch.float32,
         description="USPS 16x16 digits, LeNet-style shared-weight net, MSE on -1/+1 targets",
         notes=("closest public proxy for OBD's zip-code data (7291/2007, handwritten only)",
                "Adam, then full-batch L-BFGS to the minimum: 77 s of CPU per seed on one core (measured), "
                "where 400 L-BFGS iterations from the start need about 680 passes, an estimated 430 s")),
    Task("usps-lenet1990", "usps", "lenet1990", "mse", "pm1",
         TrainConfig(optimizer="adam", epochs=15, lr=3e-3, batch_size=128, finish_lbfgs=100),
         dtype=torch.float32,
         description="USPS 16x16 digits, the 1990 zip-code net (2,578 free parameters), MSE on -1/+1 targets",
         notes=("the network Optimal Brain Damage pruned, on the closest public proxy for its data",
                "the recipe of task usps; obd-usps replaces its L-BFGS budget by a gradient tolerance")),
    Task("mnist", "mnist", "mlp-784-40-20-10", "ce", "index",
         TrainConfig(optimizer="adam", epochs=20, lr=1e-3, batch_size=128), dtype=torch.float32,
         description="MNIST, MLP 784-40-20-10 without biases, ReLU, cross-entropy (WoodFisher's test net)"),
    Task("mnist-woodfisher", "mnist", "mlp-784-40-20-10", "ce", "index",
         TrainConfig(optimizer="sgd", epochs=25, lr=1e-3, momentum=0.5, batch_size=64, lr_decay=0.9),
         dtype=torch.float32, input_normalization=(0.1307, 0.3081),
         description="MNIST, MLP 784-40-20-10, WoodFisher's inputs ((x - 0.1307) / 0.3081) and SGD recipe",
         notes=("the task of WoodFisher's published checkpoint (Singh & Alistarh 2020; the shared dataset "
                "woodfisher-mnist): SGD lr 1e-3, momentum 0.5, batch 64, 25 epochs, ExponentialLR 0.9 per "
                "epoch, as recorded in their configuration",)),
    Task("woodfisher-published", "mnist", "mlp-784-40-20-10", "ce", "index",
         TrainConfig(optimizer="sgd", epochs=25, lr=1e-3, momentum=0.5, batch_size=64, lr_decay=0.9),
         dtype=torch.float32, input_normalization=(0.1307, 0.3081),
         weights="woodfisher-mnist/woodfisher_mnist_mlpnet.npz",
         description="MNIST, WoodFisher's published MLP 784-40-20-10 checkpoint (93.97%), their input scaling",
         notes=("the dense model is the published checkpoint (shared dataset woodfisher-mnist), not trained "
                "here: one model, seed 0; the numbers of Singh & Alistarh (2020) were measured on it",)),
    Task("nettalk", "nettalk", "nettalk-203-80-26", "mse", "bits", _NETTALK_RECIPE, dtype=torch.float32,
         description="NETtalk, 203-80-26 sigmoid net, MSE on 26 articulatory/stress bits",
         notes=(_NETTALK_NOTE,)),
    Task("nettalk-20", "nettalk", "nettalk-203-20-26", "mse", "bits", _NETTALK_RECIPE, dtype=torch.float32,
         description="NETtalk with 20 hidden units (203-20-26, 4,626 weights): dense OBS fits a CPU",
         notes=("a reduced net for obs-nettalk: the same data and recipe as task nettalk",)),
]}


def get(name: str) -> Task:
    """The task called ``name`` (or a deprecated name of it, :data:`prunebench._validation.DEPRECATED_TASK_NAMES`);
    a clear error lists the valid ones."""
    name = task_name(name)
    if name not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}; got {name!r}. Run `prunebench tasks` to list them.")
    return TASKS[name]
