"""The report: one HTML page that draws a run, from the run's own files, for a person to look at.

`microgpt report DIR` writes DIR/report.html, and training writes it too: at every evaluation (the page
then reloads itself every few seconds) and when the run ends (it stops reloading). Six figures, each with
a sentence saying what to notice:

  1. the loss: training (raw and smoothed) and held-out against steps, with two yardsticks, a uniform
     guess (ln V) and a bigram model of character-pair counts; the learning-rate schedule beneath;
  2. samples, split into new names and names seen in training (a text's: passages, past the context);
  3. attention: every head of every layer as a heatmap, for a few names;
  4. the token embeddings (wte) seen from their two principal directions (PCA by power iteration);
  5. what surprises the model: names with each character shaded by its loss -ln p, and the five
     likeliest next tokens at every position of one of them;
  6. the run's config, parameter counts, speed, and the command line that repeats it.

Every number comes from metrics.jsonl, checkpoint.json and forward passes of the saved model; nothing is
trained. The page is self-contained (inline SVG and CSS, a few lines of script for reading values under
the pointer; no network, no fonts of its own), and the same run directory always gives the same bytes:
fixed number formats, no clock, samples drawn from the checkpoint's own random stream.

Left out: comparing runs, and anything a browser would have to fetch.
"""

import collections
import functools
import math
import os
import random
import shlex
import unicodedata
from dataclasses import fields
from html import escape

from .. import sample
from ..bpe import BPETokenizer
from ..config import TrainConfig
from ..errors import MicroGPTError
from ..model import GPT, param_shapes
from ..speed import engine, loops
from . import checkpoint, svg
from .console import visible
from .files import not_written, reach, read_bytes, write_atomic
from .messages import t as tr  # (t is a position here, as in the model)
from .runs import CHECKPOINT, METRICS, looks_ours, read_metrics
from .sampling import closing_length, shown_text

REPORT = "report.html"
RELOAD = '<meta http-equiv="refresh" content="5">'  # while training: the browser fetches the page again
EXAMPLES = 6  # names shaded by their loss; the first ATTENTION of them get attention heatmaps too
ATTENTION = 3
MAX_POSITIONS = 64  # drawn positions of a long document: a heatmap has at most 64 * 65 / 2 = 2080 cells
MAX_POINTS = 4000  # a longer loss curve is drawn every k-th step
# The page's size has a ceiling whatever the data (docs/report.md): a document, a sample or a token is
# shown up to these many characters, the rest counted ("...(N more characters)"), and the embeddings
# figure draws at most MOST_TOKENS points. The figures read at most MAX_POSITIONS tokens of a document.
SHOWN, PASSAGE, LABEL = 100, 4000, 12  # characters: of a document or sample, of a passage, of a token's label
MOST_TOKENS = 1000
BOS_LABEL = "\u00b7"  # how BOS, the start and end marker, is drawn
NOT_FLAGS = ("beta1", "beta2", "eps")  # TrainConfig fields that the command line does not set
VOWELS = "aeiouAEIOU"


# --------------------------------------------------------------------------------------------------
# what a report reads

class Run:
    """What a report draws from: the run's metrics, one checkpoint and the model in it, and the training
    data when it can be found (else `why_no_data` says why not). `lang`: the page's language (messages.py)."""

    def __init__(self, path, ck, dataset=None, why_no_data=None, live=False, decoder=None, lang="en"):
        self.path, self.ck, self.cfg, self.live = os.path.normpath(path), ck, ck.config, live
        self.lang = lang
        self.decoder = decoder  # another engine's sample.generate decoder, that can also read(model, tokens)
        self.dataset, self.why_no_data = dataset, why_no_data
        self.model = GPT(ck.model, params=ck.params)
        self.tokenizer = checkpoint.tokenizer_of(ck)
        self.metrics = read_metrics(os.path.join(path, METRICS))
        self.text = ck.config.format == "text"  # a text's samples are passages, and new or seen means nothing
        self.samples = draw_samples(self)
        self.seen = set(dataset.train_docs) if dataset and not self.text else None
        self.bigram = bigram_loss(dataset, ck.model.block_size) if dataset else None


def load(path, dataset=None, torch=None, lang="en"):
    """The Run kept in directory `path`; a MicroGPTError (one line) if there is none or it is damaged.
    torch = (device, dtype): the forward passes and samples run on PyTorch, else on the fast engine."""
    reach(path, "run directory")
    if not os.path.isdir(path):
        raise MicroGPTError("%s is a file, not a run directory" % path if os.path.exists(path) else
                            "no run directory at %s" % path)
    ck = checkpoint.load(os.path.join(path, CHECKPOINT))
    why = None
    if dataset is None:
        try:
            dataset = checkpoint.training_data(ck)
        except MicroGPTError as e:
            why = str(e)
    decoder = None
    if torch is not None:
        from ..speed import torch_engine
        decoder = torch_engine.Sampler.load(GPT(ck.model, params=ck.params), *torch)
    return Run(path, ck, dataset, why, decoder=decoder, lang=lang)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def series(records, key):
    """(step, value) of every record that has a number under `key`, within +-1e100: no loss or rate a run
    logs is larger, and a chart's range must stay a finite float (1e308 - -1e308 is not)."""
    return [(r["step"], float(r[key])) for r in records if is_number(r.get(key)) and abs(r[key]) <= 1e100]


# --------------------------------------------------------------------------------------------------
# the numbers: forward passes of the saved model, and the yardsticks

class Recording(engine.FastOps):
    """The fast engine's ops without gradients, keeping each layer's attention weights as
    atts[t][h][s] (the plain loops of loops.py: the kernels' numbers, in one layout everywhere)."""

    def __init__(self, model):
        super().__init__(model, grad=False)
        self.atts = []  # one per layer, in the order the forward pass calls attention

    def attention(self, q, k, v, n_head):
        (_, _), = self.segments  # one document per pass
        out, atts = loops.attention_forward(q.data, k.data, v.data, q.cols, n_head)
        self.atts.append(atts)
        return engine.Tensor(out, q.rows, q.cols)


def read(model, tokens, decoder=None):
    """`tokens` (a framed document, a window of a text) through the model: (tokens, probs, atts). tokens
    is cut to at most MAX_POSITIONS predictions, probs[t] is the next-token distribution after
    tokens[:t + 1], and atts[layer][t][h][s] how much position t looks at position s in head h."""
    tokens = tokens[:min(model.config.block_size, MAX_POSITIONS) + 1]
    if decoder is not None:
        rows, atts = decoder.read(model, tokens[:-1])
    else:
        ops = Recording(model)
        logits = model.forward(ops, [tokens[:-1]])
        V, atts = logits.cols, ops.atts
        rows = [logits.data[t * V:(t + 1) * V] for t in range(logits.rows)]
    probs = [loops.softmax(row) for row in rows]
    if not all(math.isfinite(p) for row in probs for p in row):
        raise ArithmeticError("the model's probabilities overflow: its weights are too large")
    return tokens, probs, atts


