"""The command line: `microgpt [train|sample|report|bench|kernels|export|gradcheck] [flags]`. It fills a config and
calls the library; no logic here.

Errors the user can fix come back as MicroGPTError and are printed as one line on stderr (exit 1); a bad
flag is one line too (exit 2). Anything else is a bug and raises with its traceback.
"""

import sys

# The `microgpt` console script imports this module before calling main: a Ctrl-C during these imports
# (the first tenth of a second or so) ends, like any other, in one line and exit 130.
try:
    import argparse
    import os
    import signal

    from .. import __version__
    from ..config import BPE_VOCAB_SIZE, ENGINES, OPTIMIZERS, PRESETS, SCHEDULES, TOKENIZERS, TrainConfig
    from ..data import FORMATS
    from ..errors import MicroGPTError
    from . import cost, flags, messages, report, runs, sampling, training
    from .console import ignore_stops, like_ctrl_c, silence, stopped_by, write
    from .flags import COUNT_CAP, SEED, SIZE_CAP, add_torch_arguments, number, path, temperature, typed, workers_count
except KeyboardInterrupt:
    sys.stderr.write("%s: interrupted\n" % ("python -m microgpt" if sys.argv[0].endswith("__main__.py")
                                            else "microgpt"))
    raise SystemExit(130)

PROG = "microgpt"
COMMANDS = ("train", "sample", "bench", "kernels", "report", "export", "gradcheck")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit; we want one line and a code
        raise UsageError("%s (see %s --help)" % (message, self.prog))


def add_train(sub):
    d = TrainConfig()
    # flags not given stay out of the namespace (SUPPRESS), so --resume knows what the user asked to change
    p = sub.add_parser("train", help="train a model and print samples (the default command)",
                       description="Train a GPT on a text file (one document per line, or one continuous text), "
                                   "keep the run in a directory (checkpoint.json, metrics.jsonl, config.json) and "
                                   "print samples.",
                       argument_default=argparse.SUPPRESS)
    p.add_argument("--data", metavar="FILE", type=path("data file"),
                   help="a UTF-8 text file, or a dataset by name, downloaded once: names (the default) or "
                        "shakespeare (Tiny Shakespeare); a file called so is ./names, ./shakespeare")
    p.add_argument("--format", choices=FORMATS,
                   help="lines: each non-empty line is a document between BOS tokens; text: the file is one "
                        "stream of tokens, trained on in windows of block_size + 1 at random places, its last "
                        "--val-fraction held out; auto (default): text when more than half of the lines are "
                        "longer than block_size - 1 characters (they would not fit the context), and for --data "
                        "shakespeare; lines otherwise")
    g = p.add_argument_group("run directory")
    g.add_argument("--out", metavar="DIR", type=path("run directory"),
                   help="keep the run here (default: runs/<data file name>, e.g. runs/names; if that holds a run "
                        "already, runs/names-2, -3, ...)")
    g.add_argument("--overwrite", action="store_true", help="replace the run already in --out DIR")
    g.add_argument("--resume", metavar="DIR", type=path("run directory"),
                   help="continue the run in DIR from its checkpoint; only --steps, --engine, --device, --workers, "
                        "--dtype, --fast-math and the reporting flags may change")
    g.add_argument("--preset", choices=sorted(PRESETS),
                   help="a measured recipe, names-* for the names, shakespeare-10min for Tiny Shakespeare (--data FILE "
                        "trains the same on FILE); any flag given as well overrides it: %s"
                        % "; ".join("%s: %s" % (name, PRESETS[name][0]) for name in sorted(PRESETS)))
    add_tokenizer_flags(p)
    add_model_and_training_flags(p, d)
    add_reporting_flags(p, d)
    p.set_defaults(func=cmd_train)


def add_tokenizer_flags(p):
    g = p.add_argument_group("tokenizer")
    g.add_argument("--tokenizer", choices=TOKENIZERS,
                   help="char (default): a token for each character of the data; bpe: byte-level BPE learnt from "
                        "the training part, whose tokens are bytes and frequent runs of them, so any UTF-8 text "
                        "can be encoded")
    g.add_argument("--vocab-size", metavar="N", type=flags.limited("vocab_size", 257),
                   help="with --tokenizer bpe: tokens in all, the 256 bytes, the merges and BOS (default %d)"
                        % BPE_VOCAB_SIZE)


