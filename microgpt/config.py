"""The training configuration: every knob of a run, its default, and the range it can work in.

The defaults are Karpathy's microgpt: one layer, 16 channels, 4 heads, a context of 16, 1000 steps of
Adam at lr 0.01 on one name per step. The command line (cli.py) fills this from its flags; checkpoints
store it whole, so a run can be continued and a model explained.
"""

import math
from dataclasses import dataclass, fields

from .data import FORMATS
from .errors import MicroGPTError
from .model import GPTConfig

ENGINES = ("fast", "scalar", "torch")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("linear", "cosine")
TOKENIZERS = ("char", "bpe")  # data.Tokenizer, bpe.BPETokenizer
BPE_VOCAB_SIZE = 512  # tokenizer bpe without a vocab_size: the 256 bytes, 255 merges and BOS
# Recipes: the best held-out loss that 2 and 10 minutes of wall time bought on a 2-core machine with 2 workers
# (measured; see docs/training.md). name -> (what it is, the settings it changes)
PRESETS = {
    "names-2min": ("1 layer, 24 wide, batch 32, 1400 steps: about 2 minutes on 2 cores, held-out loss ~2.13",
                   dict(n_embd=24, batch_size=32, steps=1400, eval_every=500, save_every=500)),
    "names-10min": ("1 layer, 24 wide, batch 32, 5600 steps: about 10 minutes on 2 cores, held-out loss ~2.07",
                    dict(n_embd=24, batch_size=32, steps=5600, eval_every=1000, save_every=1000)),
    # Tiny Shakespeare (the data is part of the recipe; --data FILE trains the same model on another text)
    "shakespeare-10min": ("Tiny Shakespeare, 1 layer, 24 wide, context 32, batch 32, lr 0.02, 850 steps: about 10 "
                          "minutes on 2 cores (CPython), held-out ~2.04 nats (2.94 bits) per character",
                          dict(data="shakespeare", n_embd=24, block_size=32, batch_size=32, lr=0.02, steps=850,
                               eval_every=200, save_every=200, num_samples=5)),
}
DEVICES = ("auto", "cpu", "cuda", "mps")  # for the torch engine; auto = cuda, then mps, then cpu
DTYPES = ("auto", "float64", "float32")  # for the torch engine; auto = float64 on the CPU, float32 on a GPU
# Below this a temperature is the same as 0: 1/T overflows for T < ~5.6e-309, and already at 1e-200
# exp((l - l_max) / T) is exactly 0 for any two logits of ordinary size that differ at all (a float near
# 1 differs from its neighbour by ~1e-16, which divided by T is ~1e184, far past exp's underflow at
# -745). So the draw is the argmax either way (only exact ties differ: 0 takes the first of them).
MIN_TEMPERATURE = 1e-200
# The most each whole number of a run may be: one table for the command line (tool/cli.py's flags), the check
# below and the checkpoint loader (tool/checkpoint.py), so that whatever a run is started with, its checkpoint
# reads back, and a damaged checkpoint holding more is refused before any work. Each is far beyond any run (the
# cost check, tool/cost.py, refuses a model or batch this machine cannot hold long before), and keeps every
# figure computed from it an ordinary float; the seed's is its size either way, warmup's is below steps'.
LIMITS = {"vocab_size": 10 ** 9, "n_layer": 10 ** 9, "n_embd": 10 ** 9, "n_head": 10 ** 9, "block_size": 10 ** 9,
          "steps": 10 ** 9, "warmup": 10 ** 9 - 1, "batch_size": 1 << 16, "seed": 10 ** 18, "workers": 1024,
          "log_every": 10 ** 12, "eval_every": 10 ** 12, "eval_docs": 10 ** 12, "save_every": 10 ** 12,
          "num_samples": 10 ** 12}
# what may differ when a run is resumed: when and how it reports, and how long it goes on. The rest
# (model, data, optimizer, seed, ...) is what the checkpoint's numbers were made with.
RESUMABLE = ("steps", "engine", "device", "dtype", "workers", "fast_math", "log_every", "eval_every", "eval_docs",
             "save_every", "temperature", "num_samples", "quiet")


