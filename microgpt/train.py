"""The training loop: documents in, a trained model out.

One step takes the next document(s) (or windows of a text: data.py), runs the model forward to get the
loss, backward to get the gradient of the loss with respect to every parameter, and lets the optimizer
move the parameters a little against it (train_step). The learning rate decays linearly from lr to 0
over the run (get_lr).

With the default configuration this is, number for number, the loop of Karpathy's microgpt: the same
random stream (seed, shuffle, weight init, sampling), the same documents in the same order, the same
arithmetic, hence the same printed losses and the same 20 names.

`loop` is the loop every run takes, `python -m microgpt` included: the tool (tool/training.py) passes it
the engine to compute with and a function to call after each step (log, evaluate, save), and nothing
else. A loss that turns NaN or infinite stops it (Diverged) before anything can save those weights.

Left out: gradient clipping, weight decay. The reference has neither.

    >>> import random
    >>> from microgpt import data, model, optim, scalar_engine, train
    >>> from microgpt.config import TrainConfig
    >>> cfg, rng = TrainConfig(steps=20), random.Random(42)
    >>> dataset = data.Dataset(open("names.txt", "rb").read(), "names.txt", rng, cfg.val_fraction)
    >>> gpt = model.GPT(cfg.model_config(dataset.tokenizer.vocab_size), rng)
    >>> compute = train.Compute(gpt, optim.Adam(gpt.num_params), scalar_engine)
    >>> train.loop(cfg, dataset, compute, rng=rng)   # prints step 1 / 20 | loss 3.3660 ...
"""

import math


def get_lr(cfg, step):
    """The learning rate of optimizer step `step` (0-based).

    The reference's, and the default: lr * (1 - step / steps), a straight line down to 0. Options for
    longer runs: a warmup that rises linearly to lr over the first `warmup` steps (Adam's first moments
    are poor estimates then), and a cosine decay, lr * (1 + cos(pi p)) / 2, which stays near lr longer
    and lands more gently; p is the share of the steps after the warmup done so far.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / (cfg.steps - cfg.warmup)
    if cfg.schedule == "cosine":
        return cfg.lr * (1 + math.cos(math.pi * p)) / 2
    return cfg.lr * (1 - p)


def train_step(model, optimizer, loss_and_grad, batch, lr):
    """Forward, backward, update, on a batch of framed documents. Returns the loss; when it is not
    finite (the run diverged) the weights are left as they were."""
    try:
        loss, grads = loss_and_grad(model, batch)
        if math.isfinite(loss):
            optimizer.step(model.params, grads, lr)
    except ArithmeticError:  # a float overflow (x ** 2 of a huge gradient): the run has diverged
        loss = math.inf
    return loss


SHARD = 16  # documents per shard of a step's batch: see batch_loss_and_grad


def shards(batch):
    return [batch[i:i + SHARD] for i in range(0, len(batch), SHARD)]


def combine(parts, counts):
    """The mean loss and gradient of a batch from those of its shards, in shard order, each weighted by
    its share of the batch's predicted tokens. A lone shard's weight is 1.0: the very same bits."""
    if len(parts) == 1:
        return parts[0]  # its weight is 1.0, and 1.0 * x is x: no need to multiply
    n = sum(counts)
    loss = grads = None
    for (shard_loss, shard_grads), count in zip(parts, counts):
        w = count / n
        if grads is None:
            loss, grads = w * shard_loss, [w * g for g in shard_grads]
        else:
            loss, grads = loss + w * shard_loss, [a + w * g for a, g in zip(grads, shard_grads)]
    return loss, grads


def batch_loss_and_grad(loss_and_grad, model, batch):
    """loss_and_grad of a batch, SHARD documents at a time, combined in order. Every run computes its
    steps this way, so that worker processes taking whole shards each (speed/workers.py) give the same
    bits as one process; a batch of up to SHARD documents (the default run's one) is a single shard."""
    parts = shards(batch)
    counts = [sum(model.config.predictions(tokens) for tokens in part) for part in parts]
    return combine([loss_and_grad(model, part) for part in parts], counts)


class Compute:
    """Where a run's arithmetic happens: here, in this process, with the engine it is given (a module
    with loss_and_grad(model, batch) and loss_only(model, batch): scalar_engine, speed/engine.py).

    train(batch, lr) takes one optimizer step and returns its loss; evaluate(batch) is the mean loss
    with no gradient; sync() brings model.params and the optimizer's state up to date (a no-op here,
    where they are the live ones) before they are saved, sampled or evaluated elsewhere; close() ends
    it. Other ways to compute (several processes, PyTorch) provide the same four methods.
    """

    def __init__(self, model, optimizer, engine, evaluate=None):
        self.model, self.optimizer, self.engine = model, optimizer, engine
        self.evaluate_fn = evaluate or engine.loss_only  # a faster way to the same number, if there is one

    def loss_and_grad(self, model, batch):
        return batch_loss_and_grad(self.engine.loss_and_grad, model, batch)

    def train(self, batch, lr):
        return train_step(self.model, self.optimizer, self.loss_and_grad, batch, lr)

    def evaluate(self, batch):
        return self.evaluate_fn(self.model, batch)

    def sync(self):
        pass

    def close(self):
        pass


class Diverged(ArithmeticError):
    """The loss of step `step` (1-based) came out NaN or infinite: the weights are those before it."""

    def __init__(self, loss, step):
        super().__init__("the loss became %s at step %d" % (loss, step))
        self.loss, self.step = loss, step


def print_loss(cfg):
    return lambda step, loss, batch: print("step %4d / %4d | loss %.4f" % (step, cfg.steps, loss))


def loop(cfg, dataset, compute, step=0, after_step=None, stop=None, rng=None):
    """Train from optimizer step `step` (0 for a new run) to cfg.steps; return the steps done by then.

    The batches come from `dataset` (data.py: the next documents, or windows of a text at places drawn
    from `rng`, the run's random stream). after_step(step, loss, batch) runs after each step (default:
    print the loss); stop(), if given, is asked before each step whether to end early (a Ctrl-C: the
    tool stops between steps, never inside).
    """
    after_step = after_step or print_loss(cfg)
    while step < cfg.steps and not (stop and stop()):
        # the batch: the next batch_size documents, each framed as [BOS] + characters + [BOS] (lines), or
        # batch_size windows of block_size + 1 tokens of the text (text)
        batch = dataset.batch(step, cfg.batch_size, rng)
        # forward, backward, update
        loss = compute.train(batch, get_lr(cfg, step))
        if not math.isfinite(loss):
            raise Diverged(loss, step + 1)
        step += 1
        # log, evaluate, save
        after_step(step, loss, batch)
    return step
