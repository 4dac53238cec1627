"""Learning-rate schedules with PyTorch's semantics.

A scheduler is built after its optimizer; construction sets every group's ``lr`` to the
schedule's value at step 0 (remembering the original in ``group["initial_lr"]``), and each
``scheduler.step()`` advances one step - call it once per epoch or once per batch, as the
schedule was designed. Every schedule is written in closed form, ``lr(t) = f(base_lr, t)``.
"""

from __future__ import annotations

import bisect
import math

from .optimizer import Optimizer

__all__ = ["LRScheduler", "LambdaLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
           "OneCycleLR", "SequentialLR"]


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``state_dict()``, ``load_state_dict()``.

    Args:
        optimizer: the optimizer whose groups' ``lr`` is set.
        last_epoch: index of the last step taken; -1 starts a new schedule.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{type(self).__name__}: param group {i} has no 'initial_lr'; "
                               f"resuming (last_epoch={last_epoch}) needs a scheduler that was started before")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate at step ``epoch`` for a group whose initial rate is ``base_lr``."""
        return base_lr

    def get_lr(self) -> list:
        """The learning rates of the current step, one per group."""
        return [self.lr_at(base, self.last_epoch) for base in self.base_lrs]

    def step(self, epoch: int | None = None) -> None:
        """Advance to the next step (or jump to step ``epoch``) and set the groups' learning rates."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else int(epoch)
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_last_lr(self) -> list:
        """The learning rates set by the last ``step()``, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)
                and k not in ("lr_lambdas", "_schedulers")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``.

    Args:
        optimizer: wrapped optimizer.
        lr_lambda: a function of the step, or one function per param group.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n or not all(callable(f) for f in lambdas):
            raise ValueError(f"LambdaLR: expected one function or {n} functions (one per param group)")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base * f(self.last_epoch) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (epoch // step_size)``.

    Args:
        optimizer: wrapped optimizer.
        step_size: steps between decays.
        gamma: decay factor.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be positive, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """``lr = base_lr * gamma ** (number of milestones <= epoch)``.

    Args:
        optimizer: wrapped optimizer.
        milestones: increasing step indices at which the rate is multiplied by ``gamma``.
        gamma: decay factor.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """``lr = base_lr * gamma ** epoch``.

    Args:
        optimizer: wrapped optimizer.
        gamma: decay factor per step.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``.

    Args:
        optimizer: wrapped optimizer.
        T_max: steps of the half cosine (the rate reaches ``eta_min`` at step T_max).
        eta_min: the minimum rate.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class LinearLR(LRScheduler):
    """Linear warm-up (or decay) of the factor multiplying the base rate::

        lr = base_lr * (s + (e - s) * min(epoch, total_iters) / total_iters)

    Args:
        optimizer: wrapped optimizer.
        start_factor: s, the factor at step 0, in (0, 1].
        end_factor: e, the factor from step ``total_iters`` on, in [0, 1].
        total_iters: steps of the ramp.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1], "
                             f"got {start_factor} and {end_factor}")
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be positive, got {total_iters}")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith and Topin), stepped once per batch.

    The rate rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of the
    steps, then anneals to ``max_lr / (div_factor * final_div_factor)``; with ``three_phase`` it
    comes back down to the initial rate symmetrically before the final annealing. Momentum (or
    Adam's beta1) cycles inversely between ``max_momentum`` and ``base_momentum``.

    Args:
        optimizer: wrapped optimizer.
        max_lr: peak learning rate (one value or one per group).
        total_steps: number of steps; or give ``epochs`` and ``steps_per_epoch``.
        epochs: epochs of training (with ``steps_per_epoch``).
        steps_per_epoch: batches per epoch.
        pct_start: fraction of the steps spent increasing the rate.
        anneal_strategy: "cos" or "linear".
        cycle_momentum: cycle momentum / beta1 inversely to the rate.
        base_momentum: lowest momentum (at the peak rate).
        max_momentum: highest momentum (at the start and end).
        div_factor: initial rate = max_lr / div_factor.
        final_div_factor: final rate = initial rate / final_div_factor.
        three_phase: use the three-phase schedule.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85, max_momentum: float = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None or epochs < 1 or steps_per_epoch < 1:
                raise ValueError("OneCycleLR: give total_steps, or positive epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if total_steps < 1:
            raise ValueError(f"OneCycleLR: total_steps must be positive, got {total_steps}")
        if not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start must be in [0, 1], got {pct_start}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.total_steps = int(total_steps)
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = cycle_momentum
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ValueError(f"OneCycleLR: {len(max_lrs)} max_lr values for {len(groups)} param groups")
        if last_epoch == -1:
            for group, peak in zip(groups, max_lrs):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        if three_phase:
            self.phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                (self.total_steps - 1.0, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        else:
            self.phases = [
                (float(pct_start * self.total_steps) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (self.total_steps - 1.0, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        if cycle_momentum:
            self._use_beta1 = "betas" in optimizer.defaults
            if not self._use_beta1 and "momentum" not in optimizer.defaults:
                raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
            if last_epoch == -1:
                for group in groups:
                    self._set_momentum(group, max_momentum)
                    group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self._use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _values(self, group, step):
        start_step = 0.0
        for i, (end_step, lr0, lr1, m0, m1) in enumerate(self.phases):
            if step <= end_step or i == len(self.phases) - 1:
                # A zero-length phase (pct_start * total_steps == 1) is already at its end value.
                pct = (step - start_step) / (end_step - start_step) if end_step != start_step else 1.0
                lr = self._anneal(group[lr0], group[lr1], pct)
                momentum = self._anneal(group[m0], group[m1], pct) if self.cycle_momentum else None
                return lr, momentum
            start_step = end_step
        return group["lr"], None  # pragma: no cover - the loop always returns

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step} times, the schedule has total_steps={self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            lr, momentum = self._values(group, step)
            lrs.append(lr)
            if momentum is not None:
                self._set_momentum(group, momentum)
        return lrs


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at ``milestones`` (e.g. warm-up, then cosine).

    Scheduler ``i`` sees its own step count, restarted at 0 at milestone ``i - 1``.

    Args:
        optimizer: wrapped optimizer (the same one the schedulers wrap).
        schedulers: list of schedulers.
        milestones: increasing step indices, one fewer than schedulers.
        last_epoch: index of the last step taken.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        if len(schedulers) < 1 or len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: expected len(milestones) == len(schedulers) - 1, got "
                             f"{len(milestones)} milestones for {len(schedulers)} schedulers")
        for i, s in enumerate(schedulers):
            if s.optimizer is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} wraps a different optimizer")
        self._schedulers = schedulers
        self.milestones = [int(m) for m in milestones]
        # The sub-schedulers already stepped once when built; restore the initial rates.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        index = bisect.bisect_right(self.milestones, self.last_epoch)
        start = self.milestones[index - 1] if index > 0 else 0
        scheduler = self._schedulers[index]
        scheduler.last_epoch = self.last_epoch - start
        lrs = scheduler.get_lr()
        scheduler._last_lr = lrs
        return lrs

    def state_dict(self):
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        for s, saved in zip(self._schedulers, state.pop("_schedulers", [])):
            s.load_state_dict(saved)
        super().load_state_dict(state)
