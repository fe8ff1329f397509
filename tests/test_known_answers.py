"""Circuit and analysis behaviours checked against answers derived by hand: the input-noise
scale, what a lesion silences, which units each cluster lesion silences, and the time window
the run analysis takes task variance over."""

import numpy as np
import pytest
import torch

import neurobias as nb
from neurobias import analysis as A
from neurobias.envs.batch import Env


def _identity_input_circuit(n=100, sigma_in=0.4, w_in_scale=1.0, **kw):
    """A linear circuit with no recurrence, no tonic input and W_in = w_in_scale * I, so that
    after one step x = alpha * W_in (u + input noise)."""
    net = nb.RateRNN(nb.CircuitConfig(n_units=n, n_inputs=n, activation="linear", gain=0.0,
                                      noise_in=sigma_in, **kw), seed=0)
    with torch.no_grad():
        net.W_rec.zero_()
        net.biases.zero_()
        net.W_in.copy_(w_in_scale * torch.eye(n))
    return net.eval()


def test_input_noise_has_std_sigma_sqrt_2_over_alpha():
    """Yang et al. (2019): input noise sigma_in * sqrt(2 / alpha) * N(0, 1) is added to u."""
    sigma = 0.4
    net = _identity_input_circuit(sigma_in=sigma)
    a = net.alpha
    assert a == pytest.approx(0.2)  # dt 20 ms, tau 100 ms
    states = net(torch.zeros(2, 400, 100), 0, noise=torch.Generator().manual_seed(0),
                 return_states=True).states
    injected = states[0] / a  # W_in = I: the noise itself
    assert injected.mean().item() == pytest.approx(0.0, abs=0.03)  # 5 standard errors
    # sqrt(2 / 0.2) * 0.4 = 1.265; sqrt(2 * 0.2) * 0.4 would be 0.253
    assert injected.std().item() == pytest.approx(sigma * np.sqrt(2 / a), rel=0.02)
    # fresh noise at every step: x2 = (1 - a) x1 + a n2 has variance ((1 - a)^2 + 1) a^2 s^2
    expected = np.sqrt((1 - a) ** 2 + 1) * a * sigma * np.sqrt(2 / a)
    assert states[1].std().item() == pytest.approx(expected, rel=0.02)
    # no generator: no noise at all
    assert torch.equal(net(torch.zeros(2, 3, 100), 0, return_states=True).states,
                       torch.zeros(2, 3, 100))


def test_input_noise_enters_before_the_input_weights():
    # with W_in = 3 I the injected noise is three times larger: it is added to u, not to x
    net = _identity_input_circuit(n=50, sigma_in=0.1, w_in_scale=3.0)
    x1 = net(torch.zeros(1, 800, 50), 0, noise=torch.Generator().manual_seed(1),
             return_states=True).states[0]
    assert (x1 / net.alpha).std().item() == pytest.approx(3 * 0.1 * np.sqrt(2 / net.alpha),
                                                          rel=0.02)


def test_input_and_recurrent_noise_add_up():
    # independent sources: the variances add
    sig_in, sig_rec = 0.3, 0.2
    net = _identity_input_circuit(n=100, sigma_in=sig_in, noise_rec=sig_rec)
    a = net.alpha
    x1 = net(torch.zeros(1, 600, 100), 0, noise=torch.Generator().manual_seed(2),
             return_states=True).states[0]
    var = (a * sig_in * np.sqrt(2 / a)) ** 2 + 2 * a * sig_rec ** 2
    assert x1.var().item() == pytest.approx(var, rel=0.04)


