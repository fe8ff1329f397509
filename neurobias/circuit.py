"""RateRNN: a leaky rate circuit with fixed random connectivity and learned tonic inputs.

Euler-discretised dynamics, state x (N units), rate r = m * phi(x), alpha = dt / tau:

    x[t+1] = (1 - alpha) x[t] + alpha (W_rec r[t] + W_in u[t] + b[c] + noise)
    y[t]   = W_out r[t+1] + b_out

``b[c]`` is the tonic input (bias) of context ``c``: one row per task or rule. ``m`` is a per-unit
mask (all ones except in ``mask`` mode). Which tensors learn is set by ``mode``:

| mode               | what learns                                               |
|--------------------|-----------------------------------------------------------|
| ``bias`` (default) | b (the tonic-input table) and b_out                       |
| ``bias+readout``   | b, b_out and W_out                                        |
| ``full``           | every weight and bias                                     |
| ``mask``           | per-context unit masks (Williams et al. 2025's comparison) |

Everything that does not learn is a buffer, so the optimizer never sees it and backward never
computes its gradient. Reference: Williams, Payeur, Ryoo, Jiralerspong, Perich, Mazzucato and
Lajoie, "Expressivity of Neural Networks with Random Weights and Learned Biases", ICLR 2025.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from . import connectivity
from .config import CircuitConfig
from .seeding import generator as make_generator

__all__ = ["RateRNN", "Rollout", "TRAINABLE"]

# Tensors each mode learns (x0 joins them when CircuitConfig.learn_x0 is set).
TRAINABLE = {
    "bias": ("biases", "b_out"),
    "bias+readout": ("biases", "b_out", "W_out"),
    "full": ("W_rec", "W_in", "W_out", "biases", "b_out"),
    "mask": ("mask_logits", "b_out"),
}


def _phi(name: str):
    return {
        "relu": torch.relu,
        "softplus": nn.functional.softplus,
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "linear": lambda x: x,
    }[name]


def _dphi(name: str, x: torch.Tensor) -> torch.Tensor:
    """Derivative of the activation at x (same shape as x)."""
    if name == "relu":
        return (x > 0).to(x.dtype)
    if name == "softplus":
        return torch.sigmoid(x)
    if name == "tanh":
        return 1.0 - torch.tanh(x) ** 2
    if name == "sigmoid":
        s = torch.sigmoid(x)
        return s * (1.0 - s)
    return torch.ones_like(x)


def _phi_into(name: str, x: torch.Tensor, out: torch.Tensor) -> None:
    """out = phi(x) without a temporary where torch allows it."""
    if name == "relu":
        torch.clamp_min(x, 0.0, out=out)
    elif name == "tanh":
        torch.tanh(x, out=out)
    elif name == "sigmoid":
        torch.sigmoid(x, out=out)
    elif name == "linear":
        out.copy_(x)
    else:
        out.copy_(nn.functional.softplus(x))


def _times_dphi(name: str, g: torch.Tensor, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """g * phi'(x), given x and r = phi(x), with the kernels autograd itself uses."""
    out = torch.empty_like(g)
    _times_dphi_into(name, g, x, r, out)
    return out


def _times_dphi_into(name: str, g: torch.Tensor, x: torch.Tensor, r: torch.Tensor,
                     out: torch.Tensor) -> None:
    """out = g * phi'(x), given x and r = phi(x), with the kernels autograd itself uses, written
    into ``out`` (which may be ``g``)."""
    aten = torch.ops.aten
    if name == "relu":
        aten.threshold_backward.grad_input(g, x, 0.0, grad_input=out)
    elif name == "tanh":
        aten.tanh_backward.grad_input(g, r, grad_input=out)
    elif name == "sigmoid":
        aten.sigmoid_backward.grad_input(g, r, grad_input=out)
    elif name == "softplus":
        aten.softplus_backward.grad_input(g, x, 1.0, 20.0, grad_input=out)
    elif out is not g:
        out.copy_(g)


