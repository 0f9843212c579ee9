"""The PyTorch engine: model.GPT.forward over PyTorch tensors, on a CPU or a GPU, in one process or many.

The architecture is model.py's, unchanged: this file supplies its op set a third time, on tensors, and
lets torch.autograd find the gradients. What PyTorch brings is what pure Python cannot: whole matrices
per call in compiled code (100x or more on the same CPU for a 4-layer, 64-wide model), GPUs (CUDA, Apple
MPS), and training across processes and machines with torch.distributed.

- TorchOps: the op set. A minibatch is one padded (B, T) tensor of token ids; a (B, T, T) mask keeps
  attention causal within each document and away from the padding, and the loss averages over the real
  (unpadded) positions only.
- loss_and_grad(model, batch): engine.loss_and_grad's contract, for the tests that hold every engine to
  the scalar one.
- Adam, SGD: optim.py's formulas, operation for operation, on the flat parameter tensor, so the state
  they hand back is the state optim.Adam would hold. Given the same gradients, the moments are optim.py's
  to the bit; the update may differ in a last bit, because torch.sqrt is not correctly rounded on every
  CPU (math.sqrt is).
- TorchCompute: train.Compute for this engine. The weights live on the device between steps; sync()
  writes them (and the optimizer's moments) back into the model and the optim object, so checkpoints,
  sampling and the other engines see them. Under torchrun it trains data-parallel
  (DistributedDataParallel): each process takes its share of each step's documents.
- Sampler: sample.generate's decoder on this engine.

In float64 on the CPU the numbers are the fast engine's up to the order of summation (~1e-16 relative
per operation): the printed losses and the samples of the default run are the same.

Left out: a KV cache when sampling (each new token recomputes its document's prefix, at most block_size
positions), mixed precision, torch.compile, fused attention kernels. torch itself is optional: this module
is imported only when --engine torch is chosen.
"""

import math
import os

try:
    import torch
except ImportError:  # an optional extra: the rest of the package needs nothing but Python
    torch = None

from ..errors import MicroGPTError
from ..ops import Ops
from . import torchrun_number

INSTALL = ("--engine torch needs PyTorch, which is not installed: pip install 'microgpt-textbook[torch]' "
           "(or pip install torch; https://pytorch.org has CPU-only and CUDA builds)")
EVAL_ELEMENTS = 1 << 24  # held-out documents are evaluated in chunks of about this many attention weights


def require():
    if torch is None:
        raise MicroGPTError(INSTALL)


# --------------------------------------------------------------------------------------------------
# devices and floats

def resolve_device(name="auto", local_rank=0):
    """A torch.device for --device: auto takes cuda, then mps, then cpu; one GPU per process under torchrun."""
    require()
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda":
        if not cuda:
            raise MicroGPTError("--device cuda: PyTorch %s sees no CUDA GPU here; use --device cpu or auto"
                                % torch.__version__)
        if local_rank >= torch.cuda.device_count():
            raise MicroGPTError("process %d has no GPU of its own: %d CUDA GPUs, so at most --nproc_per_node %d"
                                % (local_rank, torch.cuda.device_count(), torch.cuda.device_count()))
        return torch.device("cuda", local_rank)
    if name == "mps" and not mps:
        raise MicroGPTError("--device mps: PyTorch %s sees no Apple GPU (MPS) here; use --device cpu or auto"
                            % torch.__version__)
    return torch.device(name)


def resolve_dtype(name, device):
    """float64 on the CPU (the other engines' numbers), float32 on a GPU (where float64 is slow or absent)."""
    if name == "auto":
        name = "float64" if device.type == "cpu" else "float32"
    if name == "float64" and device.type == "mps":
        raise MicroGPTError("--device mps has no float64; use --dtype float32")
    return getattr(torch, name)


def cpu_threads(device):
    """One thread on the CPU unless OMP_NUM_THREADS asks for more. The matrices of models this size are
    small: a second thread costs more in handing work over than it saves (on a busy 2-core machine, 2
    threads made a step 7x slower), and torchrun starts one process per core anyway."""
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(1)


def check(cfg):
    """Fail now, in one line, if this config cannot run here (no torch, no such device or dtype)."""
    resolve_dtype(cfg.dtype, resolve_device(cfg.device, ranks()[2]))


def where(device, dtype):
    """'torch 2.13.0 on cpu, float64': for the lines that say where the arithmetic happened."""
    return "torch %s on %s, %s" % (torch.__version__, device, str(dtype).replace("torch.", ""))