def surprise(p):
    """-ln p in nats: 0 for a certain token, ln V for a uniform guess, infinite for an impossible one."""
    return -math.log(p) if p > 0 else math.inf


@functools.lru_cache(maxsize=8)  # by the dataset's identity: train writes a page at every evaluation
def bigram_loss(dataset, block_size):
    """Held-out loss of character-pair counts from the training documents, add-one smoothed:
    p(b | a) = (count(a b) + 1) / (count(a) + V). None without held-out documents."""
    if dataset.format == "text":
        return text_bigram_loss(dataset)
    if not dataset.val_docs:
        return None
    # the documents one after another, a newline for BOS (never inside a document): one pass counts
    # every pair, the ones across a document boundary being (last character, end) and (start, first)
    text = "\n" + "\n".join(dataset.train_docs) + "\n"
    pairs, firsts = collections.Counter(zip(text, text[1:])), collections.Counter(text[:-1])
    V, nats = dataset.tokenizer.vocab_size, []
    for doc in dataset.val_docs:  # the positions the model's held-out loss counts: at most block_size
        framed = ("\n" + doc + "\n")[:block_size + 1]
        nats += [surprise((pairs[a, b] + 1) / (firsts[a] + V)) for a, b in zip(framed, framed[1:])]
    return math.fsum(nats) / len(nats)


def text_bigram_loss(dataset):
    """The same for a text, of token pairs: counted over the training tokens, scored on every held-out
    token but the first (the ones its held-out windows predict). None without a held-out part."""
    train, val = dataset.train_tokens, dataset.val_tokens
    if len(val) < 2:
        return None
    pairs, firsts = collections.Counter(zip(train, train[1:])), collections.Counter(train[:-1])
    V = dataset.tokenizer.vocab_size
    return math.fsum(surprise((pairs[a, b] + 1) / (firsts[a] + V)) for a, b in zip(val, val[1:])) / (len(val) - 1)


def centred(rows):
    """The rows minus their mean row."""
    mean = [math.fsum(column) / len(rows) for column in zip(*rows)]
    return [[x - m for x, m in zip(row, mean)] for row in rows]


def principal_axes(X, iterations=2000):
    """The two directions along which the centred rows X vary most, by power iteration: v <- Cv / |Cv|
    for their covariance C, the directions found before projected out. Returns (axes, the variance
    along each, the total variance). The start vector is fixed, so the result is too."""
    n, C = len(X), len(X[0])
    cov = [[math.fsum(r[i] * r[j] for r in X) / n for j in range(C)] for i in range(C)]
    axes, variances = [], []
    for k in range(min(2, C)):
        v = unit([math.cos(1.0 + i + 7 * k) for i in range(C)], axes)
        for _ in range(iterations):
            w = unit([math.fsum(c * x for c, x in zip(row, v)) for row in cov], axes)
            if w is None:  # C v = 0: every direction left has no variance, v will do
                break
            converged = max(abs(a - b) for a, b in zip(v, w)) < 1e-13
            v = w
            if converged:
                break
        if v[max(range(C), key=lambda i: abs(v[i]))] < 0:  # a fixed sign: the largest component positive
            v = [-x for x in v]
        axes.append(v)
        variances.append(math.fsum(x * math.fsum(c * y for c, y in zip(row, v)) for x, row in zip(v, cov)))
    return axes, variances, math.fsum(cov[i][i] for i in range(C))


def unit(v, axes=()):
    """v with its components along `axes` removed, scaled to length 1; None if nothing is left."""
    for a in axes:
        d = math.fsum(x * y for x, y in zip(v, a))
        v = [x - d * y for x, y in zip(v, a)]
    norm = math.sqrt(math.fsum(x * x for x in v))
    return [x / norm for x in v] if norm > 1e-300 and math.isfinite(norm) else None


MOST_SAMPLES = 200  # a page shows the first 200 of a run's samples (--num-samples 1000000 prints a million)
MOST_PASSAGES = 2  # and the first 2 passages of a text's (each sampling.closing_length, past the context)


def draw_samples(run):
    """The samples the run's training printed: the checkpoint's random stream at its temperature. None
    if the model cannot be sampled (weights so large that its probabilities overflow)."""
    rng = random.Random()
    rng.setstate(run.ck.rng_state)
    try:
        decoder = run.decoder or engine.cached_decoder
        if run.text:
            length = closing_length(run.ck.model.block_size)
            return [run.tokenizer.decode(list(sample.continue_text(run.model, run.tokenizer, rng, length,
                                                                   run.cfg.temperature, decoder=decoder)))
                    for _ in range(min(run.cfg.num_samples or 1, MOST_PASSAGES))]
        return [sample.generate(run.model, run.tokenizer, rng, run.cfg.temperature, decoder=decoder)
                for _ in range(min(run.cfg.num_samples or 20, MOST_SAMPLES))]
    except (ArithmeticError, ValueError):  # random.choices refuses weights that are not finite
        return None


def examples(run):
    """([(label, tokens)] to look inside, what they are): held-out documents (or windows of a text), else
    training ones, else samples. A label is the document cut to SHOWN characters (cut), the tokens the
    first MAX_POSITIONS + 1 of its framing: all that the figures read."""
    found, kind = look_inside(run)
    return [(cut(text, SHOWN, run.lang), tokens[:MAX_POSITIONS + 1]) for text, tokens in found], kind


def look_inside(run):
    tokenizer, data = run.tokenizer, run.dataset
    if data is not None and run.text:
        B = run.ck.model.block_size
        windows = data.held_out(EXAMPLES) if data.num_held_out else [data.train_tokens[i * B:(i + 1) * B + 1]
                                                                     for i in range(EXAMPLES)]
        return [(tokenizer.decode(w), w) for w in windows if len(w) > 1], "held-out" if data.num_held_out else \
            "training"
    if data is not None:
        docs, kind = (data.val_docs, "held-out") if data.val_docs else (data.train_docs, "training")
        return [(doc, data.frame(doc)) for doc in docs[:EXAMPLES]], kind  # cut where the model stops reading
    frame = tokenizer.encode if run.text else tokenizer.frame
    framed = [(s, frame(s)) for s in run.samples or () if s]
    return [(s, tokens) for s, tokens in framed if len(tokens) > 1][:EXAMPLES], "generated"


def cut(text, most, lang="en"):
    """`text`, or its first `most` characters and how many more there are."""
    if len(text) <= most:
        return text
    return text[:most] + tr("\u2026(%d more characters)", lang) % (len(text) - most)