def add_model_and_training_flags(p, d):
    flags.add_model_arguments(p, d)
    n = dict(metavar="N")
    g = p.add_argument_group("training")
    g.add_argument("--steps", metavar="N", type=flags.limited("steps", 1),
                   help="optimizer steps in the whole run, the length of the lr schedule (default %s)" % d.steps)
    g.add_argument("--batch-size", type=flags.limited("batch_size", 1),
                   help="documents per step (default %s)" % d.batch_size, **n)
    g.add_argument("--lr", metavar="X", type=number(float, 0, low_open=True),
                   help="peak learning rate, decayed to 0 over the run (default %s)" % d.lr)
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="how lr decays to 0: linear (the reference's) or cosine (default %s)" % d.schedule)
    g.add_argument("--warmup", metavar="N", type=flags.limited("warmup", 0),
                   help="steps of linear warmup to the peak lr first (default %s)" % d.warmup)
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="(default %s)" % d.optimizer)
    g.add_argument("--val-fraction", metavar="X", type=number(float, 0, 0.99),
                   help="share of documents held out from training (default %s)" % d.val_fraction)
    g.add_argument("--engine", choices=sorted(ENGINES),
                   help="fast (default) or scalar: the same numbers, the scalar one ~5x slower; torch: PyTorch "
                        "(installed apart), on a GPU or across processes (torchrun)")
    g.add_argument("--workers", metavar="N", type=workers_count,
                   help="processes computing each step together, or 'auto' for one per usable core; any number "
                        "gives the same numbers (default %s)" % d.workers)
    g.add_argument("--fast-math", action="store_true",
                   help="fast engine, Python 3.12+: dot products of 32 or more terms by math.sumprod, ~1.2x faster "
                        "from 32 wide up; rounded otherwise (losses differ by ~1e-15), so off by default and on in "
                        "the presets where Python has it")
    g.add_argument("--no-fast-math", dest="fast_math", action="store_false",
                   help="the exact sums (the default; on --resume, turns --fast-math off)")
    add_torch_arguments(g)
    g.add_argument("--seed", metavar="N", type=SEED, help="random seed (default %s)" % d.seed)


def add_reporting_flags(p, d):
    n = dict(metavar="N")
    g = p.add_argument_group("reporting")
    g.add_argument("--log-every", type=flags.limited("log_every", 1),
                   help="print the loss every N steps (default %s)" % d.log_every,
                   **n)
    g.add_argument("--eval-every", metavar="N", type=flags.limited("eval_every", 0),
                   help="held-out loss every N steps, 0 = only at the end (default %s)" % d.eval_every)
    g.add_argument("--eval-docs", metavar="N", type=flags.limited("eval_docs", 0),
                   help="held-out documents for those evaluations, 0 = all; the final one always uses all "
                        "(default %s)" % d.eval_docs)
    g.add_argument("--save-every", metavar="N", type=flags.limited("save_every", 0),
                   help="checkpoint every N steps, 0 = only at the end and on Ctrl-C (default %s)" % d.save_every)
    g.add_argument("--quiet", action="store_true",
                   help="no progress on stderr (on --resume, for that resume only, like every reporting flag)")
    g.add_argument("--no-quiet", dest="quiet", action="store_false", help="progress on stderr (the default)")
    add_lang_flag(g)
    g = p.add_argument_group("sampling after training")
    g.add_argument("--temperature", metavar="X", type=temperature,
                   help="softmax temperature; 0 always takes the likeliest token (default %s)" % d.temperature)
    g.add_argument("--num-samples", metavar="N", type=flags.limited("num_samples", 0),
                   help="how many samples to write: documents, or passages of a text, 4 x block_size tokens each "
                        "(default %s)" % d.num_samples)