# --------------------------------------------------------------------------------------------------
# the op set of model.GPT.forward, on padded (B, T, C) tensors
# B = documents, T = the longest one's positions, C = channels, V = vocabulary, nh = heads, hs = C // nh

def matrices(flat, layout):
    """name -> (rows, cols) view into the flat parameter tensor: autograd sums each view's gradient into
    flat.grad, which is then laid out as model.params is."""
    return {name: flat[offset:offset + rows * cols].view(rows, cols) for name, (offset, rows, cols) in layout.items()}


class TorchOps(Ops):
    """The op set over tensors. Each op is one or a few PyTorch calls; autograd records the backward."""

    def __init__(self, weights):
        self.weights = weights

    def embed(self, wte, wpe, docs):
        # x[b, t] = wte[token] + wpe[t]; the rows past a document's end are padding (token 0)
        device, T = wte.device, max(len(tokens) for tokens in docs)
        if T > wpe.shape[0]:
            raise ValueError("more positions than block_size")
        tokens = torch.tensor([d + [0] * (T - len(d)) for d in docs], dtype=torch.long, device=device)  # (B, T)
        lengths = torch.tensor([len(d) for d in docs], device=device)
        t = torch.arange(T, device=device)
        self.real = t[None, :] < lengths[:, None]  # (B, T): True at a document's own positions
        # mask[b, t, s]: position t may look at position s. Real rows: s <= t (causal), never padding. A
        # padding row sees itself as well, so that no softmax row is empty (NaN); the loss never reads it.
        causal = t[None, :] <= t[:, None]  # (T, T) [t, s]
        self.mask = (causal[None] & self.real[:, None, :]) | torch.eye(T, dtype=torch.bool, device=device)
        return wte[tokens] + wpe[:T]  # (B, T, C)

    def rows(self, x):
        """The real positions' rows stacked, documents one after another: (N, ...) as the other engines lay
        them out."""
        return x[self.real]

    def add(self, a, b):
        return a + b

    def rmsnorm(self, x):
        # x * rstd, rstd = (mean(x^2) + eps)^-0.5 per position
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5)

    def linear(self, x, w):
        return x @ w.T  # (B, T, n_in) @ (n_in, n_out): w is stored (n_out, n_in), as everywhere here

    def relu(self, x):
        return torch.relu(x)

    def attention(self, q, k, v, n_head):
        B, T, C = q.shape
        hs = C // n_head

        def heads(x):
            return x.view(B, T, n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        q, k, v = heads(q), heads(k), heads(v)
        logits = (q @ k.transpose(-2, -1)) * hs ** -0.5  # (B, nh, T, T): q_t . k_s / sqrt(hs)
        weights = logits.masked_fill(~self.mask[:, None], -math.inf).softmax(-1)  # -inf -> weight exactly 0
        return (weights @ v).transpose(1, 2).reshape(B, T, C)  # out_t = sum_s a_ts v_s, heads side by side

    def nll(self, logits, targets):
        # -log softmax(logits)[target] at each real position; targets: one list per document
        T = logits.shape[1]
        padded = torch.tensor([d + [0] * (T - len(d)) for d in targets], dtype=torch.long, device=logits.device)
        # -log of the softmax, as the other engines compute it (not log_softmax, which stays finite): a
        # probability that underflows to 0 in a diverging run costs inf here too, and the run stops
        losses = -torch.log(torch.softmax(logits, -1).gather(-1, padded[..., None])[..., 0])  # (B, T)
        return losses[self.real]  # (N,): the padding is dropped before the mean

    def mean(self, losses):
        return losses.mean()


def loss_and_grad(model, batch):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists, in float64 on the CPU."""
    require()
    flat = torch.tensor(model.params, dtype=torch.float64, requires_grad=True)
    loss = model.loss(TorchOps(matrices(flat, model.layout)), batch)
    loss.backward()
    return loss.item(), flat.grad.tolist()


# --------------------------------------------------------------------------------------------------
# the optimizers: optim.py's arithmetic, one tensor operation for each of its float operations

class Adam:
    """optim.Adam on tensors: p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)."""
    name = "adam"

    def __init__(self, state, beta1, beta2, eps, like):
        self.beta1, self.beta2, self.eps, self.t = beta1, beta2, eps, int(state["t"])
        self.m = torch.tensor(state["m"], dtype=like.dtype, device=like.device)
        self.v = torch.tensor(state["v"], dtype=like.dtype, device=like.device)

    def step(self, p, g, lr):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size, inv_c2 = lr / (1 - b1 ** self.t), 1 / (1 - b2 ** self.t)
        # separate products and sums, as optim.py writes them (a fused multiply-add would round once less)
        self.m.mul_(b1).add_((1 - b1) * g)
        self.v.mul_(b2).add_((1 - b2) * (g * g))
        p.sub_(step_size * self.m / (torch.sqrt(self.v * inv_c2) + self.eps))

    def state(self):
        return {"m": self.m.tolist(), "v": self.v.tolist(), "t": self.t}


class SGD:
    name = "sgd"

    def step(self, p, g, lr):
        p.sub_(lr * g)

    def state(self):
        return {}


def torch_optimizer(cfg, optimizer, like):
    """This engine's twin of the optim.py object `optimizer`, starting from its state."""
    if optimizer.name == "adam":
        return Adam(optimizer.state(), cfg.beta1, cfg.beta2, cfg.eps, like)
    return SGD()