@dataclass
class TrainConfig:
    data: str = ""  # a UTF-8 text file, or a dataset by name (names, shakespeare); "" = names (downloaded once)
    format: str = "auto"  # lines: each line a document; text: one stream of tokens; auto: data.choose_format
    tokenizer: str = "char"  # char: a token per character of the data; bpe: byte-level BPE learnt from it (bpe.py)
    vocab_size: int = 0  # bpe: tokens in all, 256 bytes + merges + BOS (0: 512); char: 0, the data's characters decide
    n_layer: int = 1  # model size: see model.GPTConfig
    n_embd: int = 16
    n_head: int = 4
    block_size: int = 16
    steps: int = 1000  # optimizer steps in the whole run: the length of the learning-rate schedule
    batch_size: int = 1  # documents (text: windows) per step; the loss is the mean over all their predicted tokens
    lr: float = 0.01  # peak learning rate, decayed to 0
    schedule: str = "linear"  # the decay: linear (the reference's) or cosine
    warmup: int = 0  # steps of linear warmup to the peak lr before the decay
    optimizer: str = "adam"  # adam or sgd
    beta1: float = 0.85  # Adam's decay rates for the gradient mean and its square
    beta2: float = 0.99
    eps: float = 1e-8
    val_fraction: float = 0.1  # share held out: of the documents (the end of the shuffled list), or of the text
    seed: int = 42  # seeds the one random stream: shuffle, weights, sampling
    engine: str = "fast"  # fast or scalar: same numbers, the scalar one ~5x slower; torch: PyTorch (optional)
    device: str = "auto"  # the torch engine's device: auto, cpu, cuda or mps
    dtype: str = "auto"  # the torch engine's floats: auto, float64 or float32
    workers: int = 1  # processes that compute each step together; any number gives the same numbers
    fast_math: bool = False  # fast engine: dot products of 32+ terms by math.sumprod (3.12+), faster, rounded otherwise
    log_every: int = 1  # print the loss every this many steps (and at the last)
    eval_every: int = 250  # held-out loss every this many steps (0 = only at the end)
    eval_docs: int = 300  # held-out documents (text: windows) for those evaluations (0 = all); the final one uses all
    save_every: int = 100  # checkpoint every this many steps (0 = only at the end and on Ctrl-C)
    temperature: float = 0.5  # sampling after training: <1 sharper, >1 more random, 0 = always the likeliest
    num_samples: int = 20  # samples to print after training
    quiet: bool = False  # no progress line on stderr

    def validate(self):
        def need(ok, message):
            if not ok:
                raise MicroGPTError(message)
        for name, most in LIMITS.items():
            value = getattr(self, name)
            bound = "between %d and %d" % (-most, most) if name == "seed" else "at most %d" % most
            need(abs(value) <= most, "%s must be %s, got %d" % (name, bound, value))
        need(self.format in FORMATS, "format must be one of %s" % ", ".join(FORMATS))
        need(self.tokenizer in TOKENIZERS, "tokenizer must be one of %s" % ", ".join(TOKENIZERS))
        if self.tokenizer == "bpe" and self.vocab_size == 0:
            self.vocab_size = BPE_VOCAB_SIZE
        need(self.tokenizer == "bpe" or self.vocab_size == 0, "vocab_size is for tokenizer bpe; the char tokenizer's "
             "vocabulary is the data's characters")
        need(self.tokenizer == "char" or self.vocab_size >= 257, "vocab_size must be at least 257 with tokenizer bpe "
             "(the 256 bytes and BOS), got %d" % self.vocab_size)
        need(self.steps >= 1, "steps must be at least 1, got %d" % self.steps)
        need(self.batch_size >= 1, "batch_size must be at least 1, got %d" % self.batch_size)
        need(self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number, got %r" % self.lr)
        need(self.schedule in SCHEDULES, "schedule must be one of %s" % ", ".join(SCHEDULES))
        need(0 <= self.warmup < self.steps, "warmup must be 0 or more and less than steps (%d), got %d"
             % (self.steps, self.warmup))
        need(self.optimizer in OPTIMIZERS, "optimizer must be one of %s" % ", ".join(OPTIMIZERS))
        need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "beta1 and beta2 must be in [0, 1)")
        need(self.eps > 0 and math.isfinite(self.eps), "eps must be a positive number, got %r" % self.eps)
        need(0 <= self.val_fraction < 1, "val_fraction must be in [0, 1), got %r" % self.val_fraction)
        need(self.engine in ENGINES, "engine must be one of %s" % ", ".join(ENGINES))
        need(self.workers >= 1, "workers must be at least 1, got %d" % self.workers)
        need(self.workers == 1 or self.engine != "torch", "workers is for the fast and scalar engines; the torch "
             "engine runs several processes under torchrun")
        need(not self.fast_math or self.engine == "fast", "fast_math is for the fast engine, not the %s engine"
             % self.engine)
        need(self.device in DEVICES, "device must be one of %s" % ", ".join(DEVICES))
        need(self.dtype in DTYPES, "dtype must be one of %s" % ", ".join(DTYPES))
        asks = ["%s %s" % (name, value) for name, value, plain in (("device", self.device, ("auto", "cpu")),
                                                                   ("dtype", self.dtype, ("auto", "float64")))
                if value not in plain]
        need(self.engine == "torch" or not asks, "%s need%s engine torch: the %s engine computes in float64 on "
             "the CPU" % (" and ".join(asks), "s" * (len(asks) == 1), self.engine))
        need(self.log_every >= 1, "log_every must be at least 1, got %d" % self.log_every)
        for name in ("eval_every", "eval_docs", "save_every"):
            need(getattr(self, name) >= 0, "%s must be 0 or more, got %d" % (name, getattr(self, name)))
        need(self.temperature >= 0 and math.isfinite(self.temperature),
             "temperature must be a finite number, 0 or more, got %r" % self.temperature)
        if self.temperature < MIN_TEMPERATURE:
            self.temperature = 0.0  # the same draws (see MIN_TEMPERATURE), and 1/T cannot overflow
        need(self.num_samples >= 0, "num_samples must be 0 or more, got %d" % self.num_samples)
        self.model_config(2).validate()
        return self

    def model_config(self, vocab_size):
        return GPTConfig(vocab_size=vocab_size, n_layer=self.n_layer, n_embd=self.n_embd,
                         n_head=self.n_head, block_size=self.block_size)

    def describe(self):
        return " ".join("%s=%s" % (f.name, getattr(self, f.name) if f.name != "data" or self.data
                                   else "names") for f in fields(self))