def _buffer_like(x: torch.Tensor, active: list[int] | None) -> torch.Tensor:
    """An uninitialised (time, trial, unit) tensor like ``x`` whose rows of trials that have
    ended (``active[t]`` onwards at step t) are 0. On the CPU only those rows are zeroed; on a
    GPU, where each call is a kernel launch, the whole tensor at once."""
    if active is None:
        return torch.empty_like(x)
    if x.device.type != "cpu":
        return torch.zeros_like(x)
    out = torch.empty_like(x)
    for t, m in enumerate(active):
        if m < x.shape[1]:
            out[t, m:].zero_()
    return out


class _Recurrence(torch.autograd.Function):
    """The Euler time loop with a hand-written backward pass (backpropagation through time).

    Forward, for t = 1..T (x_0 given, r = phi(x)):

        x_t = (1 - a) x_{t-1} + a r_{t-1} W^T + d_t

    Backward, with g_t = dL/dr_t from the readout and delta_t = dL/dx_t:

        delta_t = (g_t + a delta_{t+1} W) * phi'(x_t) + (1 - a) delta_{t+1}
        dL/dd_t = delta_t,   dL/dW = a sum_t delta_t^T r_{t-1}

    Compared with the same loop in autograd ops this writes states and rates into preallocated
    (time, trial, unit) buffers, keeps no per-step graph, and computes the weight gradient (only
    when W learns) as one large matmul at the end instead of one per step.
    """

    @staticmethod
    def forward(ctx, drive, x0, w_rec, alpha, activation, low=None, active=None):
        # active: None (every trial at every step) or, per step, how many leading trials are
        # still running (non-increasing); the others' states and rates stay 0 from there on.
        ctx.set_materialize_grads(False)
        n_t, n_b = drive.shape[:2]
        states = _buffer_like(drive, active)
        rates = _buffer_like(drive, active)
        w_t = w_rec.t()
        x, r = x0, _phi(activation)(x0)
        if low is None:
            for t in range(n_t):
                m = n_b if active is None else active[t]
                x = torch.add(drive[t, :m], x[:m], alpha=1.0 - alpha, out=states[t, :m])
                x.addmm_(r[:m], w_t, alpha=alpha)
                r = rates[t, :m]
                _phi_into(activation, x, r)
        else:  # matmul operands in `low` (bfloat16); the sum and the state stay float32
            w_low = w_t.to(low)
            r_low = r.to(low)
            rec = torch.empty(r.shape, dtype=low, device=r.device)
            for t in range(n_t):
                m = n_b if active is None else active[t]
                x = torch.add(drive[t, :m], x[:m], alpha=1.0 - alpha, out=states[t, :m])
                torch.mm(r_low[:m], w_low, out=rec[:m])
                x.add_(rec[:m], alpha=alpha)
                r = rates[t, :m]
                _phi_into(activation, x, r)
                r_low[:m].copy_(r)
        ctx.save_for_backward(states, rates, x0, w_rec)
        ctx.alpha, ctx.activation, ctx.low, ctx.active = alpha, activation, low, active
        return states, rates

    @staticmethod
    def backward(ctx, grad_states, grad_rates):
        states, rates, x0, w_rec = ctx.saved_tensors
        a, act, low, active = ctx.alpha, ctx.activation, ctx.low, ctx.active
        n_t, n_b = states.shape[:2]
        # steps past a trial's end (packed batches) get no gradient: their rows stay 0
        grad_drive = _buffer_like(states, active)
        delta = None
        if low is not None:
            w_low = w_rec.to(low)
            d_low = torch.empty(states.shape[1:], dtype=low, device=states.device)
            rec = torch.empty_like(d_low)
        # every step writes dL/dx_t straight into its row of grad_drive, without temporaries
        for t in range(n_t - 1, -1, -1):
            m = n_b if active is None else active[t]
            d_t = grad_drive[t, :m]
            x_t, r_t = states[t, :m], rates[t, :m]
            g_t = None if grad_rates is None else grad_rates[t, :m]
            if delta is None:  # the last step: only the readout's gradient reaches r_T
                if g_t is None:
                    d_t.zero_()
                else:
                    _times_dphi_into(act, g_t, x_t, r_t, d_t)
            else:
                # trials that ended after this step have delta_{t+1} = 0 in their rows
                delta = grad_drive[t + 1, :m]
                # g = dL/dr_t = grad_rates[t] + a delta_{t+1} W, then delta_t = g phi'(x_t) + ...
                if low is not None:
                    d_low[:m].copy_(delta)
                    torch.mm(d_low[:m], w_low, out=rec[:m])
                    if g_t is None:
                        torch.mul(rec[:m], a, out=d_t)
                    else:
                        torch.add(g_t, rec[:m], alpha=a, out=d_t)
                elif g_t is None:
                    torch.mm(delta, w_rec, out=d_t).mul_(a)
                else:
                    torch.addmm(g_t, delta, w_rec, alpha=a, out=d_t)
                _times_dphi_into(act, d_t, x_t, r_t, d_t)
                d_t.add_(delta, alpha=1.0 - a)
            if grad_states is not None:
                d_t.add_(grad_states[t, :m])
            delta = d_t
        if delta is not None:
            delta = grad_drive[0]  # every trial runs at the first step
        grad_x0 = grad_w = None
        if ctx.needs_input_grad[1]:
            r0 = _phi(act)(x0)
            grad_x0 = (1.0 - a) * delta + _times_dphi(act, a * (delta @ w_rec), x0, r0)
        if ctx.needs_input_grad[2]:
            n = states.shape[-1]
            prev = torch.cat([_phi(act)(x0).expand_as(rates[:1]), rates[:-1]])
            if low is None:
                grad_w = a * grad_drive.reshape(-1, n).t() @ prev.reshape(-1, n)
            else:
                grad_w = a * (grad_drive.reshape(-1, n).t().to(low) @
                              prev.reshape(-1, n).to(low)).float()
        return grad_drive, grad_x0, grad_w, None, None, None, None