# --------------------------------------------------------------------------------------------------
# a run's arithmetic: train.Compute for this engine, in one process or, under torchrun, in many

Module = torch.nn.Module if torch is not None else object


class Loss(Module):
    """model.loss as a torch Module, the form DistributedDataParallel wraps: its one parameter is the
    flat weight tensor, in model.params' layout."""

    def __init__(self, model, flat):
        super().__init__()
        self.model, self.flat = model, flat

    def forward(self, docs):
        return self.model.loss(TorchOps(matrices(self.flat, self.model.layout)), docs)


def ranks():
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) in a plain process."""
    world = torchrun_number("WORLD_SIZE", 1, 1)
    rank = torchrun_number("RANK", 0)
    if rank >= world:
        raise MicroGPTError("$RANK is %d, but there are $WORLD_SIZE = %d processes (ranks 0 to %d): torchrun sets "
                            "both; unset them to train in one process" % (rank, world, world - 1))
    return rank, world, torchrun_number("LOCAL_RANK", 0)


class TorchCompute:
    """train.Compute on PyTorch: train(batch, lr) -> loss, evaluate(batch) -> mean loss, sync(), close().

    Under torchrun (WORLD_SIZE > 1) every process runs the same loop over the same global batches and
    takes its share of each (shares differ by at most one document); DistributedDataParallel averages
    the gradients. The loss is a mean over tokens, so each process scales its loss by world * (its share
    of the batch's tokens) before backward: the average is then the gradient of the global batch.
    """

    def __init__(self, cfg, model, optimizer):
        require()
        self.model, self.optimizer = model, optimizer
        self.rank, self.world, local_rank = ranks()
        self.device = resolve_device(cfg.device, local_rank)
        self.dtype = resolve_dtype(cfg.dtype, self.device)
        cpu_threads(self.device)
        self.flat = torch.nn.Parameter(torch.tensor(model.params, dtype=self.dtype, device=self.device))
        self.opt = torch_optimizer(cfg, optimizer, self.flat)
        self.module = self.net = Loss(model, self.flat)
        self.backend = None
        if self.world > 1:
            self.net = self.join()
        C = model.config
        self.eval_chunk = max(1, EVAL_ELEMENTS // (C.n_head * C.block_size ** 2))

    def join(self):
        """Join torchrun's process group (gloo between CPUs, nccl between GPUs) and wrap the loss in DDP."""
        if self.device.type == "mps":
            raise MicroGPTError("several processes need --device cpu or cuda: torch.distributed has no MPS backend")
        self.backend = "nccl" if self.device.type == "cuda" else "gloo"
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        try:
            torch.distributed.init_process_group(self.backend)
        except (RuntimeError, ValueError) as e:
            raise MicroGPTError("could not join the torchrun processes (%s): %s" % (self.backend, e))
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)

    def describe(self):
        n = torch.get_num_threads()
        threads = ", %d thread%s" % (n, "s" * (n > 1)) if self.device.type == "cpu" else ""
        procs = ", %d processes (%s)" % (self.world, self.backend) if self.world > 1 else ""
        return "engine: %s%s%s" % (where(self.device, self.dtype), threads, procs)

    def share(self, batch):
        """This process's documents of `batch` and their share of its predicted tokens."""
        if self.world == 1:
            return batch, 1.0
        lo, hi = self.rank * len(batch) // self.world, (self.rank + 1) * len(batch) // self.world
        tokens = [self.model.config.predictions(d) for d in batch]
        return batch[lo:hi], sum(tokens[lo:hi]) / sum(tokens)

    def all_sum(self, x):
        """x summed over the processes (a tensor), as a float."""
        if self.world > 1:
            torch.distributed.all_reduce(x)
        return x.item()

    def train(self, batch, lr):
        docs, weight = self.share(batch)
        self.flat.grad = None
        loss = self.net(docs)  # the mean over this process's tokens
        (loss * (self.world * weight) if self.world > 1 else loss).backward()
        loss = self.all_sum(loss.detach() * weight) if self.world > 1 else loss.item()
        if math.isfinite(loss):  # else the weights stay as they were, as train.train_step leaves them
            with torch.no_grad():
                self.opt.step(self.flat, self.flat.grad, lr)
        return loss

    def evaluate(self, batch):
        """The mean loss over all of batch's tokens, in chunks (a chunk's mean times its tokens, summed)."""
        docs, _ = self.share(batch)
        total, tokens = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(docs), self.eval_chunk):
                chunk = docs[i:i + self.eval_chunk]
                n = sum(self.model.config.predictions(d) for d in chunk)
                total += self.module(chunk).item() * n
                tokens += n
        if self.world > 1:
            both = torch.tensor([total, tokens], dtype=torch.float64, device=self.device)
            torch.distributed.all_reduce(both)
            total, tokens = both.tolist()
        return total / tokens

    def sync(self):
        """The live weights and optimizer state, copied into model.params and the optim object."""
        self.model.params[:] = self.flat.detach().cpu().tolist()
        self.optimizer.load_state(self.opt.state())

    def agreed(self, stop):
        """The training loop's Ctrl-C flag (runs.StopRequest), agreed on by all the processes."""
        return stop if self.world == 1 else AgreedStop(stop, self.device)

    @property
    def decoder(self):
        return Sampler(matrices(self.flat.detach(), self.model.layout), self.device, self.dtype)

    def close(self):
        if self.backend and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
            self.backend = None