def cmd_train(args):
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.__dataclass_fields__}
    resume, preset = getattr(args, "resume", None), getattr(args, "preset", None)
    if resume is not None:
        if hasattr(args, "out") or hasattr(args, "overwrite") or preset:
            raise UsageError("--resume DIR continues the run in DIR; --out, --overwrite and --preset are for new runs")
        training.resume(resume, given, lang=messages.choose(getattr(args, "lang", None)))
        return 0
    if preset:
        from ..speed import fastmath
        from ..speed.workers import usable_cores
        recipe = PRESETS[preset][1]
        # the preset's workers are the fast and scalar engines' (the torch engine runs its processes under torchrun)
        if given.get("engine", recipe.get("engine")) != "torch":
            recipe = {**recipe, "workers": usable_cores()}
        if given.get("engine", recipe.get("engine", "fast")) == "fast" and fastmath.sumprod is not None:
            recipe = {**recipe, "fast_math": True}  # where this Python has math.sumprod (3.12+)
        given = {**recipe, **given}  # flags given override the preset
    cfg = TrainConfig(**given)
    try:
        cfg.validate()
    except MicroGPTError as e:  # flags that each make sense but not together: a usage error too
        raise UsageError(e)
    run_dir = getattr(args, "out", None) or runs.default_run_dir(cfg.data)
    kept = training.train(cfg, run_dir=run_dir, overwrite=getattr(args, "overwrite", False),
                          lang=messages.choose(getattr(args, "lang", None)))["run_dir"]
    if kept and not hasattr(args, "out"):  # a default folder, numbered when the first is taken: say where
        note = runs.where_it_went(kept, cfg.data)
        if note:
            print(note, flush=True)
    return 0


def add_sample(sub):
    p = sub.add_parser("sample", help="write samples from a trained model",
                       description="Load a checkpoint and write samples, each marked new or seen in the "
                                   "training data.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--run", metavar="DIR", type=path("run directory"),
                       help="run directory holding checkpoint.json (default: the run trained last under "
                            "runs/, else runs/names)")
    where.add_argument("--checkpoint", metavar="FILE", type=path("checkpoint file"), help="a checkpoint file")
    p.add_argument("--num-samples", metavar="N", type=number(int, 0, COUNT_CAP), default=None,
                   help="(default 20 documents, or 1 passage of a text)")
    p.add_argument("--temperature", metavar="X", type=temperature, default=0.5,
                   help="softmax temperature; 0 always takes the likeliest token (default %(default)s)")
    p.add_argument("--top-k", metavar="N", type=number(int, 0, SIZE_CAP), default=0,
                   help="draw only from the k likeliest tokens; 0 = all (default %(default)s)")
    p.add_argument("--prompt", metavar="TEXT", default="", type=typed, help="the start of every sample (default: none)")
    p.add_argument("--length", metavar="N", type=number(int, 1, COUNT_CAP), default=None,
                   help="a model of a text (format text) writes N tokens after the prompt, as long as asked: "
                        "past the context it reads the last block_size of them; each is printed as it comes "
                        "(default %d)" % sampling.TEXT_LENGTH)
    p.add_argument("--seed", metavar="N", type=SEED, default=None,
                   help="random seed (default: continue the checkpoint's random stream, which repeats the "
                        "samples its training run printed)")
    p.add_argument("--max-len", metavar="N", type=number(int, 1, SIZE_CAP), default=None,
                   help="most tokens per sample, prompt included: characters with the char tokenizer (default: "
                        "the context, block_size)")
    p.add_argument("--engine", choices=("fast", "torch"), default="fast",
                   help="fast (default) or torch, whichever engine trained the checkpoint")
    add_torch_arguments(p, "auto")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args):
    if args.engine != "torch" and (args.device, args.dtype) != ("auto", "auto"):
        raise UsageError("--device and --dtype are for --engine torch")
    path = sampling.checkpoint_path(args.run or runs.last_run(), args.checkpoint)
    sampling.sample_checkpoint(path, args.num_samples, args.temperature, args.top_k, args.prompt, args.seed,
                             args.max_len, engine=args.engine, device=args.device, dtype=args.dtype,
                             length=args.length)
    return 0


def add_report(sub):
    p = sub.add_parser("report", help="draw a run as one HTML page: loss, samples, attention, embeddings",
                       description="Write DIR/report.html: the run's loss curves, samples, attention heatmaps, "
                                   "token embeddings, per-character surprise and config, from its metrics and "
                                   "checkpoint. One self-contained file: open it in any browser, offline.")
    p.add_argument("dir", metavar="DIR", nargs="?", type=path("run directory"),
                   help="the run directory (default: the run trained last under runs/, else runs/names)")
    p.add_argument("--engine", choices=("fast", "torch"), default="fast",
                   help="what runs the report's forward passes and samples: fast (default) or torch, for models "
                        "too large for pure Python")
    add_torch_arguments(p, "auto")
    add_lang_flag(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args):
    if args.engine != "torch" and (args.device, args.dtype) != ("auto", "auto"):
        raise UsageError("--device and --dtype are for --engine torch")
    torch = (args.device, args.dtype) if args.engine == "torch" else None
    run = report.load(args.dir or runs.last_run(), torch=torch, lang=messages.choose(args.lang))
    print("report: %s" % report.write(run))
    return 0