class Rollout(NamedTuple):
    """What a forward pass returns; all time-major.

    Attributes:
        outputs: (time, trial, n_outputs) readout y.
        rates: (time, trial, unit) rates r after each step.
        states: (time, trial, unit) states x after each step, or None unless asked for.
    """

    outputs: torch.Tensor
    rates: torch.Tensor
    states: torch.Tensor | None


class RateRNN(nn.Module):
    """Leaky rate RNN whose connectivity is drawn once and whose tonic inputs learn.

    Args:
        config: the circuit's settings.
        seed: run seed; the connectivity stream is derived from it (same seed, same weights).

    Examples:
        >>> net = RateRNN(CircuitConfig(n_units=64), seed=0)
        >>> out = net(torch.zeros(10, 4, 1), torch.zeros(4, dtype=torch.long))
        >>> out.outputs.shape
        torch.Size([10, 4, 1])
    """

    def __init__(self, config: CircuitConfig, seed: int = 0):
        super().__init__()
        if not isinstance(config, CircuitConfig):
            raise TypeError(f"config must be a CircuitConfig, got {type(config).__name__}")
        self.config = config
        self.seed = int(seed)
        c = config
        gen = make_generator(self.seed, "connectivity")
        w_rec = connectivity.recurrent(c.weights, c.n_units, c.gain, gen, p=c.sparsity,
                                       frac_excitatory=c.frac_excitatory)
        w_in = connectivity.gaussian(c.n_units, c.n_inputs, c.input_scale, gen)
        w_out = connectivity.gaussian(c.n_outputs, c.n_units, c.readout_scale, gen)
        biases = c.bias_init + c.bias_init_std * torch.randn(c.n_contexts, c.n_units, generator=gen)
        tensors = {
            "W_rec": w_rec,
            "W_in": w_in,
            "W_out": w_out,
            "b_out": torch.zeros(c.n_outputs),
            "biases": biases,
            "x0": torch.zeros(c.n_units),
        }
        if c.mode == "mask":
            tensors["mask_logits"] = torch.full((c.n_contexts, c.n_units), float(c.mask_init))
        trainable = set(TRAINABLE[c.mode]) | ({"x0"} if c.learn_x0 else set())
        for name, value in tensors.items():
            if name in trainable:
                self.register_parameter(name, nn.Parameter(value.contiguous()))
            else:
                self.register_buffer(name, value.contiguous())
        # Sigmoid steepness of the masks; fit() anneals it. Evaluation uses a hard step.
        self.register_buffer("mask_beta", torch.tensor(1.0))
        # Mask gradient while training (fit() sets it from train.mask_estimator): True, the
        # forward pass uses the hard 0/1 mask and the gradient is that of sigmoid(beta * s)
        # (straight-through estimator, Bengio, Leonard & Courville 2013); False, the soft mask.
        self.mask_straight_through = False
        # dtype of the recurrent matmul operands while training (fit() sets it from
        # train.precision and clears it after): None, the circuit's own dtype
        self.matmul_dtype: torch.dtype | None = None
        self._phi = _phi(c.activation)

    # ------------------------------------------------------------------ properties

    @property
    def alpha(self) -> float:
        return self.config.alpha

    @property
    def n_units(self) -> int:
        return self.config.n_units

    @property
    def trainable_names(self) -> tuple[str, ...]:
        """Names of the tensors this circuit learns."""
        return tuple(name for name, p in self.named_parameters() if p.requires_grad)

    def n_trainable(self) -> int:
        """Number of learned scalars."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def unit_mask(self, context: torch.Tensor) -> torch.Tensor | None:
        """Per-trial unit masks (trial, unit) in mask mode, else None.

        Hard ``s > 0`` in eval mode. While training, soft ``sigmoid(beta * s)``, or with
        ``mask_straight_through`` the hard mask in the forward pass and the soft mask's
        gradient in the backward pass (training then runs the circuit evaluation runs).
        """
        if self.config.mode != "mask":
            return None
        scores = self.mask_logits[context]
        hard = (scores > 0).to(scores.dtype)
        if not self.training:
            return hard
        soft = torch.sigmoid(self.mask_beta * scores)
        if self.mask_straight_through:
            return hard + (soft - soft.detach())
        return soft

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """The activation function applied elementwise."""
        return self._phi(x)

    # ------------------------------------------------------------------ dynamics

    def _context(self, context, batch: int, device) -> torch.Tensor:
        if isinstance(context, int):
            context = torch.full((batch,), context, dtype=torch.long, device=device)
        context = torch.as_tensor(context, device=device).long()
        if context.ndim == 0:
            context = context.expand(batch)
        if context.shape != (batch,):
            raise ValueError(f"context has shape {tuple(context.shape)}: expected ({batch},)")
        n_ctx = self.config.n_contexts
        if batch and (int(context.min()) < 0 or int(context.max()) >= n_ctx):
            raise ValueError(f"context values must be in [0, {n_ctx - 1}]")
        return context

    def initial_state(self, batch: int) -> torch.Tensor:
        """x(0) for ``batch`` trials: (trial, unit)."""
        return self.x0.expand(batch, self.n_units)

    def forward(self, inputs: torch.Tensor, context, *, x0: torch.Tensor | None = None,
                noise: torch.Generator | None = None, return_states: bool = False,
                silence: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> Rollout:
        """Run the circuit over a batch of trials.

        Args:
            inputs: (time, trial, n_inputs) input u, time first. A batch-first array
                (trial, time, n_inputs) is refused when ``context`` shows it (its length equals
                the first axis, not the second) but runs silently when trials and time steps
                are as many: transpose it first. A NumPy array, or a tensor of another dtype
                or device, is converted to the circuit's dtype (float32 unless the circuit was
                cast, e.g. with ``.double()``) and device.
            context: (trial,) context indices (tensor, NumPy array or list), or one int for
                every trial.
            x0: (trial, unit) initial state; default the circuit's x0.
            noise: a generator for the recurrent and input noise; None runs noise-free.
            return_states: also return the states x.
            silence: (unit,) bool tensor of units whose rates are clamped to 0 (a lesion: they
                neither drive other units nor the readout); None silences none.
            lengths: (trial,) steps each trial lasts (1 ... time), for batches padded to their
                longest trial; a trial is not simulated past its length: its states, rates and
                outputs there are 0 and 0 + b_out, and nothing there reaches the gradient.
                Training skips the padding this way (the loss must give those steps no
                weight); None simulates every trial for every step.

        Returns:
            Rollout(outputs (time, trial, n_outputs), rates (time, trial, unit), states).
        """
        c = self.config
        inputs = self._as_inputs(inputs)
        if inputs.ndim != 3 or inputs.shape[2] != c.n_inputs:
            raise ValueError(f"inputs has shape {tuple(inputs.shape)}: expected "
                             f"(time, trial, {c.n_inputs}): time first, then trials, then inputs")
        n_t, n_b, _ = inputs.shape
        n_ctx = getattr(context, "shape", (len(context),) if isinstance(context, (list, tuple))
                        else ())
        if len(n_ctx) == 1 and n_ctx[0] != n_b and n_ctx[0] == n_t:
            raise ValueError(f"inputs has shape {tuple(inputs.shape)} and context {n_ctx[0]} "
                             "trials: the inputs look batch-first (trial, time, n_inputs); "
                             "forward expects (time, trial, n_inputs): pass "
                             "inputs.transpose(0, 1)")
        ctx = self._context(context, n_b, inputs.device)
        a = self.alpha
        if noise is not None and c.noise_in > 0:
            scale = math.sqrt(2.0 / a) * c.noise_in
            inputs = inputs + scale * torch.randn(inputs.shape, generator=noise,
                                                  device=inputs.device, dtype=inputs.dtype)
        # Everything that does not depend on the state, for all steps at once, pre-scaled by
        # alpha: one matmul instead of one per step.
        drive = torch.matmul(inputs, self.W_in.t() * a) + self.biases[ctx] * a
        if noise is not None and c.noise_rec > 0:
            drive = drive + math.sqrt(2.0 * a) * c.noise_rec * torch.randn(
                drive.shape, generator=noise, device=drive.device, dtype=drive.dtype)
        mask = self.unit_mask(ctx)
        if silence is not None:
            silence = torch.as_tensor(silence, device=inputs.device)
            if silence.shape != (c.n_units,) or silence.dtype != torch.bool:
                raise ValueError(f"silence must be a bool tensor of shape ({c.n_units},), got "
                                 f"{silence.dtype} {tuple(silence.shape)}")
            keep = (~silence).to(drive.dtype).expand(n_b, c.n_units)
            mask = keep if mask is None else mask * keep
        x = self.initial_state(n_b) if x0 is None else x0
        if n_t == 0:
            empty = inputs.new_zeros(0, n_b, c.n_units)
            return Rollout(inputs.new_zeros(0, n_b, c.n_outputs), empty,
                           empty if return_states else None)
        active = order = None
        if lengths is not None:
            active, order = self._packing(lengths, n_t, n_b)
        if order is not None:  # longest trials first, so the running ones are a prefix
            drive, x = drive[:, order], x[order]
            mask = None if mask is None else mask[order]
        if mask is None:
            states_tbn, rates_tbn = _Recurrence.apply(drive, x, self.W_rec, a, c.activation,
                                                      self.matmul_dtype, active)
        else:
            states_tbn, rates_tbn = self._recurrence_autograd(drive, x, mask)
            if active is not None:
                keep = (torch.arange(n_b, device=drive.device)[None, :]
                        < torch.as_tensor(active, device=drive.device)[:, None])
                keep = keep.to(drive.dtype)[..., None]
                states_tbn, rates_tbn = states_tbn * keep, rates_tbn * keep
        if order is not None:
            inverse = torch.argsort(order)
            states_tbn, rates_tbn = states_tbn[:, inverse], rates_tbn[:, inverse]
        outputs = torch.matmul(rates_tbn, self.W_out.t()) + self.b_out
        return Rollout(outputs, rates_tbn, states_tbn if return_states else None)

    @staticmethod
    def _packing(lengths, n_t: int, n_b: int) -> tuple[list[int] | None, torch.Tensor | None]:
        """For ``lengths`` (trial,): how many trials still run at each step once the longest
        come first (None where all run to the end), and the order that puts them first (None
        where they already come first)."""
        lengths = torch.as_tensor(lengths).detach().to("cpu")  # on a GPU: one small copy
        if lengths.is_floating_point() and not bool((lengths == lengths.round()).all()):
            raise ValueError("lengths must be whole numbers of steps")
        lengths = lengths.long()
        if lengths.shape != (n_b,):
            raise ValueError(f"lengths has shape {tuple(lengths.shape)}: expected ({n_b},), one "
                             "per trial")
        if n_b and (int(lengths.min()) < 1 or int(lengths.max()) > n_t):
            raise ValueError(f"lengths must be in [1, {n_t}] (the batch's steps), got "
                             f"{int(lengths.min())} ... {int(lengths.max())}")
        order = None
        if n_b > 1 and bool((lengths[1:] > lengths[:-1]).any()):
            order = torch.argsort(lengths, descending=True, stable=True)
            lengths = lengths[order]
        if n_b == 0 or int(lengths[-1]) == n_t:  # every trial runs to the end: nothing to skip
            return None, None
        active = torch.searchsorted(-lengths, -torch.arange(n_t), side="left")
        return [int(m) for m in active], order

    def _as_inputs(self, inputs) -> torch.Tensor:
        """``inputs`` as a tensor of the circuit's dtype on its device (NumPy arrays, lists
        and tensors of other dtypes are converted)."""
        ref = self.W_in
        if isinstance(inputs, torch.Tensor):
            return inputs.to(device=ref.device, dtype=ref.dtype)
        try:
            return torch.as_tensor(inputs, dtype=ref.dtype, device=ref.device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"inputs of type {type(inputs).__name__} cannot be read as numbers: "
                            "expected a float array (time, trial, n_inputs)") from None

    def _recurrence_autograd(self, drive: torch.Tensor, x: torch.Tensor,
                             mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The time loop written with autograd ops (used in mask mode, and as a reference)."""
        a = self.alpha
        r = self._phi(x)
        if mask is not None:
            r = r * mask
        w_t = self.W_rec.t()
        low = self.matmul_dtype
        if low is not None:
            w_t = w_t.to(low)
        rates, states = [], []
        # unbind once: indexing drive[t] inside the loop makes backward allocate a full-size
        # zero gradient per step.
        for d in drive.unbind(0):
            if low is None:
                x = torch.addmm(torch.add(d, x, alpha=1.0 - a), r, w_t, alpha=a)
            else:
                x = torch.add(d, x, alpha=1.0 - a) + a * (r.to(low) @ w_t).to(d.dtype)
            r = self._phi(x)
            if mask is not None:
                r = r * mask
            rates.append(r)
            states.append(x)
        return torch.stack(states), torch.stack(rates)

    def step(self, x: torch.Tensor, u: torch.Tensor, context) -> torch.Tensor:
        """One noise-free Euler step: x (trial, unit), u (trial, n_inputs) -> x (trial, unit)."""
        ctx = self._context(context, x.shape[0], x.device)
        r = self.rates(x, ctx)
        return (1 - self.alpha) * x + self.alpha * (r @ self.W_rec.t() + u @ self.W_in.t()
                                                    + self.biases[ctx])

    def rates(self, x: torch.Tensor, context) -> torch.Tensor:
        """r = m * phi(x) for states x (trial, unit)."""
        ctx = self._context(context, x.shape[0], x.device)
        r = self._phi(x)
        mask = self.unit_mask(ctx)
        return r if mask is None else r * mask

    def readout(self, r: torch.Tensor) -> torch.Tensor:
        """y = W_out r + b_out for rates r (..., unit)."""
        return r @ self.W_out.t() + self.b_out

    def velocity(self, x: torch.Tensor, u: torch.Tensor, context) -> torch.Tensor:
        """Continuous-time vector field F(x, u, c) = (-x + W_rec r + W_in u + b[c]) / tau.

        Args:
            x: (trial, unit) states.
            u: (trial, n_inputs) inputs (held constant).
            context: (trial,) context indices or one int.

        Returns:
            (trial, unit) dx/dt in units per millisecond.
        """
        ctx = self._context(context, x.shape[0], x.device)
        drive = self.rates(x, ctx) @ self.W_rec.t() + u @ self.W_in.t() + self.biases[ctx]
        return (drive - x) / self.config.tau_ms

    def jacobian(self, x: torch.Tensor, u: torch.Tensor, context) -> torch.Tensor:
        """Analytic Jacobian dF/dx = (-I + W_rec diag(m phi'(x))) / tau.

        ``u`` does not enter (inputs are additive) but is accepted for symmetry with velocity.
        The Jacobian of the discrete map x[t] -> x[t+1] is ``I + dt_ms * jacobian``.

        Returns:
            (trial, unit, unit) in units per millisecond.
        """
        ctx = self._context(context, x.shape[0], x.device)
        gain = _dphi(self.config.activation, x)
        mask = self.unit_mask(ctx)
        if mask is not None:
            gain = gain * mask
        eye = torch.eye(self.n_units, dtype=x.dtype, device=x.device)
        return (self.W_rec.unsqueeze(0) * gain.unsqueeze(1) - eye) / self.config.tau_ms
