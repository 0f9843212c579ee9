"""The operations interface: every op the model's forward pass calls, with its math and its derivative.

model.GPT.forward is written once and does no arithmetic itself; an engine supplies these ops. Each
engine subclasses Ops and overrides every method below (an op it lacks fails at its first call with a
message naming the op and the engine; missing_ops lists them at once). The engines:

- scalar_engine.ScalarOps: the ops composed from autograd Values; the living definition, whose
  derivatives come from the chain rule by itself;
- speed/engine.FastOps: flat lists of floats, each op's backward written by hand from the
  derivatives given here (speed/loops.py);
- speed/torch_engine.TorchOps: PyTorch tensors; torch.autograd finds the derivatives.

Shapes: N = positions of all the documents of a batch, stacked; C = channels; V = vocabulary; a tensor
is whatever the engine holds a matrix in. dX below is d loss / d X, the gradient the backward pass
carries; a changed op needs its forward and this derivative in every engine (docs/change-the-model.md).
"""


class Ops:
    """The op set of model.GPT.forward. `weights` maps each name of model.param_shapes (wte, wpe,
    lm_head, layer0.attn_wq, ...) to the engine's handle on that matrix."""

    weights = None

    def embed(self, wte, wpe, docs):
        """x[t] = wte[token_t] + wpe[t] for each position t of each document (lists of token ids), the
        documents' rows stacked: (N, C). The engine remembers where each document's rows are, for
        attention. Derivative: dwte[token_t] += dx[t] and dwpe[t] += dx[t]."""
        raise missing(self, "embed")

    def add(self, a, b):
        """a + b, elementwise (the residual connections). Derivative: da = dout, db = dout."""
        raise missing(self, "add")

    def rmsnorm(self, x):
        """Per row: y = x * rstd, rstd = (mean(x^2) + 1e-5)^-1/2, no learned gain.
        Derivative: dx_j = rstd dy_j - (rstd^3 / C) x_j sum_i dy_i x_i."""
        raise missing(self, "rmsnorm")

    def linear(self, x, w):
        """y[t, o] = sum_i w[o, i] x[t, i]: (N, n_in) by the (n_out, n_in) matrix w -> (N, n_out).
        Derivative: dx[t, i] = sum_o dy[t, o] w[o, i] and dw[o, i] = sum_t dy[t, o] x[t, i]."""
        raise missing(self, "linear")

    def relu(self, x):
        """max(0, x), elementwise. Derivative: dx = dy where x > 0, else 0."""
        raise missing(self, "relu")

    def attention(self, q, k, v, n_head):
        """Causal self-attention within each document, per head h (its hs = C / n_head channels):
        a_ts = softmax_s(q_t . k_s / sqrt(hs)) over s <= t,  out_t = sum_s a_ts v_s; heads side by side.
        Derivative: dv_s = sum_t a_ts dout_t; with da_ts = dout_t . v_s and
        dl_ts = a_ts (da_ts - sum_r a_tr da_tr) / sqrt(hs): dq_t = sum_s dl_ts k_s, dk_s = sum_t dl_ts q_t."""
        raise missing(self, "attention")

    def nll(self, logits, targets):
        """-log softmax(logits[t])[target_t] per position (targets: one list per document), the softmax
        max-subtracted. Derivative: dlogits[t, v] = dloss_t (p_tv - [v == target_t])."""
        raise missing(self, "nll")

    def mean(self, losses):
        """(1/n) * sum of the n losses, summed left to right from 0. Derivative: dloss_i = dmean / n."""
        raise missing(self, "mean")


OPS = tuple(name for name, value in vars(Ops).items() if callable(value))


def missing(ops, name):
    return NotImplementedError("the %s engine has no op %r: every op of microgpt/ops.py must be supplied by each "
                               "engine (see docs/change-the-model.md)" % (type(ops).__name__, name))


def missing_ops(cls):
    """The ops of this interface that the Ops subclass `cls` does not supply."""
    return [name for name in OPS if getattr(cls, name) is getattr(Ops, name)]
