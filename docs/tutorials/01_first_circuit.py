# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A first circuit (placeholder)
#
# A random circuit learns a sine through its tonic inputs alone. This page only checks the
# documentation build; the real tutorials replace it.

# %%
import os

import matplotlib.pyplot as plt
import torch

import neurobias as nb

fast = os.environ.get("NEUROBIAS_TUTORIAL_FAST") == "1"
cfg = nb.CircuitConfig(n_units=64 if fast else 256, n_inputs=1, n_outputs=1, tau_ms=100,
                       dt_ms=20, gain=1.5, readout_scale=10.0, bias_init_std=0.1)
net = nb.RateRNN(cfg, seed=0)
env = nb.envs.SineGenerator(period_ms=500)
history = nb.fit(net, env, nb.TrainConfig(steps=100 if fast else 1000), progress=False)
print(history.final)

# %%
batch = env.sample(4, torch.Generator().manual_seed(1))
with torch.no_grad():
    outputs = net(batch.inputs, batch.context).outputs
t_ms = torch.arange(outputs.shape[0]) * cfg.dt_ms
plt.plot(t_ms, batch.targets[:, 0, 0], "k--", label="target")
plt.plot(t_ms, outputs[:, 0, 0], label="circuit")
plt.xlabel("time (ms)")
plt.legend()
plt.show()
