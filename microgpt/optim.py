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
        # m and v start at 0, so early on they underestimate; dividing by (1 - beta^t) corrects that
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g ** 2
            m_hat = m[i] / c1
            v_hat = v[i] / c2
            params[i] -= lr * m_hat / (v_hat ** 0.5 + eps)

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