def test_a_silenced_unit_drives_neither_the_other_units_nor_the_readout():
    """Against the Euler loop written out with the silenced rates set to zero."""
    n, n_t = 12, 9
    net = nb.RateRNN(nb.CircuitConfig(n_units=n, n_inputs=2, n_outputs=3, activation="tanh",
                                      gain=1.5, bias_init_std=0.5), seed=3).double().eval()
    with torch.no_grad():
        net.b_out.copy_(torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64))
    silence = torch.zeros(n, dtype=torch.bool)
    silence[[1, 5, 6]] = True
    u = torch.randn(n_t, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = net(u, 0, silence=silence, return_states=True)
    keep = (~silence).double()
    a, x = net.alpha, torch.zeros(4, n, dtype=torch.float64)
    r = torch.tanh(x) * keep
    for t in range(n_t):
        x = (1 - a) * x + a * (r @ net.W_rec.T + u[t] @ net.W_in.T + net.biases[0])
        r = torch.tanh(x) * keep
        torch.testing.assert_close(out.states[t], x)
        torch.testing.assert_close(out.rates[t], r)
        torch.testing.assert_close(out.outputs[t], r @ net.W_out.T + net.b_out)
    # and the silenced units do matter: the intact circuit differs
    assert not torch.allclose(net(u, 0).outputs, out.outputs)


class _GroupRates(Env):
    """Reports, as two "tasks", the summed rate of units 0-3 and of units 4-7 after 3 steps."""

    n_inputs, n_outputs, context_names = 1, 1, ("only",)

    @torch.no_grad()
    def evaluate(self, net, generator):
        r = net(torch.zeros(3, 1, 1), 0).rates[-1, 0]
        return {"accuracy/first": float(r[:4].sum()), "accuracy/second": float(r[4:].sum()),
                "loss": 0.0}


def test_each_cluster_lesion_silences_exactly_that_cluster():
    # no recurrence and a linear activation: after 3 steps from 0, r = b (1 - (1 - a)^3), and
    # silencing a unit removes exactly its own term from the sums
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, activation="linear", gain=0.0), seed=0).eval()
    b = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
    with torch.no_grad():
        net.W_rec.zero_()
        net.biases.copy_(b[None])
    r = b * (1 - (1 - net.alpha) ** 3)
    labels = np.array([0, 0, 1, 1, -1, -1, 2, 2])
    res = A.lesion_clusters(net, _GroupRates(), labels)
    assert res.groups == ["intact", "cluster 0", "cluster 1", "cluster 2"]
    assert res.tasks == ["first", "second"]
    assert res.n_silenced.tolist() == [0, 2, 2, 2]
    expected = np.array([[r[:4].sum(), r[4:].sum()],
                         [r[2:4].sum(), r[4:].sum()],
                         [r[:2].sum(), r[4:].sum()],
                         [r[:4].sum(), r[4:6].sum()]])
    np.testing.assert_allclose(res.accuracy, expected, rtol=1e-6)
    np.testing.assert_allclose(res.change, expected[1:] - expected[:1], rtol=1e-6, atol=1e-5)


def test_run_analysis_window_starts_after_fixation_and_ends_with_the_trial():
    from neurobias.analyze import _trial_window

    cond = {"end_fixation": np.array([2, -1, 0]), "length": np.array([5, 4, 6])}
    win = _trial_window(cond, 6, 3)
    expected = np.zeros((6, 3), bool)
    expected[2:5, 0] = True  # after its 2 fixation steps, up to its length
    expected[0:4, 1] = True  # no fixation epoch (-1): from the first step
    expected[0:6, 2] = True
    np.testing.assert_array_equal(win, expected)
    # without epoch bounds: every step
    assert _trial_window({}, 4, 2).all()


def _reference_grads(net, u, ctx, loss_of):
    """Gradients of the same loss through the time loop written in autograd ops."""
    net.zero_grad()
    drive = torch.matmul(u, net.W_in.t() * net.alpha) + net.biases[ctx] * net.alpha
    states, rates = net._recurrence_autograd(drive, net.initial_state(u.shape[1]), None)
    loss_of(states, rates).backward()
    return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


def _fused_grads(net, u, ctx, loss_of):
    net.zero_grad()
    roll = net(u, ctx, return_states=True)
    loss_of(roll.states, roll.rates).backward()
    return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("mode", ["bias", "full"])
