import pytest
import torch

from neurobias import CircuitConfig, RateRNN
from neurobias.circuit import TRAINABLE, _Recurrence

ACTS = ["relu", "softplus", "tanh", "sigmoid", "linear"]


def make(**kw):
    base = dict(n_units=24, n_inputs=3, n_outputs=2, n_contexts=2, gain=1.2, bias_init_std=0.5)
    base.update(kw)
    return RateRNN(CircuitConfig(**base), seed=kw.pop("seed", 0) if "seed" in kw else 0)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("mode", ["bias", "mask"])
def test_jacobian_matches_autograd(activation, mode):
    net = make(activation=activation, mode=mode, mask_init=0.3).double().eval()
    with torch.no_grad():
        if mode == "mask":
            net.mask_logits.copy_(torch.randn(net.mask_logits.shape, dtype=torch.float64))
    x = torch.randn(3, 24, dtype=torch.float64)
    u = torch.randn(3, 3, dtype=torch.float64)
    ctx = torch.tensor([0, 1, 1])
    jac = net.jacobian(x, u, ctx)
    for i in range(3):
        def field(xi, i=i):
            return net.velocity(xi[None], u[i : i + 1], ctx[i : i + 1])[0]

        ref = torch.autograd.functional.jacobian(field, x[i])
        torch.testing.assert_close(jac[i], ref, rtol=1e-10, atol=1e-12)


def test_velocity_is_the_euler_step():
    net = make().double().eval()
    x = torch.randn(5, 24, dtype=torch.float64)
    u = torch.randn(5, 3, dtype=torch.float64)
    ctx = torch.tensor([0, 1, 0, 1, 1])
    step = net.step(x, u, ctx)
    torch.testing.assert_close(step, x + net.config.dt_ms * net.velocity(x, u, ctx))


def test_forward_matches_step_by_step():
    net = make().double().eval()
    u = torch.randn(7, 4, 3, dtype=torch.float64)
    ctx = torch.tensor([0, 1, 1, 0])
    roll = net(u, ctx, return_states=True)
    x = net.initial_state(4)
    for t in range(7):
        x = net.step(x, u[t], ctx)
        torch.testing.assert_close(roll.states[t], x)
        torch.testing.assert_close(roll.outputs[t], net.readout(net.rates(x, ctx)))


def test_linear_circuit_closed_form():
    """x[t] of a linear circuit with constant input: x_T = sum_k A^k c, A = (1-a)I + aW."""
    net = make(activation="linear", gain=0.5).double().eval()
    a = net.alpha
    u = torch.randn(1, 3, dtype=torch.float64)
    ctx = torch.tensor([1])
    n_t = 30
    roll = net(u.expand(n_t, 1, 3).contiguous(), ctx, return_states=True)
    amat = (1 - a) * torch.eye(24, dtype=torch.float64) + a * net.W_rec
    c = a * (net.W_in @ u[0] + net.biases[1])
    expected = torch.linalg.solve(torch.eye(24, dtype=torch.float64) - amat,
                                  (torch.eye(24, dtype=torch.float64)
                                   - torch.linalg.matrix_power(amat, n_t)) @ c)
    torch.testing.assert_close(roll.states[-1, 0], expected)


@pytest.mark.parametrize("mode", list(TRAINABLE))
def test_mode_decides_parameters(mode):
    net = make(mode=mode)
    assert set(net.trainable_names) == set(TRAINABLE[mode])
    buffers = {name for name, _ in net.named_buffers()}
    assert {"W_rec", "W_in", "W_out"} - set(TRAINABLE[mode]) <= buffers
    net2 = make(mode=mode, learn_x0=True)
    assert "x0" in net2.trainable_names


def test_context_selects_its_bias_row():
    net = make(activation="linear").eval()
    with torch.no_grad():
        net.biases[1] += 1.0
    u = torch.zeros(5, 2, 3)
    r0 = net(u, torch.tensor([0, 0])).rates
    r1 = net(u, torch.tensor([1, 0])).rates
    torch.testing.assert_close(r0[:, 1], r1[:, 1])
    assert not torch.allclose(r0[:, 0], r1[:, 0])


def test_mask_hard_step_at_eval():
    net = make(mode="mask")
    with torch.no_grad():
        net.mask_logits.copy_(torch.linspace(-1, 1, 48).reshape(2, 24))
    ctx = torch.tensor([0, 1])
    net.train()
    soft = net.unit_mask(ctx)
    assert ((soft > 0) & (soft < 1)).all()
    net.eval()
    hard = net.unit_mask(ctx)
    torch.testing.assert_close(hard, (net.mask_logits[ctx] > 0).float())


