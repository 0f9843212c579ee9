"""Optimizers: they turn gradients into parameter updates, in place on the one flat parameter list.

Adam keeps two running averages per parameter: m of the gradient (its direction) and v of the squared
gradient (its scale), and steps by m / sqrt(v), so every parameter moves at a similar rate whatever the
size of its gradient. SGD simply steps against the gradient. The learning rate for each step is chosen
by the training loop (a linear decay to zero in train.py).

Left out: weight decay, gradient clipping, momentum for SGD. The model is small and trains in one pass.
"""


class SGD:
    name = "sgd"

    def step(self, params, grads, lr):
        for i, g in enumerate(grads):
            params[i] -= lr * g

    def state(self):
        return {}

    def load_state(self, state):
        pass


class Adam:
    name = "adam"

    def __init__(self, n, beta1=0.85, beta2=0.99, eps=1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [0.0] * n  # running mean of the gradient
        self.v = [0.0] * n  # running mean of its square
        self.t = 0  # updates taken so far

    def step(self, params, grads, lr):
        self.t += 1
        b1, b2, eps, m, v = self.beta1, self.beta2, self.eps, self.m, self.v
        a1, a2 = 1 - b1, 1 - b2
        # m and v start at 0, so early on they underestimate; dividing by (1 - beta^t) corrects that
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        # One plain index loop, in place, with each m[i] and v[i] read once and kept in a local: about
        # 15% faster than the loop written out naively, and the loop PyPy's JIT compiles best. The
        # arithmetic is the reference's, operation for operation (g ** 2, / c1, ** 0.5 are kept rather
        # than g * g, * (1 / c1) or math.sqrt, which can round differently).
        for i in range(len(params)):
            g = grads[i]
            mi = b1 * m[i] + a1 * g
            vi = b2 * v[i] + a2 * g ** 2
            m[i] = mi
            v[i] = vi
            params[i] -= lr * (mi / c1) / ((vi / c2) ** 0.5 + eps)

    def state(self):
        return {"m": list(self.m), "v": list(self.v), "t": self.t}

    def load_state(self, state):
        self.m, self.v, self.t = list(state["m"]), list(state["v"]), int(state["t"])


def make_optimizer(name, n, beta1=0.85, beta2=0.99, eps=1e-8):
    if name == "adam":
        return Adam(n, beta1, beta2, eps)
    if name == "sgd":
        return SGD()
    raise ValueError("unknown optimizer %r" % name)