def test_backward_through_states_only_and_to_a_learned_x0(mode):
    """A loss on the states alone (no rate gradient), and x0 learning when W_rec does not."""
    net = nb.RateRNN(nb.CircuitConfig(n_units=10, n_inputs=2, activation="tanh", gain=1.3,
                                      bias_init_std=0.5, mode=mode, learn_x0=True),
                     seed=0).double()
    with torch.no_grad():
        net.x0.copy_(torch.randn(10, dtype=torch.float64,
                                 generator=torch.Generator().manual_seed(1)))
    u = torch.randn(6, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ctx = torch.zeros(3, dtype=torch.long)

    def loss_of(states, rates):
        return (states ** 2).sum()

    fused, ref = _fused_grads(net, u, ctx, loss_of), _reference_grads(net, u, ctx, loss_of)
    assert set(fused) == set(ref) and "x0" in fused and fused["x0"].abs().sum() > 0
    for name in fused:
        torch.testing.assert_close(fused[name], ref[name], rtol=1e-9, atol=1e-12, msg=name)


def test_readout_adds_the_output_bias():
    net = nb.RateRNN(nb.CircuitConfig(n_units=5, n_outputs=2), seed=0)
    with torch.no_grad():
        net.b_out.copy_(torch.tensor([1.5, -2.0]))
    r = torch.randn(4, 5)
    torch.testing.assert_close(net.readout(r), r @ net.W_out.T + torch.tensor([1.5, -2.0]))


def test_relu_jacobian_counts_a_unit_at_zero_as_inactive():
    # relu'(0) = 0, as autograd has it: at x = 0 the Jacobian is -I / tau
    net = nb.RateRNN(nb.CircuitConfig(n_units=6, gain=1.5), seed=0)
    x = torch.zeros(2, 6)
    x[1, :3] = 1.0
    jac = net.jacobian(x, torch.zeros(2, 1), 0)
    tau = net.config.tau_ms
    torch.testing.assert_close(jac[0], -torch.eye(6) / tau)
    expected = -torch.eye(6) / tau
    expected[:, :3] += net.W_rec[:, :3] / tau
    torch.testing.assert_close(jac[1], expected)


def test_zero_steps_give_empty_rollouts():
    net = nb.RateRNN(nb.CircuitConfig(n_units=7, n_inputs=2, n_outputs=3), seed=0)
    out = net(torch.zeros(0, 4, 2), 0, return_states=True)
    assert out.outputs.shape == (0, 4, 3) and out.rates.shape == (0, 4, 7)
    assert out.states.shape == (0, 4, 7)
    assert net(torch.zeros(0, 4, 2), 0).states is None


def test_a_given_initial_state_is_used():
    net = nb.RateRNN(nb.CircuitConfig(n_units=8, n_inputs=1, gain=1.2, bias_init_std=0.3),
                     seed=0).double()
    x0 = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u = torch.randn(4, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = net(u, 0, x0=x0, return_states=True)
    x = x0
    for t in range(4):
        x = net.step(x, u[t], 0)
        torch.testing.assert_close(out.states[t], x)


def test_masks_at_construction_and_at_zero():
    net = nb.RateRNN(nb.CircuitConfig(n_units=4, n_contexts=1, mode="mask", mask_init=0.0),
                     seed=0)
    logits = torch.tensor([[-1.0, 0.0, 0.5, 2.0]])
    with torch.no_grad():
        net.mask_logits.copy_(logits)
    net.train()  # steepness 1 until fit anneals it: sigmoid(s)
    torch.testing.assert_close(net.unit_mask(torch.tensor([0])), torch.sigmoid(logits))
    net.eval()  # a hard step; a score of exactly 0 is off
    assert net.unit_mask(torch.tensor([0])).tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_silencing_in_mask_mode_keeps_the_unit_masks():
    net = nb.RateRNN(nb.CircuitConfig(n_units=6, mode="mask", gain=1.0, bias_init_std=1.0,
                                      activation="softplus"), seed=0).eval()
    with torch.no_grad():
        net.mask_logits.copy_(torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0, 1.0]]))
    silence = torch.tensor([True, False, False, False, False, False])
    rates = net(torch.zeros(5, 2, 1), 0, silence=silence).rates
    off = torch.tensor([True, True, False, False, True, False])  # silenced or masked out
    assert torch.all(rates[..., off] == 0) and torch.all(rates[..., ~off] > 0)


def test_dale_circuit_has_the_asked_share_of_excitatory_units():
    net = nb.RateRNN(nb.CircuitConfig(n_units=20, weights="dale", frac_excitatory=0.5), seed=0)
    w = net.W_rec
    excitatory = (w >= 0).all(0) & (w > 0).any(0)
    inhibitory = (w <= 0).all(0) & (w < 0).any(0)
    assert int(excitatory.sum()) == 10 and int(inhibitory.sum()) == 10


def test_circuit_needs_a_circuit_config():
    with pytest.raises(TypeError, match="^config must be a CircuitConfig, got dict$"):
        nb.RateRNN({"n_units": 4})


def test_context_forms_and_the_shape_message():
    net = nb.RateRNN(nb.CircuitConfig(n_units=6, n_contexts=2, bias_init_std=1.0), seed=0)
    u = torch.zeros(3, 2, 1)
    ref = net(u, torch.tensor([1, 1])).rates
    assert torch.equal(net(u, torch.tensor(1)).rates, ref)  # a 0-d tensor for every trial
    assert torch.equal(net(u, 1).rates, ref)
    with pytest.raises(ValueError, match=r"^context has shape \(4,\): expected \(2,\)$"):
        net(u, torch.tensor([0, 1, 0, 1]))
    # a context as long as the time axis: the inputs look batch-first, and the message says so
    with pytest.raises(ValueError, match=r"look batch-first .* expects \(time, trial"):
        net(u, torch.tensor([0, 1, 0]))


def test_input_noise_follows_its_generator():
    net = _identity_input_circuit(n=10, sigma_in=0.5)
    a = net(torch.zeros(4, 3, 10), 0, noise=torch.Generator().manual_seed(7)).rates
    b = net(torch.zeros(4, 3, 10), 0, noise=torch.Generator().manual_seed(7)).rates
    assert torch.equal(a, b) and a.abs().sum() > 0


def test_sparse_circuit_has_the_asked_density():
    net = nb.RateRNN(nb.CircuitConfig(n_units=200, weights="sparse", sparsity=0.2), seed=0)
    assert (net.W_rec != 0).float().mean().item() == pytest.approx(0.2, abs=0.02)