def test_noise_scaling_matches_yang2019():
    """Recurrent noise has per-step std sqrt(2 alpha) sigma on x (Yang et al. 2019)."""
    sigma = 0.3
    net = make(activation="linear", gain=0.0, noise_rec=sigma, n_units=200)
    with torch.no_grad():
        net.biases.zero_()
    u = torch.zeros(1, 500, 3)
    gen = torch.Generator().manual_seed(0)
    x1 = net(u, 0, noise=gen, return_states=True).states[0]
    expected = (2 * net.alpha) ** 0.5 * sigma
    assert x1.std().item() == pytest.approx(expected, rel=0.02)
    # without a generator the circuit is noise-free
    assert net(u, 0).states is None
    assert torch.equal(net(u, 0, return_states=True).states[0], torch.zeros(500, 200))


def test_same_seed_same_weights():
    a, b, c = make(), make(), RateRNN(make().config, seed=1)
    assert torch.equal(a.W_rec, b.W_rec) and torch.equal(a.W_out, b.W_out)
    assert not torch.equal(a.W_rec, c.W_rec)


def test_bad_shapes_are_explained():
    net = make()
    with pytest.raises(ValueError, match=r"expected \(time, trial, 3\)"):
        net(torch.zeros(5, 2, 4), 0)
    with pytest.raises(ValueError, match=r"context values must be in \[0, 1\]"):
        net(torch.zeros(5, 2, 3), torch.tensor([0, 2]))


@pytest.mark.parametrize("activation", ACTS)
def test_handwritten_backward_equals_autograd(activation):
    """The fused time loop's gradients equal those of the same loop in autograd ops."""
    net = make(activation=activation, mode="full", learn_x0=True).double()
    with torch.no_grad():
        net.x0.copy_(torch.randn(24, dtype=torch.float64))
    u = torch.randn(9, 4, 3, dtype=torch.float64)
    ctx = torch.tensor([0, 1, 1, 0])
    target = torch.randn(9, 4, 2, dtype=torch.float64)

    def grads(use_autograd_loop):
        net.zero_grad()
        if use_autograd_loop:
            drive = (torch.matmul(u, net.W_in.t() * net.alpha) + net.biases[ctx] * net.alpha)
            states, rates = net._recurrence_autograd(drive, net.initial_state(4), None)
            out = rates @ net.W_out.t() + net.b_out
            loss = ((out - target) ** 2).sum() + (states ** 2).mean()
        else:
            roll = net(u, ctx, return_states=True)
            loss = ((roll.outputs - target) ** 2).sum() + (roll.states ** 2).mean()
        loss.backward()
        return {k: p.grad.clone() for k, p in net.named_parameters()}

    fused, reference = grads(False), grads(True)
    assert set(fused) == {"W_rec", "W_in", "W_out", "biases", "b_out", "x0"}
    for name in fused:
        torch.testing.assert_close(fused[name], reference[name], rtol=1e-9, atol=1e-12,
                                   msg=name)


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("on", ["rates", "states"])
@pytest.mark.parametrize("low", [None, torch.bfloat16])
def test_handwritten_backward_equals_autograd_when_the_loss_reads_rates_or_states_alone(
        activation, on, low):
    """Only one of the two outputs of the time loop gets a gradient (the other's is None); in
    bf16 both loops round the same operands, so they agree to bf16 rounding."""
    net = make(activation=activation, mode="full").double()
    net.matmul_dtype = low
    u = torch.randn(7, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ctx = torch.tensor([0, 1, 0])
    x0 = net.initial_state(3)

    def grads(loop):
        net.zero_grad()
        drive = torch.matmul(u, net.W_in.t() * net.alpha) + net.biases[ctx] * net.alpha
        states, rates = loop(drive, x0, None)
        picked = rates if on == "rates" else states
        (picked * torch.linspace(-1, 1, picked.shape[-1], dtype=torch.float64)).sum().backward()
        return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}

    def fused_loop(drive, x, mask):
        return _Recurrence.apply(drive, x, net.W_rec, net.alpha, activation, low)

    fused, reference = grads(fused_loop), grads(net._recurrence_autograd)
    assert set(fused) == set(reference) == {"W_rec", "W_in", "biases"}
    for name in fused:
        if low is None:
            torch.testing.assert_close(fused[name], reference[name], rtol=1e-9, atol=1e-12,
                                       msg=name)
        else:  # bf16 keeps 8 bits: the two agree to a few roundings of 2^-9, as a whole
            err = (fused[name] - reference[name]).norm() / reference[name].norm()
            assert err < 1e-2, (name, float(err))


def test_numpy_and_float64_inputs_are_converted():
    """NumPy arrays and float64 tensors run as the float32 tensor of the same numbers."""
    import numpy as np

    net = make()
    u64 = np.random.default_rng(0).normal(size=(6, 4, 3))
    ctx = np.array([0, 1, 1, 0])
    ref = net(torch.from_numpy(u64).float(), torch.from_numpy(ctx))
    for inputs, context in ((u64, ctx), (torch.from_numpy(u64), ctx.tolist()),
                            (u64.tolist(), ctx)):
        got = net(inputs, context)
        assert got.outputs.dtype == torch.float32
        assert torch.equal(got.outputs, ref.outputs) and torch.equal(got.rates, ref.rates)
    with pytest.raises(TypeError, match=r"cannot be read as numbers: expected a float array "
                                        r"\(time, trial, n_inputs\)"):
        net(np.array([[["a", "b", "c"]]]), 0)