def add_lang_flag(p):
    p.add_argument("--lang", choices=messages.LANGS,
                   help="the language of the report and of the progress and warnings on stderr: en or zh-CN "
                        "(Simplified Chinese); default: the locale's (LC_ALL, LC_MESSAGES, LANG: zh... is zh-CN), "
                        "else en. The lines on stdout are the same in both")


def add_bench(sub):
    from . import bench
    p = sub.add_parser("bench", help="time both engines on the default training run",
                       description="Benchmark the fast and scalar engines on the same training run.")
    bench.add_arguments(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args):
    from . import bench
    try:
        which = bench.kind(args)
    except MicroGPTError as e:  # flags that contradict each other, or one this benchmark would ignore
        raise UsageError(e)
    if which == "bench --engine torch":  # the torch engine against the fast one (torch_bench.py)
        from . import torch_bench
        return torch_bench.run(args)
    if which == "bench --compare":  # every engine and interpreter here (compare.py)
        from . import compare
        return compare.run(args)
    return bench.run(args)


def add_kernels(sub):
    p = sub.add_parser("kernels", help="print the generated code the fast engine runs for a model size",
                       description="Train one step and sample one name with a model of this size, then print "
                                   "the source of every kernel that generated (CPython only).")
    d = TrainConfig()
    for flag, low in (("--n-embd", 1), ("--n-head", 1), ("--n-layer", 1), ("--block-size", 2)):
        dest = flag[2:].replace("-", "_")
        p.add_argument(flag, metavar="N", type=number(int, low, SIZE_CAP), default=getattr(d, dest),
                       help="(default %(default)s)")
    p.add_argument("--vocab-size", metavar="N", type=number(int, 2, SIZE_CAP), default=27, help="(default %(default)s)")
    p.add_argument("--list", action="store_true", help="only the kernels' names and sizes")
    p.set_defaults(func=cmd_kernels)


def cmd_kernels(args):
    import random

    from ..data import Tokenizer
    from ..model import GPT, GPTConfig
    from ..sample import generate
    from ..speed import engine, kernels
    config = GPTConfig(vocab_size=args.vocab_size, n_layer=args.n_layer, n_embd=args.n_embd, n_head=args.n_head,
                       block_size=args.block_size)
    try:
        config.validate()
    except MicroGPTError as e:
        raise UsageError(e)
    if engine.default_math() is not kernels:
        raise MicroGPTError("kernels are generated on CPython only (and not with MICROGPT_KERNELS=0); this is "
                            "another interpreter")
    # one step on block_size documents of every length up to block_size, an evaluation and a sample build
    # every kernel the default engine runs for a model of this size
    cost.check_model(config, "generating the kernels", batch_size=config.block_size)
    model, bos = GPT(config, random.Random(0)), config.vocab_size - 1
    batch = [[bos] + [t % bos for t in range(n)] + [bos] for n in range(config.block_size)]
    engine.loss_and_grad(model, batch)
    engine.loss_only(model, batch)
    generate(model, Tokenizer([chr(97 + i) for i in range(bos)]), random.Random(0), decoder=engine.cached_decoder)
    for name, src in kernels.SOURCES.items():
        print("# %s: %d lines" % (name, src.count("\n")) if args.list else "# %s\n%s" % (name, src))
    print("# %d kernels" % len(kernels.SOURCES))
    return 0