def speed(run):
    """(steps/s, tokens/s) over the logged steps: each record's tokens_per_s covers the steps since the
    one before, so time = tokens / tokens_per_s. Without the data the tokens per step are unknown:
    (None, the median of the logged tokens_per_s)."""
    logged = [r for r in run.metrics if is_number(r.get("tokens_per_s")) and r["tokens_per_s"] > 0
              and is_number(r.get("loss")) and isinstance(r["step"], int)]
    if not logged:
        return None, None
    if run.dataset is None:
        rates = sorted(r["tokens_per_s"] for r in logged)
        return None, rates[len(rates) // 2]
    # steps a..b-1 train documents a*B .. b*B-1, round and round the list (data.batch_docs): with the
    # running totals of predictions per document (n characters train min(block_size, n + 1)), the
    # tokens of any run of steps are two look-ups, however long the run
    B, block_size = run.cfg.batch_size, run.ck.model.block_size
    docs = [" " * (block_size - 1)] if run.text else run.dataset.train_docs  # a text's window: block_size, always
    upto = [0]
    for d in docs:
        upto.append(upto[-1] + min(block_size, len(d) + 1))

    def tokens_before(i):  # predictions of the first i documents of the stream
        return (i // len(docs)) * upto[-1] + upto[i % len(docs)]
    seconds, tokens, before = [], [], 0
    for r in logged:
        n = tokens_before(r["step"] * B) - tokens_before(before * B)
        seconds.append(n / r["tokens_per_s"])
        tokens.append(n)
        before = r["step"]
    total = math.fsum(seconds)
    return (before / total, math.fsum(tokens) / total) if total > 0 else (None, None)


def command_line(cfg):
    """The `microgpt train` command that makes this run again: the flags that differ from the defaults."""
    default, words, other = TrainConfig(), ["microgpt", "train"], []
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name):
            continue
        if f.name in NOT_FLAGS:
            other.append("%s=%r" % (f.name, value))
        elif isinstance(value, bool):
            words.append("--" + f.name.replace("_", "-"))
        else:
            words += ["--" + f.name.replace("_", "-"), str(value)]
    return " ".join(shlex.quote(w) for w in words), other


# --------------------------------------------------------------------------------------------------
# drawing helpers

def token_text(tokenizer, token):
    """The text a token stands for: a character, or a BPE token's bytes as UTF-8, those that are only part
    of a character written as \\xe6."""
    if isinstance(tokenizer, BPETokenizer):
        return tokenizer.bytes[token].decode("utf-8", errors="backslashreplace")
    return tokenizer.chars[token]


def label(tokenizer, token):
    """A token as it is drawn: BOS as a dot, a space as an open box."""
    if token == tokenizer.bos:
        return BOS_LABEL
    text = "".join("\u2423" if ch == " " else ch if ch.isprintable() else "U+%04X" % ord(ch)
                   for ch in token_text(tokenizer, token))
    return text if len(text) <= LABEL else text[:LABEL - 1] + "\u2026"  # a BPE token may be a long run of text


def vocabulary(tokenizer, lang="en"):
    if isinstance(tokenizer, BPETokenizer):
        return tr("%d tokens: the 256 bytes, %d BPE merges (the first: %s) and BOS (%s)", lang) % (
            tokenizer.vocab_size, len(tokenizer.merges), " ".join(label(tokenizer, 256 + i)
                                                                  for i in range(min(8, len(tokenizer.merges)))),
            BOS_LABEL)
    return tr("%d tokens: %s and BOS (%s)", lang) % (tokenizer.vocab_size, visible("".join(tokenizer.chars)[:80]),
                                                    BOS_LABEL)


def shade(fraction, low=(247, 251, 255), high=(8, 48, 107)):
    """The colour a fraction of the way from `low` to `high` (0 and 1 included; outside, clipped)."""
    f = min(max(fraction, 0.0), 1.0) if math.isfinite(fraction) else 1.0
    return "#%02x%02x%02x" % tuple(int(round(a + (b - a) * f)) for a, b in zip(low, high))


def reprs(values):
    """Numbers as the shortest text that reads back as the same float: for the page's script and tests."""
    return " ".join(repr(float(v)) for v in values)


def kept(n):
    """The indices of at most about MAX_POINTS of n points that a line draws: every k-th, and the last."""
    k = max(1, -(-n // MAX_POINTS))
    return list(range(0, n, k)) + ([n - 1] if n and (n - 1) % k else [])


def smoothed(points, window, indices):
    """At each of `indices`, the mean of the last `window` values up to it (fewer at the start)."""
    out = []
    for i in indices:
        last = points[max(0, i - window + 1):i + 1]
        out.append((points[i][0], math.fsum(v for _, v in last) / len(last)))
    return out


def section(anchor, heading, body, caption):
    return ('<section class="figure" id="%s">\n<h2>%s</h2>\n%s\n<p class="caption">%s</p>\n</section>\n'
            % (anchor, escape(heading), body, escape(caption)))


def legend(entries):
    """A row of swatches with their names: [(colour, text, style)], style "line", "dashed", "box" or "dot"."""
    items = "".join('<span class="key"><span class="swatch %s" style="border-color:%s;background:%s"></span>%s'
                    '</span>' % (style, colour, colour if style in ("box", "dot") else "transparent",
                                 escape(words)) for colour, words, style in entries)
    return '<p class="legend">%s</p>' % items


# --------------------------------------------------------------------------------------------------
# the figures

TRAIN, SMOOTH, HELD_OUT, UNIFORM, BIGRAM, LR = "#9ecae1", "#08519c", "#e6550d", "#636363", "#31a354", "#756bb1"


def curve(points, sx, sy, name, colour, width, lang="en", **attributes):
    """A line through the points, carrying its exact numbers for the page's script (hover) and tests, and
    its name as the readout shows it (data-label, in the page's language)."""
    return svg.polyline(points, sx, sy, stroke=colour, stroke_width=width, class_="series", data_name=name,
                        data_label=tr(name, lang), data_x=reprs(x for x, _ in points),
                        data_y=reprs(y for _, y in points), **attributes)


def chart(width, height, sx, sy, content, xlabel, ylabel, name, lang="en"):
    """A line chart: axes, the lines, and a cursor and readout that the script moves with the pointer
    (data-at: how the readout says at which step, %s the step)."""
    body = (svg.axes(sx, sy, xlabel, ylabel, integer_x=True) + content +
            svg.line(sx.start, sy.end, sx.start, sy.start, class_="cursor", stroke="#999", visibility="hidden") +
            svg.text(sx.start + 8, sy.end + 14, "", class_="readout"))
    return svg.figure(width, height, body, class_="chart", data_figure=name, data_sx=sx.describe(),
                      data_sy=sy.describe(), data_at=tr("(step %s)", lang))


def loss_figure(run):
    raw, held = series(run.metrics, "loss"), series(run.metrics, "val_loss")
    uniform, V, lang = math.log(run.tokenizer.vocab_size), run.tokenizer.vocab_size, run.lang
    if not raw and not held:
        return section("loss", tr("1. Loss", lang), '<p class="empty">%s</p>' % escape(tr(
            "No loss logged yet: metrics.jsonl is empty or missing.", lang)),
            tr("The curves appear here once the run has logged a step.", lang))
    window = max(1, min(100, len(raw) // 20))
    drawn = kept(len(raw))
    mean = smoothed(raw, window, drawn)
    steps = [s for s, _ in raw + held]
    sx = svg.Scale(min(steps), max(steps), 64, 704)
    lo, hi = svg.finite_range([v for _, v in raw + held] + [uniform] + ([run.bigram] if run.bigram else []))
    sy = svg.Scale(lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo), 258, 12)
    keys = [(TRAIN, tr("training loss, every logged step", lang), "line"),
            (SMOOTH, tr("training loss, mean of the last %d", lang) % window, "line")]
    lines = [curve([raw[i] for i in drawn], sx, sy, "training", TRAIN, 1, lang, stroke_opacity=0.8)]
    for value, colour, words in ((uniform, UNIFORM, tr("uniform guess, ln %d = %.4f", lang) % (V, uniform)),
                                 (run.bigram, BIGRAM, tr("bigram counts, held-out %.4f", lang) % (run.bigram or 0))):
        if value is not None:
            lines.append(svg.line(sx.start, sy(value), sx.end, sy(value), stroke=colour, stroke_width=1.5,
                                  stroke_dasharray="6 4"))
            keys.append((colour, words, "dashed"))
    lines.append(curve(mean, sx, sy, "smoothed", SMOOTH, 2, lang))
    if held:
        held = [held[i] for i in kept(len(held))]
        lines.append(curve(held, sx, sy, "held-out", HELD_OUT, 2, lang))
        lines += [svg.tag("circle", svg.title(tr("step %d: held-out loss %.4f", lang) % (s, v)), cx=svg.num(sx(s)),
                          cy=svg.num(sy(v)), r=3.5, fill=HELD_OUT) for s, v in held]
        unit = "windows" if run.text else "docs"
        counts = sorted(set(r["val_" + unit] for r in run.metrics if is_number(r.get("val_" + unit))))
        counts = tr(" or ", lang).join(map(str, counts)) if len(counts) <= 3 else \
            tr("%d to %d", lang) % (counts[0], counts[-1])
        keys.insert(2, (HELD_OUT, tr("held-out loss (on %s windows)" if run.text else "held-out loss (on %s documents)",
                                    lang) % counts, "line"))
    body = legend(keys) + chart(720, 300, sx, sy, "".join(lines), tr("step", lang), tr("loss (nats per token)", lang),
                                "loss", lang)
    rates = series(run.metrics, "lr")
    if rates:
        sr = svg.Scale(0.0, max(v for _, v in rates), 88, 10)
        line = curve([rates[i] for i in kept(len(rates))], sx, sr, "lr", LR, 2, lang)
        body += "\n" + chart(720, 126, sx, sr, line, tr("step", lang), tr("learning rate", lang), "lr", lang)
    return section("loss", tr("1. Loss", lang), body, loss_caption(run, mean, held, uniform))


def loss_caption(run, smoothed, held, uniform):
    lang = run.lang
    words = tr("The loss starts near a uniform guess over the %d tokens (ln %d = %.2f)", lang) % (
        run.tokenizer.vocab_size, run.tokenizer.vocab_size, uniform)
    if not held:
        return words + tr(" and falls as the model learns (no held-out documents: nothing to tell learning "
                         "from memorising).", lang)
    final, training = held[-1][1], smoothed[-1][1] if smoothed else held[-1][1]
    bpc = series(run.metrics, "val_bpc")
    words += tr(" and falls as the model learns, to %.2f on held-out text it never trains on%s" if run.text else
               " and falls as the model learns, to %.2f on held-out documents it never trains on%s", lang) % (
        final, tr(" (%.3f bits per character)", lang) % bpc[-1][1] if bpc else "")
    if run.bigram is not None:
        words += tr(", better than the %.2f of counting character pairs (bigram)" if final < run.bigram else
                   ", not yet better than the %.2f of counting character pairs (bigram)", lang) % run.bigram
    gap = final - training
    if gap >= 0.1:
        return words + tr(": %.2f above the smoothed training loss, the part it memorised rather than learned.",
                         lang) % gap
    return words + tr(": close to the smoothed training loss (%.2f), so it learned what the text is like rather "
                     "than memorising it." if run.text else ": close to the smoothed training loss (%.2f), so it "
                     "learned what the documents look like rather than memorising them.", lang) % training


def display(name, lang="en"):
    """A document as the page shows it: its control characters as escapes, as on the terminal."""
    return visible(name) if name else tr("(empty)", lang)


def samples_figure(run):
    names, seen, lang = run.samples, run.seen, run.lang
    if names is None:
        return section("samples", tr("2. Samples", lang), '<p class="empty">%s</p>' % escape(tr(
            "Nothing to show: the model cannot be sampled, its probabilities overflow (its weights are too large).",
            lang)), "")
    if run.text:
        return passages_figure(run, names)
    items = "".join('<li class="%s">%s</li>' % ("" if seen is None else "seen" if n in seen else "new",
                                                escape(display(cut(n, SHOWN, lang), lang))) for n in names)
    body = '<ol class="samples">%s</ol>' % items
    if seen is None:
        body += '<p class="note">%s</p>' % escape(tr("New or seen: unknown, %s.", lang) % (
            run.why_no_data or tr("no training data", lang)))
    elif names:
        new = sum(1 for n in names if n not in seen)
        share = new / len(names)
        bar = (svg.rect(0, 0, 720 * share, 26, fill=HELD_OUT) + svg.rect(720 * share, 0, 720 * (1 - share), 26,
                                                                         fill="#c6dbef") +
               svg.text(8, 18, tr("new: %d of %d (%.0f%%)", lang) % (new, len(names), 100 * share), class_="onbar"))
        body = legend([("#fdd0a2", tr("new: not in the training data", lang), "box"),
                       ("#c6dbef", tr("seen in training", lang), "box")]) + body + svg.figure(
            720, 26, bar, class_="share", data_new=new, data_total=len(names))
    return section("samples", tr("2. Samples", lang), body, tr(
        "%d samples written by the model at temperature %s (%s): new ones are its own inventions, seen ones it "
        "took from the training data; a model that only memorised would write nothing new, one that learned "
        "nothing would write gibberish.", lang) % (len(names), run.cfg.temperature, drawn_from(run, MOST_SAMPLES)))


def drawn_from(run, most):
    if run.live:
        return tr("from the weights at step %d, drawn as the run will draw them at its end", run.lang) % run.ck.step
    if run.cfg.num_samples > most:
        return tr("the first of the %d its training run printed", run.lang) % run.cfg.num_samples
    if run.cfg.num_samples:
        return tr("the ones its training run printed", run.lang)
    return tr("continuing the run's random stream", run.lang)


def passages_figure(run, texts):
    """A text's samples: passages of closing_length tokens, each as the text it is, line breaks and all."""
    body = "".join('<pre class="passage">%s</pre>' % escape(shown_text(cut(text, PASSAGE, run.lang)))
                   for text in texts)
    block = run.ck.model.block_size
    return section("samples", tr("2. Samples", run.lang), body, tr(
        "%d passages of %d tokens written by the model at temperature %s (%s), after a line break: past its "
        "context of %d tokens it reads the last %d to write the next, so a passage goes on as long as asked "
        "(microgpt sample --length N); a model that learned nothing would write gibberish.", run.lang)
        % (len(texts), closing_length(block), run.cfg.temperature, drawn_from(run, MOST_PASSAGES), block, block))


AXIS_FONT = 10  # px: svg .axis in STYLE


def label_width(text):
    """At most how wide a label is drawn at AXIS_FONT, with no browser to measure it: one em a character
    (the widest Latin letters, W and m, take nearly that in common sans-serif fonts), more for a wide
    East Asian one or an emoji."""
    return AXIS_FONT * sum(1.2 if unicodedata.east_asian_width(c) in "WF" else 1.0 for c in text)


def spaced(centres, sizes, gap):
    """Which labels to draw along an axis: from the first on, each that clears the last one drawn by `gap`."""
    kept, edge = [], -math.inf
    for i, (centre, size) in enumerate(zip(centres, sizes)):
        if centre - size / 2 >= edge + gap:
            kept.append(i)
            edge = centre + size / 2
    return kept


def heatmap(run, tokens, atts, layer, head, name):
    """One head's weights for one document: row t is position t reading, column s what it looks at.

    Every position has its row and column. Where the cells are smaller than the labels, a label is left
    out rather than drawn over its neighbour, and the margins make room for the widest one drawn."""
    T = len(tokens) - 1
    cell = max(6, min(16, 224 // max(T, 1)))
    labels = [label(run.tokenizer, t) for t in tokens[:T]]
    centres = [(s + 0.5) * cell for s in range(T)]
    rows = set(spaced(centres, [1.2 * AXIS_FONT] * T, 0))  # a line's height apart
    columns = set(spaced(centres, [label_width(ch) for ch in labels], 2))
    left, top = max([24] + [label_width(labels[s]) + 8 for s in rows]), 36
    parts = [svg.text(0, 12, tr("layer %d, head %d", run.lang) % (layer + 1, head + 1), class_="label")]
    for s, ch in enumerate(labels):
        if s in columns:
            parts.append(svg.text(left + centres[s], top - 6, ch, class_="axis", text_anchor="middle"))
        if s in rows:
            parts.append(svg.text(left - 5, top + centres[s] + 4, ch, class_="axis", text_anchor="end"))
    for t in range(T):
        for s in range(t + 1):
            w = atts[t][head][s]
            parts.append(svg.rect(left + s * cell, top + t * cell, cell, cell, svg.title(
                tr("%s (position %d) looks at %s (position %d): %.3f", run.lang) % (labels[t], t, labels[s], s, w)),
                fill=shade(w), data_t=t, data_s=s, data_w=repr(w)))
    last = max(columns)  # room for the right half of the last column's label
    width = int(math.ceil(max(left + T * cell + 4, left + centres[last] + label_width(labels[last]) / 2 + 2, 100)))
    return svg.figure(width, top + T * cell + 4, "".join(parts), class_="heatmap", data_doc=name, data_layer=layer,
                      data_head=head)


def attention_figure(run, readings, kind):
    lang = run.lang
    if not readings:
        return section("attention", tr("3. Attention", lang), '<p class="empty">%s</p>' % escape(
            tr("Nothing to show: %s.", lang) % tr(kind, lang)), "")
    blocks = []
    for doc, (tokens, _, atts) in list(readings.items())[:ATTENTION]:
        rows = "".join('<div class="heads">%s</div>' % "".join(heatmap(run, tokens, atts[layer], layer, h, doc)
                                                            for h in range(run.ck.model.n_head))
                       for layer in range(run.ck.model.n_layer))
        blocks.append('<div class="example"><h3>%s <small>(%s)</small></h3>%s</div>'
                      % (escape(display(doc, lang)), escape(tr(kind, lang)), rows))
    return section("attention", tr("3. Attention", lang), "".join(blocks), tr(
        "Each row is the model at one position of the text and each cell how much it looks back at an earlier one "
        "(%s is the start; darker means more, a row sums to 1, and nothing lies right of the diagonal because the "
        "model cannot see ahead): heads that look at different places have learned different jobs.", lang)
        % BOS_LABEL)


def kind_of(tokenizer, token):
    if token == tokenizer.bos:
        return "BOS"
    ch = token_text(tokenizer, token)
    if len(ch) != 1:  # a BPE token of several characters, or of part of one
        return "other"
    return "vowel" if ch in VOWELS else "consonant" if ch.isascii() and ch.isalpha() else "other"


KINDS = {"vowel": HELD_OUT, "consonant": "#3182bd", "BOS": "#222222", "other": LR}


def embedding_figure(run):
    offset, V, C = run.model.layout["wte"]
    try:
        X = centred([run.model.params[offset + r * C:offset + (r + 1) * C] for r in range(V)])
        axes, variances, total = principal_axes(X)
        coords = [[math.fsum(x * a for x, a in zip(row, axis)) for axis in axes] + [0.0] * (2 - len(axes))
                  for row in X]
    except (ArithmeticError, ValueError):  # weights so large that their squares overflow (inf - inf)
        coords, variances = [[math.inf]], []
    if not all(math.isfinite(v) for xy in coords for v in xy + variances):
        return section("embeddings", tr("4. Token embeddings", run.lang), '<p class="empty">%s</p>' % escape(tr(
            "Nothing to draw: the embeddings are too large for their variance to be a finite number.", run.lang)), "")
    share = ["%.0f%%" % (100 * v / total) if total > 0 else "-" for v in variances] + ["-"]
    (x0, x1), (y0, y1) = (svg.finite_range([xy[i] for xy in coords]) for i in (0, 1))
    px, py = 0.06 * (x1 - x0 or 1), 0.06 * (y1 - y0 or 1)
    sx, sy = svg.Scale(x0 - px, x1 + px, 64, 504), svg.Scale(y0 - py, y1 + py, 396, 12)
    parts = [svg.axes(sx, sy, tr("first principal direction (%s of the variance)", run.lang) % share[0],
                      tr("second (%s)", run.lang) % share[1])]
    kinds = [kind_of(run.tokenizer, t) for t in range(V)]
    drawn = list(range(V)) if V <= MOST_TOKENS else list(range(MOST_TOKENS - 1)) + [run.tokenizer.bos]
    for t in drawn:
        (x, y), kind = coords[t], kinds[t]
        name = label(run.tokenizer, t) if t != run.tokenizer.bos else "BOS"
        parts.append(svg.tag("g", svg.title("%s (%s): %.3f, %.3f" % (name, tr(kind, run.lang), x, y)) +
                             svg.tag("circle", cx=svg.num(sx(x)), cy=svg.num(sy(y)), r=4, fill=KINDS[kind]) +
                             svg.text(sx(x) + 6, sy(y) + 4, name, class_="point"),
                             class_="token", data_token=t, data_x=repr(x), data_y=repr(y)))
    body = legend([(KINDS[k], tr(k, run.lang), "dot") for k in KINDS if k in kinds]) + svg.figure(
        520, 440, "".join(parts), class_="scatter", data_axis1=reprs(axes[0]),
        data_axis2=reprs(axes[1]) if len(axes) > 1 else "")
    more = tr(" (the first %d of its %d tokens are drawn, and BOS)", run.lang) % (MOST_TOKENS - 1, V) \
        if V > MOST_TOKENS else ""
    return section("embeddings", tr("4. Token embeddings", run.lang), body,
                   embedding_caption(coords, kinds, C, run.lang) + more)


def embedding_caption(coords, kinds, C, lang="en"):
    words = tr("Each token is a point at its learned embedding (its row of wte, %d numbers) seen from the two "
               "directions along which the embeddings differ most, so tokens the model treats alike end up close "
               "together", lang) % C
    vowels = [xy for xy, k in zip(coords, kinds) if k == "vowel"]
    consonants = [xy for xy, k in zip(coords, kinds) if k == "consonant"]
    if len(vowels) < 2 or not consonants:
        return words + tr(".", lang)
    within = [math.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(vowels) for b in vowels[i + 1:]]
    across = [math.hypot(a[0] - b[0], a[1] - b[1]) for a in vowels for b in consonants]
    ratio = (math.fsum(across) / len(across)) / max(math.fsum(within) / len(within), 1e-300)
    if ratio > 1:
        return words + tr(": here the vowels sit %.1f times closer to each other than to the consonants, learned "
                          "from nothing but which characters follow which.", lang) % ratio
    return words + tr(": the vowels are not (yet) closer to each other than to the consonants.", lang)


def surprise_row(run, doc, tokens, probs):
    """`doc` as a row of boxes, one per predicted token, shaded by its -ln p."""
    uniform, box = math.log(run.tokenizer.vocab_size), 26
    losses = [surprise(p[tokens[t + 1]]) for t, p in enumerate(probs)]
    parts = []
    for t, loss in enumerate(losses):
        ch = label(run.tokenizer, tokens[t + 1])
        x = t * (box + 2)
        parts.append(svg.rect(x, 0, box, 30, svg.title(
            "p(%s | %s) = %.3f, -ln p = %.2f" % (ch, "".join(label(run.tokenizer, u) for u in tokens[:t + 1]),
                                                 probs[t][tokens[t + 1]], loss)),
            fill=shade(loss / uniform, (255, 245, 240), (165, 15, 21)), data_loss=repr(loss)))
        parts.append(svg.text(x + box / 2, 20, ch, class_="dark" if loss > 0.6 * uniform else "char",
                              text_anchor="middle"))
    mean = math.fsum(losses) / len(losses)
    parts.append(svg.text(len(losses) * (box + 2) + 8, 20, tr("%.2f nats per token", run.lang) % mean, class_="label"))
    return svg.figure(len(losses) * (box + 2) + 150, 32, "".join(parts), class_="surprise", data_doc=doc)


def top5(run, tokens, probs, t):
    """The five likeliest next tokens after tokens[:t + 1] as bars, the real next one in orange."""
    p, actual = probs[t], tokens[t + 1]
    best = sorted(range(len(p)), key=lambda i: (-p[i], i))[:5]
    context = "".join(label(run.tokenizer, u) for u in tokens[:t + 1])
    parts = [svg.text(0, 12, tr("after %s", run.lang) % context[-12:], class_="label")]
    for i, token in enumerate(best):
        y = 20 + i * 17
        parts.append(svg.text(14, y + 11, label(run.tokenizer, token), class_="token", text_anchor="end"))
        parts.append(svg.rect(18, y, max(1.0, 110 * p[token]), 14, svg.title("p = %.4f" % p[token]),
                              fill=HELD_OUT if token == actual else "#9e9e9e"))
        parts.append(svg.text(22 + 110 * p[token], y + 11, "%.0f%%" % (100 * p[token]), class_="tick"))
    if actual not in best:
        rank = 1 + sum(1 for q in p if q > p[actual])
        parts.append(svg.text(0, 118, tr("real next %s: %.1f%%, rank %d", run.lang) % (
            label(run.tokenizer, actual), 100 * p[actual], rank), class_="tick"))
    return svg.figure(170, 124, "".join(parts), class_="top5", data_t=t, data_top=" ".join(
        "%d:%r" % (token, p[token]) for token in best))


def surprise_figure(run, readings, kind):
    lang = run.lang
    if not readings:
        return section("surprise", tr("5. What surprises the model", lang), '<p class="empty">%s</p>'
                       % escape(tr("Nothing to show: %s.", lang) % tr(kind, lang)), "")
    uniform = math.log(run.tokenizer.vocab_size)
    rows = "".join('<div class="row"><span class="doc">%s</span>%s</div>'
                   % (escape(display(doc, lang)), surprise_row(run, doc, tokens, probs))
                   for doc, (tokens, probs, _) in readings.items())
    scale = "".join(svg.rect(i * 12, 0, 12, 14, fill=shade(i / 19, (255, 245, 240), (165, 15, 21)))
                    for i in range(20))
    scale += svg.text(0, 28, tr("0 (certain)", lang), class_="tick") + svg.text(
        240, 28, tr("%.2f = ln %d (blind guess)", lang) % (uniform, run.tokenizer.vocab_size), class_="tick",
        text_anchor="end")
    doc, (tokens, probs, _) = next(iter(readings.items()))
    bars = "".join(top5(run, tokens, probs, t) for t in range(len(probs)))
    body = ('<p class="legend">%s</p>%s%s<h3>%s</h3><div class="bars">%s</div>'
            % (escape(tr("Surprise of each character, -ln p (the %s ones; %s = the end):", lang) % (
                tr(kind, lang), BOS_LABEL)), svg.figure(240, 32, scale, class_="scale"), rows,
               escape(tr("The five likeliest next tokens at every position of %s", lang) % display(doc, lang)), bars))
    return section("surprise", tr("5. What surprises the model", lang), body, surprise_caption(run, readings))


def surprise_caption(run, readings):
    first, inside, end = [], [], []
    for tokens, probs, _ in readings.values():
        losses = [surprise(p[tokens[t + 1]]) for t, p in enumerate(probs)]
        first.append(losses[0])
        if tokens[-1] == run.tokenizer.bos and len(losses) > 1:  # not a document cut short by the context
            end.append(losses[-1])
            inside += losses[1:-1]
        else:
            inside += losses[1:]
    mean = [("%.2f" % (math.fsum(x) / len(x)) if x else "-") for x in (first, inside, end)]
    if run.text:
        return tr("Darker tokens surprised the model more (-ln p of that token given the ones before it in its "
                  "window, ln %d = %.2f being a blind guess): in these windows of the text the first prediction, "
                  "from one token of context, costs %s nats on average, the later ones, from more, %s; the bars "
                  "show what it expected instead.", run.lang) % (
            run.tokenizer.vocab_size, math.log(run.tokenizer.vocab_size), mean[0], mean[1])
    return tr("Darker characters surprised the model more (-ln p of that character given the ones before it, "
              "ln %d = %.2f being a blind guess): in these documents the first character costs %s nats on "
              "average, where anything could start, those inside %s, and the end %s; the bars show what it "
              "expected instead.", run.lang) % (run.tokenizer.vocab_size, math.log(run.tokenizer.vocab_size), *mean)


def table(rows, header=None, numeric=()):
    """An HTML table of text cells; the columns in `numeric` are right-aligned."""
    def cells(row, kind):
        return "".join('<%s%s>%s</%s>' % (kind, ' class="n"' if i in numeric else "", escape(str(c)), kind)
                       for i, c in enumerate(row))
    head = "<thead><tr>%s</tr></thead>" % cells(header, "th") if header else ""
    return "<table>%s<tbody>%s</tbody></table>" % (head, "".join("<tr>%s</tr>" % cells(r, "td") for r in rows))


def run_figure(run):
    cfg, default, ck, lang = run.cfg, TrainConfig(), run.ck, run.lang
    settings = [(f.name, tr("names (downloaded)", lang) if f.name == "data" and not cfg.data else getattr(cfg, f.name),
                 "" if getattr(cfg, f.name) == getattr(default, f.name) else tr("changed", lang)) for f in fields(cfg)]
    shapes = param_shapes(ck.model)
    counts = [(name, "%d x %d" % (rows, cols), rows * cols) for name, rows, cols in shapes]
    counts.append((tr("total", lang), "", sum(n for _, _, n in counts)))
    steps_per_s, tokens_per_s = speed(run)
    unknown = tr("unknown", lang)
    timing = [(tr("steps per second", lang), "%.1f" % steps_per_s if steps_per_s else
               tr("unknown (no training data)", lang)),
              (tr("tokens per second", lang), "%.0f" % tokens_per_s if tokens_per_s else unknown),
              (tr("training time", lang), tr("%.1f s over the logged steps", lang) % (run.ck.step / steps_per_s)
               if steps_per_s else unknown)]
    info = ck.data
    data = [(tr("file", lang), cfg.data or tr("names.txt (downloaded)", lang)),
            ("SHA-256", str(info.get("sha256", ""))[:16] + "..."),
            (tr("characters", lang), info["num_chars"]) if "num_chars" in info else
            (tr("documents", lang), info.get("num_docs", "")),
            (tr("vocabulary", lang), vocabulary(run.tokenizer, lang))]
    if run.dataset:
        d = run.dataset
        data.append((tr("split", lang), tr("%d training tokens, %d held out (%d windows)", lang) % (
            len(d.train_tokens), len(d.val_tokens), d.num_held_out) if run.text else
            tr("%d training, %d held out", lang) % (len(d.train_docs), len(d.val_docs))))
    else:
        data.append((tr("split", lang), tr("unknown: %s", lang) % run.why_no_data))
    command, other = command_line(cfg)
    headings = [escape(tr(words, lang)) for words in ("Config", "Parameters", "Speed", "Data",
                                                       "The command that makes this run again")]
    body = ('<div class="columns"><div><h3>%s</h3>%s</div><div><h3>%s</h3>%s<h3>%s</h3>%s'
            '<h3>%s</h3>%s</div></div><h3>%s</h3><pre><code>%s</code></pre>%s'
            % (headings[0], table(settings, (tr("field", lang), tr("value", lang), "")), headings[1],
               table(counts, (tr("matrix", lang), tr("shape", lang), tr("numbers", lang)), (2,)), headings[2],
               table(timing), headings[3], table(data), headings[4], escape(command),
               '<p class="note">%s</p>' % escape(tr("Not settable from the command line: %s.", lang)
                                                 % ", ".join(other)) if other else ""))
    return section("run", tr("6. The run", lang), body, tr(
        "Everything needed to repeat the run: the same command, with the same data file and seed, gives the very "
        "same numbers (only the speed differs from machine to machine).", lang))


# --------------------------------------------------------------------------------------------------
# the page

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", "DejaVu Sans",
       "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif;
       color: #222; background: #fff; max-width: 760px; margin: 1.5em auto; padding: 0 12px; line-height: 1.4; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { font-size: 1.2em; margin: 0 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; } h3 small { font-weight: normal; color: #666; }
.status { color: #444; margin: 0 0 .3em; } .live { color: #a63603; font-weight: bold; }
nav a { margin-right: .8em; color: #08519c; }
.figure { border-top: 1px solid #ddd; padding: 1em 0 .6em; }
.caption { color: #444; font-style: italic; margin: .5em 0 0; }
svg { max-width: 100%; height: auto; display: block; }
svg text { font-size: 11px; fill: #333; } svg .label { font-size: 12px; fill: #222; }
svg .tick { fill: #555; } svg .axis { font-size: 10px; } svg .token { font-size: 12px; } svg .point { font-size: 12px; }
svg .readout { font-size: 12px; fill: #000; } svg .onbar { font-size: 13px; fill: #fff; font-weight: bold; }
svg .char { font-size: 14px; } svg .dark { font-size: 14px; fill: #fff; }
.legend { font-size: .85em; color: #333; margin: .2em 0 .4em; }
.key { margin-right: 1.2em; white-space: nowrap; }
.swatch { display: inline-block; width: 18px; height: 0; border-top: 3px solid; vertical-align: middle;
          margin-right: .35em; } .swatch.dashed { border-top-style: dashed; }
.swatch.box { height: 12px; border: none; border-radius: 2px; }
.swatch.dot { width: 9px; height: 9px; border: none; border-radius: 50%; }
.samples { display: flex; flex-wrap: wrap; gap: 6px; padding: 0; margin: .4em 0 .6em; list-style: none; }
.samples li { padding: 2px 8px; border-radius: 3px; background: #eee; }
.samples li.new { background: #fdd0a2; } .samples li.seen { background: #c6dbef; }
.heads, .bars { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-start; }
.row { display: flex; align-items: center; margin: 4px 0; } .doc { width: 9em; flex: none; }
.columns { display: flex; flex-wrap: wrap; gap: 0 28px; }
table { border-collapse: collapse; font-size: .85em; } td, th { padding: 1px 8px 1px 0; text-align: left; }
th { border-bottom: 1px solid #ccc; } td.n, th.n { text-align: right; }
pre { background: #f4f4f4; padding: .5em; white-space: pre-wrap; word-break: break-all; }
pre.passage { font-size: .9em; margin: .3em 0 .6em; }
.empty, .note { color: #666; }
@media print {
  body { max-width: none; margin: 0; } nav, svg .readout, svg .cursor { display: none; }
  .figure { break-inside: avoid; } .example { break-inside: avoid; }
}
"""

# Hover: under the pointer, each chart's readout shows the values of its lines at the nearest logged step.
SCRIPT = """
document.querySelectorAll("svg.chart").forEach(function (chart) {
  var sx = chart.getAttribute("data-sx").split(" ").map(Number);
  var lines = Array.prototype.map.call(chart.querySelectorAll(".series"), function (el) {
    var xs = el.getAttribute("data-x"), ys = el.getAttribute("data-y");
    return {name: el.getAttribute("data-label"), x: xs ? xs.split(" ").map(Number) : [],
            y: ys ? ys.split(" ").map(Number) : []};
  });
  var readout = chart.querySelector(".readout"), cursor = chart.querySelector(".cursor");
  var at = chart.getAttribute("data-at") || "(step %s)";
  chart.addEventListener("mousemove", function (event) {
    var point = chart.createSVGPoint();
    point.x = event.clientX; point.y = event.clientY;
    point = point.matrixTransform(chart.getScreenCTM().inverse());
    var step = sx[0] + (point.x - sx[2]) * (sx[1] - sx[0]) / (sx[3] - sx[2]), words = [];
    lines.forEach(function (line) {
      if (!line.x.length) return;
      var lo = 0, hi = line.x.length - 1;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (line.x[mid] < step) lo = mid + 1; else hi = mid; }
      if (lo > 0 && step - line.x[lo - 1] < line.x[lo] - step) lo -= 1;
      words.push(line.name + " " + Number(line.y[lo].toPrecision(5)) + " " + at.replace("%s", line.x[lo]));
    });
    readout.textContent = words.join(", ");
    cursor.setAttribute("x1", point.x); cursor.setAttribute("x2", point.x);
    cursor.setAttribute("visibility", "visible");
  });
  chart.addEventListener("mouseleave", function () {
    readout.textContent = ""; cursor.setAttribute("visibility", "hidden");
  });
});
"""


def header(run):
    ck, cfg, lang = run.ck, run.cfg, run.lang
    held = series(run.metrics, "val_loss")
    if run.live:
        status = '<span class="live">%s</span> %s' % (
            escape(tr("Training: step %d of %d.", lang) % (ck.step, cfg.steps)),
            escape(tr("This page reloads every 5 seconds until the run ends.", lang)))
    elif ck.step >= cfg.steps:
        status = escape(tr("Complete: %d of %d steps.", lang) % (ck.step, cfg.steps))
    else:
        status = escape(tr("Stopped at step %d of %d (its last checkpoint); continue with %s.", lang)) % (
            ck.step, cfg.steps, "<code>microgpt train --resume %s</code>" % escape(run.path))
    facts = [tr("%d parameters", lang) % run.model.num_params, tr("vocabulary of %d", lang) % run.tokenizer.vocab_size]
    bpc = series(run.metrics, "val_bpc")
    if held:
        facts.append(tr("held-out loss %.4f at step %d", lang) % (held[-1][1], held[-1][0]) +
                     (tr(" (%.4f bits per character)", lang) % bpc[-1][1] if bpc and bpc[-1][0] == held[-1][0]
                      else ""))
    if run.bigram is not None:
        facts.append(tr("bigram %.4f", lang) % run.bigram)
    facts.append(tr("uniform %.4f", lang) % math.log(run.tokenizer.vocab_size))
    if run.seen is not None and run.samples:
        facts.append(tr("%d of %d samples new", lang) % (sum(1 for n in run.samples if n not in run.seen),
                                                         len(run.samples)))
    links = "".join('<a href="#%s">%s</a>' % (anchor, escape(tr(words, lang))) for anchor, words in (
        ("loss", "Loss"), ("samples", "Samples"), ("attention", "Attention"), ("embeddings", "Embeddings"),
        ("surprise", "Surprise"), ("run", "The run")))
    return ('<header><h1>%s</h1><p class="status">%s</p><p class="status">%s</p><nav>%s</nav></header>\n'
            % (escape(tr("MicroGPT run %s", lang)) % ("<code>%s</code>" % escape(run.path)), status,
               escape(" \u00b7 ".join(facts)), links))


def page(run):
    """The whole report as text, in the language run.lang: its headings, legends, captions and tooltips."""
    docs, kind = examples(run)
    try:
        readings = collections.OrderedDict((doc, read(run.model, tokens, run.decoder)) for doc, tokens in docs)
    except ArithmeticError as e:
        readings, kind = {}, str(e)
    if not docs:
        kind = "no documents to look inside (the training data is not there, and no sample has a character)"
    return "".join([
        '<!DOCTYPE html>\n<html lang="%s">\n<head>\n<meta charset="utf-8">\n' % escape(run.lang),
        RELOAD + "\n" if run.live else "",
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n" % (escape(tr("MicroGPT run %s", run.lang) % run.path),
                                                                     STYLE),
        header(run), loss_figure(run), samples_figure(run), attention_figure(run, readings, kind),
        embedding_figure(run), surprise_figure(run, readings, kind), run_figure(run),
        "<script>%s</script>\n</body>\n</html>\n" % SCRIPT])


def write(run):
    """Write run.path/report.html (atomically: a reader sees the old page or the new one). Returns its path.
    A report.html that no run wrote (the user's own, beside a checkpoint copied in) is never replaced."""
    path = os.path.join(run.path, REPORT)
    if os.path.lexists(path) and not looks_ours(path):
        raise MicroGPTError("%s is not a page MicroGPT wrote, and the report would replace it; nothing was written: "
                            "move it out of the folder, then run the report again" % path)
    text = page(run)
    try:
        write_atomic(path, text)
    except OSError as e:
        raise MicroGPTError("cannot write %s: %s" % (path, not_written(e)))
    return path


def stop_reloading(path):
    """The page written last, no longer reloading itself: for a run that ended before any checkpoint."""
    try:
        text = read_bytes(path, "report", 1 << 30).decode("utf-8")
    except (MicroGPTError, UnicodeDecodeError):  # gone, or not the page we wrote: nothing to stop
        return
    if RELOAD in text:
        write_atomic(path, text.replace(RELOAD + "\n", "", 1))


def from_training(training, final, warn=True):
    """train's hook: at an evaluation (final False) the page of the weights in memory, reloading itself;
    when the loop ends (final True) the page of the last checkpoint, no longer reloading. Returns the
    page's path, or None: no run directory, or writing failed (one warning line, unless `warn` is false:
    a run ending in an error says that error alone; the run goes on)."""
    run_dir = training.run
    if run_dir is None or (not final and training.step >= training.cfg.steps):
        return None  # not kept, or the final page follows at once
    try:
        run_dir.follow()  # the folder renamed meanwhile: its page goes with it
    except MicroGPTError:
        pass
    path = os.path.join(run_dir.path, REPORT)
    # A torch run's page reads and samples on torch, as its training printed them: a text's passages on the
    # fast engine re-run the whole context per token, minutes for a 4-layer, 128-wide model
    cfg = training.cfg
    try:
        if not final:
            return write(Run(run_dir.path, training.snapshot(), training.dataset, live=True, lang=training.lang,
                             decoder=getattr(training.compute, "decoder", None)))
        if run_dir.saved_step is None:
            stop_reloading(path)
            return None
        torch = (cfg.device, cfg.dtype) if cfg.engine == "torch" else None
        return write(load(run_dir.path, training.dataset, torch=torch, lang=training.lang))
    except Exception as e:  # a report is never worth the run: say why, and go on
        if warn:
            print(tr("warning: could not write the report %s: %s", training.lang) % (path, e), file=training.err)
        return None
