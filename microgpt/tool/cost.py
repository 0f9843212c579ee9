"""What a run will cost, said before it starts: its memory and its time per step, from its sizes alone.

A model of a million channels or a batch of a million documents is a valid configuration that no
machine can run: building it would allocate for minutes and then die with MemoryError, or swap
forever. Here the cost is counted first, in a few multiplications, so that such a run is refused at
once with one line saying what it would need, and a run that fits but will take hours says so.

Memory, in Python floats: pure Python keeps every number as a float object (24 bytes) behind a pointer
in a list (8 bytes), so a float kept in a list costs about 32 bytes, four times a C double.
- per parameter: the weight and Adam's two moments (SGD has none), 3 floats; during a step its
  gradient, the matrix's gradient before it is written into the flat list and the transposed copies
  the backward reads (~80 bytes); while a checkpoint is saved, the JSON encoder's text of the weight
  and both moments (~160 bytes, the larger of the two, so the one counted);
- per predicted token of the shard being computed (SHARD documents at a time, see train.py): what the
  fast engine's tape keeps for the backward pass, about L*(20*C + nh*T) + 2*V + 3*C floats (each
  layer's normed inputs, q, k, v, the attention weights of every head, the MLP's 4C-wide hidden
  layer twice, the residual sums; then the logits and the probabilities);
- per shard of a batch: one more gradient list, since the shards' gradients are combined at the end;
- per worker process: its own copy of the weights and its own gradients and tape;
- with the scalar engine, instead of the tape, the graph of Values of the shard being computed: 96
  bytes per multiply-add of its forward pass (a dot product's node keeps two children and two local
  gradients per product, 32 bytes; the elementwise nodes, about 200 bytes each, weigh the rest) and
  1200 per logit (the softmax's nodes for each of the V logits of each position). Measured peaks
  (tracemalloc, one backward pass) were 37-80 bytes per multiply-add of models of 16 to 64 channels,
  and 141 for a 2000-character vocabulary, where the logits weigh most.
The per-parameter figures were measured with tracemalloc (peak traced memory of building a model,
one training step and a checkpoint's JSON, on 1 to 4 layers, 16 to 128 channels, batches of 1 to 64
names: 280-300 bytes per parameter with Adam) and rounded up; the tape's count is about twice what was
measured (the backward frees as it goes). The estimate is meant to be high, never low.

Time: the multiply-adds of a step (bench.py's cost model, forward_macs below; training does the work
of a forward pass three times) times a fixed cost per multiply-add. `microgpt bench` measures that
cost (its ns/mult-add column). Measured on CPython 3.11, 2 cores: ~60 ns for the default model with a
batch of 1 (the interpreter's overhead per call dominates), ~24 ns at batch 32, ~16 ns for 2 layers of
64 channels; PyPy is faster. 50 ns is the figure used here: it errs high for the large runs the
warning is for, and a warning that comes a little early beats one that never comes. The scalar
engine builds a graph node per operation: ~5x the time (bench.py).
"""

import os
import sys

from ..errors import MicroGPTError
from .checkpoint import SIZE_LIMIT
from .files import human_size
from .messages import t

BYTES_PER_FLOAT = 32  # a float object and its pointer in a list (see above)
BYTES_PER_PARAM = 3 * BYTES_PER_FLOAT + 192  # weight, m, v, and the larger of a step's or a save's extra (see above)
GRAPH_BYTES_PER_MAC, GRAPH_BYTES_PER_LOGIT = 96, 1200  # the scalar engine's graph (see above)
# a float in checkpoint.json's text: 17 significant digits, a sign, a point, an exponent, ", " (measured:
# 66 bytes per parameter with Adam, for a weight and its two moments)
CHECKPOINT_BYTES_PER_FLOAT = 24
NS_PER_MAC = 50  # conservative CPython figure; `microgpt bench` measures it on this machine
HOUR = 3600.0
SHARD = 16  # train.SHARD: documents computed together (train.py imports would make a cycle)
ASSUMED_MEMORY = 4 * 1024 ** 3  # when the OS does not say how much memory it has: a small machine