def add_export(sub):
    about = ("Write the weights of a checkpoint as a .safetensors file, the model's configuration and vocabulary "
             "in its metadata. The JSON checkpoint stays the format of record.")
    p = sub.add_parser("export", help="write a run's weights in another format (safetensors)", description=about)
    p.add_argument("run", metavar="RUN", type=path("run directory or checkpoint file"),
                   help="a run directory (its checkpoint.json) or a checkpoint file")
    p.add_argument("--format", choices=("safetensors",), default="safetensors", help="(default %(default)s)")
    p.add_argument("--out", metavar="FILE", type=path("output file"),
                   help="(default: model.safetensors beside the checkpoint)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="F64 keeps every bit of the checkpoint; F32 halves the file (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.set_defaults(func=cmd_export)


def cmd_export(args):
    from . import export
    export.export(args.run, args.out, args.dtype, args.overwrite)
    return 0


def add_gradcheck(sub):
    p = sub.add_parser("gradcheck", help="check every engine's gradients against finite differences",
                       description="Build a model of this size and a tiny batch of random documents, and compare "
                                   "each engine's gradient of every weight matrix with central finite differences "
                                   "of the loss (docs/change-the-model.md). Exit 1 if one is off.",
                       argument_default=argparse.SUPPRESS)
    flags.add_model_arguments(p, TrainConfig())
    p.add_argument("--vocab-size", metavar="N", type=number(int, 2, SIZE_CAP), default=27,
                   help="tokens, BOS included (default %(default)s)")
    p.add_argument("--entries", metavar="N", type=number(int, 0, SIZE_CAP), default=10,
                   help="entries checked per matrix, drawn at random; 0 = all (default %(default)s)")
    p.add_argument("--seed", metavar="N", type=SEED,
                   help="random seed: weights, documents, entries (default %s)" % TrainConfig.seed)
    p.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args):
    from . import gradcheck
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in ("n_layer", "n_embd", "n_head", "block_size",
                                                                        "seed")})
    try:
        config = cfg.model_config(args.vocab_size).validate()
    except MicroGPTError as e:
        raise UsageError(e)
    return gradcheck.run(config, cfg.seed, args.entries)


def make_parser(prog=PROG):
    parser = Parser(prog=prog, description="MicroGPT: a GPT that trains and samples in pure Python.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_train(sub)
    add_sample(sub)
    add_report(sub)
    add_bench(sub)
    add_kernels(sub)
    add_export(sub)
    add_gradcheck(sub)
    return parser


def printable(stream):
    """A file name that is not valid UTF-8 reaches Python as lone surrogates (and so into every line that
    names it): such characters are printed as escapes rather than failing the print."""
    try:
        stream.reconfigure(errors="backslashreplace")
    except (AttributeError, ValueError, OSError):
        pass


def main(argv=None, prog=PROG):
    for name in ("stdout", "stderr"):  # started with the stream closed (`>&-`): as if its reader had gone
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    try:
        printable(sys.stdout)
        printable(sys.stderr)
        argv = list(sys.argv[1:] if argv is None else argv)
        if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
            argv = ["train"] + argv  # `microgpt` alone, or with only flags, trains
        parser = make_parser(prog)
        if argv[0] not in COMMANDS and not argv[0].startswith("-"):
            raise UsageError("unknown command %r: choose from %s (see %s --help)"
                             % (argv[0], ", ".join(COMMANDS), prog))
        args = parser.parse_args(argv)
        with like_ctrl_c():  # SIGTERM and SIGHUP save and stop as Ctrl-C does, and say so in one line
            return args.func(args)
    except UsageError as e:
        return tell("%s: error: %s" % (prog, e), 2)
    except MicroGPTError as e:
        return tell("%s: error: %s" % (prog, e), 1)
    except MemoryError:  # an estimate in cost.py let through a run this machine could not hold after all
        return tell("%s: error: out of memory: the machine could not give this run the memory it asked for; "
                    "choose a smaller model or batch (checkpoints already saved are kept as they were)" % prog, 1)
    except KeyboardInterrupt as e:  # console.Interrupted says what was saved
        e.prog = prog
        signum = getattr(e, "signum", signal.SIGINT)  # a Signalled, an Interrupted: SIGTERM and SIGHUP too
        return tell("%s: %s" % (prog, e if str(e) else stopped_by(signum)), 128 + signum)
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else 0
    except BrokenPipeError:  # the reader of a command's output left (`| head`); train and sample see to it themselves
        silence(sys.stdout)
        return 0
    except OSError as e:  # a file's error names its file and is caught where it is written: this is the output
        if e.filename is not None:
            raise
        silence(sys.stdout)
        return tell("%s: error: cannot write the output: %s" % (prog, e.strerror or e), 1)


def console():
    """The `microgpt` command (pyproject's console script): main(), after which Ctrl-C (and SIGTERM, SIGHUP)
    is ignored. The work is done by then, and a SIGINT during Python's own shutdown would end in a traceback."""
    try:
        code = main()
        ignore_stops()
    except KeyboardInterrupt:  # between main's return and the line after it
        code = tell("%s: interrupted" % PROG, 130)
    return code


def tell(line, code):
    """The one line of an error on stderr, then the exit code: even when stderr is gone too (main has
    made it print what it cannot encode as escapes: see printable). A newline or a terminal's escape code
    in a file name the line quotes is shown as an escape: one line, and nothing for the terminal to obey."""
    line = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in line)
    write(sys.stderr, line + "\n")
    return code