def test_batch_first_inputs_are_named():
    net = make()
    u = torch.zeros(4, 9, 3)  # 4 trials of 9 steps, batch-first
    for ctx in (torch.tensor([0, 1, 1, 0]), [0, 1, 1, 0]):
        with pytest.raises(ValueError, match=r"inputs has shape \(4, 9, 3\) and context 4 "
                                             r"trials: the inputs look batch-first"):
            net(u, ctx)
    assert net(u.transpose(0, 1), [0, 1, 1, 0]).outputs.shape == (9, 4, 2)
    # a context that fits neither axis keeps the plain message
    with pytest.raises(ValueError, match=r"context has shape \(5,\): expected \(9,\)"):
        net(u, torch.zeros(5, dtype=torch.long))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("mode", ["full", "mask"])
@pytest.mark.parametrize("low", [None, torch.bfloat16])
@pytest.mark.parametrize("lengths", [
    [4, 9, 1, 6, 9],  # unsorted (reordered inside), with ties and a one-step trial
    [8, 6, 6, 3, 1],  # longest first, as mixed batches come; no trial runs at the last step
])
def test_padded_batch_with_lengths_equals_each_trial_run_alone(activation, mode, low, lengths):
    """A batch padded to its longest trial, run with ``lengths``: each trial's outputs, and the
    gradients of a loss over each trial's own steps, equal those of the trials run one by one at
    their own length (no padding at all); past its length a trial is 0 (outputs b_out)."""
    if mode == "mask" and low is not None:
        pytest.skip("mask mode runs its loop in autograd ops; bf16 there is tested elsewhere")
    net = make(activation=activation, mode=mode, learn_x0=mode == "full", mask_init=0.3).double()
    net.matmul_dtype = low
    with torch.no_grad():
        if mode == "full":
            net.x0.copy_(torch.randn(24, dtype=torch.float64))
        else:
            net.mask_logits.copy_(torch.randn(net.mask_logits.shape, dtype=torch.float64))
    gen = torch.Generator().manual_seed(5)
    lengths = torch.tensor(lengths)
    u = torch.randn(9, 5, 3, dtype=torch.float64, generator=gen)
    ctx = torch.tensor([0, 1, 1, 0, 1])
    target = torch.randn(9, 5, 2, dtype=torch.float64, generator=gen)

    def grads(outputs_of):
        net.zero_grad()
        outs = outputs_of()
        loss = sum(((outs[i][: lengths[i], 0] - target[: lengths[i], i]) ** 2).sum()
                   for i in range(5))
        loss.backward()
        return outs, {k: p.grad.clone() for k, p in net.named_parameters()
                      if p.grad is not None}

    def packed():
        roll = net(u, ctx, lengths=lengths, return_states=True)
        past = torch.arange(9)[:, None] >= lengths[None, :]
        assert (roll.states[past] == 0).all() and (roll.rates[past] == 0).all()
        assert torch.equal(roll.outputs[past], net.b_out.expand(int(past.sum()), 2))
        return [roll.outputs[:, i: i + 1] for i in range(5)]

    def one_by_one():
        return [net(u[: lengths[i], i: i + 1], ctx[i: i + 1]).outputs for i in range(5)]

    (outs, fused), (alone, reference) = grads(packed), grads(one_by_one)
    assert set(fused) == set(reference) == ({"W_rec", "W_in", "W_out", "biases", "b_out", "x0"}
                                            if mode == "full" else {"mask_logits", "b_out"})
    for i in range(5):
        if low is None:
            torch.testing.assert_close(outs[i][: lengths[i]], alone[i], rtol=1e-10, atol=1e-12)
    for name in fused:
        if low is None:
            torch.testing.assert_close(fused[name], reference[name], rtol=1e-9, atol=1e-12,
                                       msg=name)
        else:  # both round the same operands to bf16, in other groupings of trials
            err = (fused[name] - reference[name]).norm() / reference[name].norm()
            assert err < 2e-2, (name, float(err))


def test_lengths_are_checked():
    net = make()
    u = torch.zeros(5, 2, 3)
    for bad, match in (([5], "shape"), ([0, 5], r"\[1, 5\]"), ([6, 2], r"\[1, 5\]"),
                       ([2.5, 5.0], "whole numbers")):
        with pytest.raises(ValueError, match=match):
            net(u, 0, lengths=torch.tensor(bad))
    full = net(u, 0)
    assert torch.equal(net(u, 0, lengths=torch.tensor([5, 5])).outputs, full.outputs)