class AgreedStop:
    """Ctrl-C under torchrun reaches every process, not necessarily between the same two steps; a process
    that stopped alone would leave the others waiting in a collective. So each read of `requested` asks
    them all (a one-number all_reduce): every process reads it at the same points of the loop, and all
    stop after the same step."""

    def __init__(self, stop, device):
        self.stop, self.device = stop, device

    @property
    def requested(self):
        flag = torch.tensor([1.0 if self.stop.requested else 0.0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return flag.item() > 0


# --------------------------------------------------------------------------------------------------
# sampling, and reading one document for the report

class RecordingOps(TorchOps):
    """TorchOps that keep each layer's attention weights: for the report's heatmaps."""

    def __init__(self, weights):
        super().__init__(weights)
        self.atts = []

    def attention(self, q, k, v, n_head):
        # the weights again, from the same q and k: TorchOps keeps none of its intermediates
        B, T, C = q.shape
        hs = C // n_head
        heads = [x.view(B, T, n_head, hs).transpose(1, 2) for x in (q, k)]
        logits = (heads[0] @ heads[1].transpose(-2, -1)) * hs ** -0.5
        self.atts.append(logits.masked_fill(~self.mask[:, None], -math.inf).softmax(-1)[0])  # (nh, T, T)
        return super().attention(q, k, v, n_head)



class Sampler:
    """sample.generate's decoder on this engine: feed(token) -> the next token's logits as a list of floats.
    No KV cache: each token runs the document so far (at most block_size positions) through the model."""

    def __init__(self, weights, device, dtype):
        self.weights, self.device, self.dtype = weights, device, dtype

    @classmethod
    def load(cls, model, device="auto", dtype="auto"):
        """A Sampler for `model`'s weights, copied onto the device."""
        device = resolve_device(device)
        dtype = resolve_dtype(dtype, device)
        cpu_threads(device)
        flat = torch.tensor(model.params, dtype=dtype, device=device)
        return cls(matrices(flat, model.layout), device, dtype)

    def describe(self):
        return "engine: %s" % where(self.device, self.dtype)

    def read(self, model, tokens):
        """(logits rows, atts[layer][t][h][s]) of one document, as plain floats: report.read's numbers."""
        with torch.no_grad():
            ops = RecordingOps(self.weights)
            logits = ops.rows(model.forward(ops, [tokens])).tolist()
        T = len(tokens)
        return logits, [[[att[h, t, :t + 1].tolist() for h in range(att.shape[0])] for t in range(T)]
                        for att in ops.atts]

    def __call__(self, model):
        prefix = []

        def feed(token):
            prefix.append(token)
            with torch.no_grad():
                ops = TorchOps(self.weights)
                return ops.rows(model.forward(ops, [prefix]))[-1].tolist()
        return feed