def forward_macs(config, T):
    """Multiply-adds of one forward pass over T positions: 12*L*C^2 per position in the linears (q, k,
    v, o: 4*C^2; fc1 and fc2: 2*4*C^2), V*C in lm_head, and 2*L*C*(t+1) in attention at position t."""
    C, L = config.n_embd, config.n_layer
    return T * (12 * L * C * C + config.vocab_size * C) + L * C * T * (T + 1)


def num_params(config):
    C, L, V = config.n_embd, config.n_layer, config.vocab_size
    return 2 * V * C + config.block_size * C + 12 * L * C * C


def tape_floats(config, T):
    """Floats the fast engine keeps per predicted token of a document of T positions, for the backward."""
    C, L = config.n_embd, config.n_layer
    return L * (20 * C + config.n_head * T) + 2 * config.vocab_size + 3 * C


def physical_memory():
    """Bytes of memory this machine has, or ASSUMED_MEMORY where the OS does not say (Windows, say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return ASSUMED_MEMORY


def graph_bytes(config, T):
    """Bytes of the scalar engine's graph of Values for one document of T positions."""
    return forward_macs(config, T) * GRAPH_BYTES_PER_MAC + T * config.vocab_size * GRAPH_BYTES_PER_LOGIT


def training_memory(config, batch_size, T, workers=1, optimizer="adam", eval_positions=0, shard=SHARD,
                    engine="fast"):
    """Bytes a training run needs at its peak (see the module docstring for each term); `shard` is how
    many documents one backward pass takes at once."""
    P = num_params(config)
    shards = -(-batch_size // shard)
    per_param = BYTES_PER_PARAM - (0 if optimizer == "adam" else 2 * BYTES_PER_FLOAT)
    per_document = graph_bytes(config, T) if engine == "scalar" else T * tape_floats(config, T) * BYTES_PER_FLOAT
    tape = min(batch_size, shard) * per_document
    # the held-out evaluation keeps every layer's keys and values for every prefix it has seen
    evaluation = eval_positions * 2 * config.n_layer * config.n_embd * BYTES_PER_FLOAT
    worker = (P * 2 * BYTES_PER_FLOAT + tape) if workers > 1 else 0
    return P * per_param + (shards - 1) * P * BYTES_PER_FLOAT + tape + evaluation + workers * worker


def step_seconds(config, batch_size, T):
    return 3 * batch_size * forward_macs(config, T) * NS_PER_MAC * 1e-9


def size(n):
    """Bytes as a person reads them: 512 MB, 3.2 GB, 4.1e+06 GB."""
    gb = n / 1024 ** 3
    if gb < 1:
        return "%d MB" % max(1, round(n / 1024 ** 2))
    return "%.1f GB" % gb if gb < 1e4 else "%.2g GB" % gb


def duration(seconds, lang="en"):
    if seconds < 2 * HOUR:
        return t("%d minutes", lang) % round(seconds / 60)
    if seconds < 3 * 24 * HOUR:
        return t("%.0f hours", lang) % (seconds / HOUR)
    return t("%.2g days", lang) % (seconds / (24 * HOUR))


def describe(config, batch_size=None):
    sizes = "n_layer %d, n_embd %d, block_size %d" % (config.n_layer, config.n_embd, config.block_size)
    return sizes + (", batch_size %d" % batch_size if batch_size is not None else "")


def check_memory(need, what):
    """Refuse (MicroGPTError: the machine, not the flags, sets the limit) what needs more than there is."""
    have = physical_memory()
    if need > have:
        raise MicroGPTError("%s would need about %s of memory, but this machine has %s; choose a smaller model "
                            "or batch" % (what, size(need), size(have)))


def warn_time(seconds, what, err=None, lang="en"):
    if seconds > HOUR:
        print(t("warning: %s will take about %s at ~%d ns per multiply-add (measure yours with microgpt bench)", lang)
              % (what, duration(seconds, lang), NS_PER_MAC), file=err or sys.stderr)


def check_training(cfg, vocab_size=2, T=2, err=None, val_positions=0, warn=True, steps_done=0, longest=None,
                   lang="en"):
    """Before a run: refuse one that cannot fit in memory or whose checkpoint could not be read back,
    warn about one longer than an hour.

    Before the data is read, vocab_size 2 and documents of 2 positions are the least any data could
    give: what is refused then is refused whatever the data. Called again with the data's real figures
    (T the mean predicted positions per document, `longest` the most of any), it also warns about the
    time of the steps to go: the time from the mean, the memory from the longest (one shard may hold it,
    and its tape grows as T^2 in attention). The torch engine's tensors (8 bytes a number, maybe on a
    GPU) are not what is counted here. The warning is in `lang`."""
    config = cfg.model_config(vocab_size)
    if cfg.engine == "torch":
        return check_checkpoint(config, cfg.optimizer)
    T = min(T, config.block_size)
    longest = min(max(T, longest or T), config.block_size)
    need = training_memory(config, cfg.batch_size, longest, cfg.workers, cfg.optimizer, val_positions,
                           engine=cfg.engine)
    check_memory(need, "a run of %s%s" % (describe(config, cfg.batch_size),
                                          " on the scalar engine" if cfg.engine == "scalar" else ""))
    check_checkpoint(config, cfg.optimizer)
    if warn:
        steps = max(1, cfg.steps - steps_done)
        slower = 5 if cfg.engine == "scalar" else 1
        warn_time(step_seconds(config, cfg.batch_size, T) * steps * slower,
                  t("%d steps of %s", lang) % (steps, describe(config, cfg.batch_size)), err, lang)


def check_checkpoint(config, optimizer="adam"):
    """Refuse a model whose checkpoint could not be read back: checkpoint.py reads at most SIZE_LIMIT
    bytes (JSON text costs Python many times its size to parse), so hours of training would end in a
    file that neither resume nor sample would take."""
    floats = num_params(config) * (3 if optimizer == "adam" else 1)
    size = floats * CHECKPOINT_BYTES_PER_FLOAT
    if size > SIZE_LIMIT:
        raise MicroGPTError("a model of %s has %d parameters: its checkpoint would be about %s, more than the %s a "
                            "checkpoint may be; choose a smaller model" % (describe(config), num_params(config),
                                                                         human_size(size), human_size(SIZE_LIMIT)))


def check_dataset(cfg, dataset, err=None, steps_done=0, lang="en"):
    """check_training with the figures of the data it will train on: a document of n characters is
    framed as n + 2 tokens and trains min(block_size, n + 1) predictions; a text's window trains
    block_size, and its held-out windows predict every held-out token but the first."""
    block = cfg.block_size
    if dataset.format == "text":
        T, val, longest = block, max(0, len(dataset.val_tokens) - 1), block
    else:
        T = sum(min(block, len(d) + 1) for d in dataset.train_docs) / max(1, len(dataset.train_docs))
        val = sum(min(block, len(d) + 1) for d in dataset.val_docs)
        longest = min(block, max(len(d) for d in dataset.train_docs) + 1)
    check_training(cfg, dataset.tokenizer.vocab_size, max(2, round(T)), err, val, steps_done=steps_done,
                   longest=longest, lang=lang)


def check_model(config, what, batch_size=1, err=None):
    """For commands that build a model and take one backward pass over a batch of documents of up to a
    full context (kernels: block_size documents, of 1 to block_size positions, all at once)."""
    T = max(2, config.block_size // 2)
    need = training_memory(config, batch_size, T, shard=batch_size)
    check_memory(need, "%s for a model of %s" % (what, describe(config)))
    warn_time(step_seconds(config, batch_size, T), what, err)


def check_sampling(config, num_samples, err=None, passes=1):
    """Sampling holds the model and a KV cache (small beside it); each sample is at most block_size
    positions of one token's work each, or for a passage of a text, `passes` times that (every token past
    the context reads the whole window again: sample.continue_text)."""
    check_memory(num_params(config) * BYTES_PER_FLOAT + 2 * config.n_layer * config.block_size * config.n_embd
                 * BYTES_PER_FLOAT, "sampling from a model of %s" % describe(config))
    warn_time(num_samples * passes * forward_macs(config, config.block_size) * NS_PER_MAC * 1e-9,
              "writing %d samples" % num_samples, err)
