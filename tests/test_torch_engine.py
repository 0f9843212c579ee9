"""The torch engine against the other engines, and as a tool: the same numbers, the same checkpoints, many
processes, the safetensors export, and one clear line without torch.

References: the scalar engine (gradients on random small models), optim.py (the update), the fast
engine's own output of the same command (the default run, checkpoints resumed across engines), the
checkpoint's floats read back by torch and by the safetensors package, a forward pass written here in
plain PyTorch from the exported file alone, and one process against two.
Tests that need torch skip without it; the CUDA ones skip without a GPU.
"""

import io
import json
import os
import random
import re
import signal
import socket
import stat
import struct
import subprocess
import sys

import pytest
import test_train
from conftest import ROOT, names_file
from test_checkpoint import make_checkpoint
from test_engine import SEEDS, assert_grads_close, close, random_case
from test_reference_run import PUBLISHED_SAMPLES, run_cli

from microgpt import scalar_engine, train
from microgpt.config import TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.optim import SGD, Adam
from microgpt.speed.engine import FastOps
from microgpt.tool import checkpoint, console, export, runs, training
from microgpt.tool.cli import main

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (pip install torch)")
needs_cuda = pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="no CUDA GPU here")
if torch is not None:
    from microgpt.speed import torch_engine


def small(data_path, **kw):
    return test_train.small(data_path, **dict(dict(batch_size=3), **kw))  # 3 documents: a stacked batch


def params_of(run_dir):
    return checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).params


# --------------------------------------------------------------------------------------------------
# the arithmetic

@needs_torch
@pytest.mark.parametrize("seed", SEEDS)
def test_logits_loss_and_every_gradient_agree_with_the_scalar_engine(seed):
    model, batch = random_case(seed)  # documents of different lengths, some cut at block_size: padding
    inputs = [tokens[:model.config.predictions(tokens)] for tokens in batch]
    flat = torch.tensor(model.params, dtype=torch.float64)
    ops = torch_engine.TorchOps(torch_engine.matrices(flat, model.layout))
    logits = ops.rows(model.forward(ops, inputs)).flatten().tolist()
    scalar = [v.data for row in model.forward(scalar_engine.ScalarOps(model), inputs) for v in row]
    assert len(logits) == len(scalar) and all(close(a, b) for a, b in zip(logits, scalar))
    loss_t, grads_t = torch_engine.loss_and_grad(model, batch)
    loss_s, grads_s = scalar_engine.loss_and_grad(model, batch)
    assert close(loss_t, loss_s)
    assert_grads_close(grads_t, grads_s)
    assert any(g != 0 for g in grads_t)


@needs_torch
@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_the_optimizer_in_torch_is_optim_py(name):
    rng = random.Random(name)
    n = 300
    params = [rng.gauss(0, 0.1) for _ in range(n)]
    ours = Adam(n) if name == "adam" else SGD()
    cfg = TrainConfig()
    flat = torch.tensor(params, dtype=torch.float64)
    theirs = torch_engine.torch_optimizer(cfg, ours, flat)
    for step in range(5):
        grads = [rng.gauss(0, 1) * 10 ** rng.randint(-8, 2) for _ in range(n)]  # wide range of scales
        ours.step(params, grads, 0.01 * (1 - step / 5))
        theirs.step(flat, torch.tensor(grads, dtype=torch.float64), 0.01 * (1 - step / 5))
    if name == "sgd":
        assert flat.tolist() == params
        return
    # the moments to the bit; the update to the last bit only, because torch.sqrt is not correctly rounded
    # on every CPU (this build's vectorized sqrt misses math.sqrt's answer by one ulp for ~1% of inputs)
    assert theirs.state() == ours.state()
    assert all(abs(a - b) <= 1e-15 * abs(b) for a, b in zip(flat.tolist(), params))


# --------------------------------------------------------------------------------------------------
# the default run: the same printed output as the fast engine's

@needs_torch
def test_the_default_run_prints_the_fast_engines_losses_and_names(tmp_path):
    names = names_file()
    printed = {}
    for engine in ("fast", "torch"):
        (tmp_path / engine).mkdir()
        code, lines, err = run_cli(["--data", names, "--engine", engine, "--quiet"], tmp_path / engine)
        assert code == 0, err
        printed[engine] = lines
    fast, torch_ = printed["fast"], printed["torch"]
    assert "engine: torch %s on cpu, float64, 1 thread" % torch.__version__ in torch_
    differ = [(a, b) for a, b in zip(fast, [l for l in torch_ if not l.startswith("engine: ")]) if a != b]
    # only the config line names another engine
    assert [a.split(" engine=")[1].split()[0] for a, _ in differ] == ["fast"] and len(differ) == 1
    assert len(fast) == len(torch_) - 1
    # and they are Karpathy's published ones (as test_reference_run holds the fast engine to)
    steps = [line for line in torch_ if line.startswith("step ")]
    assert len(steps) == 1000 and steps[0].endswith("loss 3.3660") and steps[-1].endswith("loss 2.6497")
    assert [line for line in torch_ if line.startswith("sample ")] == \
        ["sample %2d: %s" % (i + 1, name) for i, name in enumerate(PUBLISHED_SAMPLES)]
    assert sum(1 for line in torch_ if line.startswith("eval ")) == 4


@needs_torch
def test_a_diverging_run_stops_where_the_fast_engine_stops(tmp_path, tiny):
    # lr 1000: a target's probability underflows to 0 at step 2 on the fast engine; torch must see it too
    errors = []
    for engine in ("fast", "torch"):
        run_dir = str(tmp_path / engine)
        with pytest.raises(MicroGPTError, match="training diverged") as e:
            training.train(small(tiny, engine=engine, lr=1e3, save_every=1, num_samples=0), out=io.StringIO(),
                        run_dir=run_dir)
        errors.append(str(e.value).replace(run_dir, "DIR"))
        assert checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT)).step == 1  # the last good one stays
    assert errors[0] == errors[1] and "the loss became inf at step 2" in errors[0]


# --------------------------------------------------------------------------------------------------
# checkpoints: one format for every engine

def sigint_at(n, real):
    """A Compute's train method that, at its n-th step, sends this process a real SIGINT (as Ctrl-C would)."""
    calls = []

    def train_step(compute, batch, lr):
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGINT)
        return real(compute, batch, lr)
    return train_step


def interrupted_run(tiny, run_dir, engine, monkeypatch):
    """A run of small(tiny) on `engine`, stopped by Ctrl-C after step 10, its checkpoint saved."""
    owner = torch_engine.TorchCompute if engine == "torch" else train.Compute
    monkeypatch.setattr(owner, "train", sigint_at(10, owner.train))
    with pytest.raises(console.Interrupted, match="interrupted at step 10 of 24; checkpoint saved"):
        training.train(small(tiny, engine=engine), out=io.StringIO(), run_dir=run_dir)
    monkeypatch.undo()


@needs_torch
def test_torch_resumes_torch_to_the_bit(tmp_path, tiny, monkeypatch):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    done = training.train(small(tiny, engine="torch"), out=io.StringIO(), run_dir=straight)
    interrupted_run(tiny, split, "torch", monkeypatch)
    resumed = training.resume(split, out=io.StringIO())
    with open(os.path.join(straight, runs.CHECKPOINT), "rb") as a, \
            open(os.path.join(split, runs.CHECKPOINT), "rb") as b:
        assert a.read() == b.read()  # weights, Adam's moments, random stream: byte for byte
    assert done["losses"][10:] == resumed["losses"] and done["samples"] == resumed["samples"]


@needs_torch
@pytest.mark.parametrize("first, then", [("torch", "fast"), ("fast", "torch")])
def test_a_checkpoint_moves_between_engines(tmp_path, tiny, monkeypatch, first, then):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    done = training.train(small(tiny, engine=first), out=io.StringIO(), run_dir=straight)
    interrupted_run(tiny, split, first, monkeypatch)
    out = io.StringIO()
    resumed = training.resume(split, {"engine": then}, out=out)
    assert "engine=%s" % then in out.getvalue()
    assert checkpoint.load(os.path.join(split, runs.CHECKPOINT)).config.engine == then
    # the same run to rounding: the engines sum in different orders, ~1e-16 per operation
    a, b = params_of(straight), params_of(split)
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-12 and a != make_checkpoint().params
    assert all(abs(x - y) < 1e-12 for x, y in zip(done["losses"][10:], resumed["losses"]))
    assert done["samples"] == resumed["samples"]


@needs_torch
def test_sample_reads_a_torch_checkpoint_on_either_engine(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    done = training.train(small(tiny, engine="torch", num_samples=8), out=io.StringIO(), run_dir=run_dir)
    names = {}
    for engine in ("fast", "torch"):
        code, lines, err = run_cli(["sample", "--run", run_dir, "--engine", engine, "--num-samples", "8"], tmp_path)
        assert code == 0, err
        names[engine] = [line.split(": ", 1)[1].rsplit("  ", 1)[0] for line in lines if line.startswith("sample ")]
    assert names["fast"] == names["torch"] == done["samples"]  # the checkpoint's random stream goes on


@needs_torch
def test_the_report_on_torch_draws_the_fast_engines_numbers(tmp_path, tiny):
    # its forward passes and samples on PyTorch: every attention weight and probability to float rounding
    run_dir = str(tmp_path / "run")
    training.train(small(tiny, num_samples=5), out=io.StringIO(), run_dir=run_dir)
    pages = {}
    for engine in ("fast", "torch"):
        code, lines, err = run_cli(["report", run_dir, "--engine", engine], tmp_path)
        assert code == 0, err
        with open(os.path.join(run_dir, "report.html"), encoding="utf-8") as f:
            pages[engine] = f.read()
    number = re.compile(r"-?\d+\.\d{8,}(?:e[+-]?\d+)?")  # the numbers written in full precision
    fast, torch_ = number.findall(pages["fast"]), number.findall(pages["torch"])
    assert len(fast) == len(torch_) > 100
    assert all(abs(float(a) - float(b)) <= 1e-12 for a, b in zip(fast, torch_))
    assert number.sub("", pages["fast"]) == number.sub("", pages["torch"])  # and all else, samples included


@needs_torch
def test_a_torch_run_draws_its_pages_on_torch(tmp_path, tiny, monkeypatch):
    # a text's passages re-run the context per token: on the fast engine minutes for a model torch trains in
    # seconds, so neither the pages at the evaluations nor the last one may fall back to it
    from microgpt.tool import report

    def refuse(model):
        raise RuntimeError("the fast engine's decoder, in a torch run")
    monkeypatch.setattr(report.engine, "cached_decoder", refuse)
    err, run_dir = io.StringIO(), str(tmp_path / "run")
    training.train(small(tiny, engine="torch", format="text", block_size=8, steps=6, eval_every=3, save_every=0),
                   out=io.StringIO(), err=err, run_dir=run_dir)
    assert "report" not in err.getvalue()  # no 'warning: could not write the report'
    with open(os.path.join(run_dir, "report.html"), encoding="utf-8") as f:
        assert "refresh" not in f.read()  # the last page, no longer reloading


# --------------------------------------------------------------------------------------------------
# safetensors

def read_safetensors(blob):
    """(header, {name: torch tensor}) parsed by hand from the format's definition, read with torch.frombuffer."""
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = bytearray(blob[8 + n:])
    kinds = {"F64": torch.float64, "F32": torch.float32}
    tensors, end = {}, 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, stop = t["data_offsets"]
        assert begin == end  # one after another, no gaps
        end = stop
        tensors[name] = torch.frombuffer(data[begin:stop], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    assert end == len(data) and (8 + n) % 8 == 0
    return header, tensors


def expected_tensors(ck, dtype):
    out, offset = {}, 0
    for name, rows, cols in checkpoint.param_shapes(ck.model):
        out[name] = torch.tensor(ck.params[offset:offset + rows * cols], dtype=torch.float64).reshape(rows, cols)
        out[name] = out[name].to(dtype)
        offset += rows * cols
    return out


@needs_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_safetensors_holds_the_checkpoints_tensors_bit_for_bit(dtype):
    ck = make_checkpoint(n_layer=2)  # subnormals, -0.0, the float64 extremes among the weights
    if dtype == "float32":
        ck.params[:] = [x if abs(x) < 1e38 else 1.0 for x in ck.params]  # beyond float32: refused (below)
    header, tensors = read_safetensors(export.safetensors_bytes(ck, dtype))
    want = expected_tensors(ck, getattr(torch, dtype))
    assert list(tensors) == list(want)  # init order: wte, wpe, lm_head, layer0.attn_wq, ...
    for name in want:
        assert tensors[name].dtype == want[name].dtype and tensors[name].shape == want[name].shape
        assert tensors[name].numpy().tobytes() == want[name].numpy().tobytes()  # bits, -0.0 and all
    meta = header["__metadata__"]
    assert all(isinstance(v, str) for v in meta.values())
    assert (int(meta["n_layer"]), int(meta["n_embd"]), int(meta["vocab_size"])) == (2, 8, 5)
    assert json.loads(meta["vocab"]) == ck.vocab and int(meta["bos"]) == len(ck.vocab)


@needs_torch
def test_safetensors_loads_with_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.torch", reason="the safetensors package is not installed")
    from safetensors import safe_open
    ck = make_checkpoint()
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, ck)
    out = export.export(path, say=lambda line: None)
    assert out == str(tmp_path / "model.safetensors")
    loaded = st.load_file(out)
    want = expected_tensors(ck, torch.float64)
    assert set(loaded) == set(want)
    assert all(loaded[k].numpy().tobytes() == want[k].numpy().tobytes() for k in want)
    with safe_open(out, framework="pt") as f:
        assert f.metadata()["n_embd"] == "8" and f.metadata()["step"] == "1"


def plain_forward(w, meta, tokens):
    """The model written out in plain PyTorch from the exported file alone (as docs/torch.md shows it):
    one document, no padding, none of this package's code. (T,) token ids -> (T, V) logits."""
    T, n_head = len(tokens), int(meta["n_head"])

    def rmsnorm(x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + 1e-5)
    x = rmsnorm(w["wte"][tokens] + w["wpe"][:T])
    for i in range(int(meta["n_layer"])):
        p = "layer%d." % i
        h = rmsnorm(x)
        q, k, v = (h @ w[p + n].T for n in ("attn_wq", "attn_wk", "attn_wv"))
        hs = q.shape[1] // n_head
        q, k, v = (t.view(T, n_head, hs).transpose(0, 1) for t in (q, k, v))  # (nh, T, hs)
        att = (q @ k.transpose(1, 2)) * hs ** -0.5
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
        x = x + (att @ v).transpose(0, 1).reshape(T, -1) @ w[p + "attn_wo"].T
        x = x + torch.relu(rmsnorm(x) @ w[p + "mlp_fc1"].T) @ w[p + "mlp_fc2"].T
    return x @ w["lm_head"].T


@needs_torch
def test_the_exported_weights_run_in_plain_pytorch(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    done = training.train(small(tiny, steps=3, n_layer=2, num_samples=0), out=io.StringIO(), run_dir=run_dir)
    header, w = read_safetensors(export.safetensors_bytes(checkpoint.load(os.path.join(run_dir, runs.CHECKPOINT))))
    model, bos = done["model"], done["tokenizer"].bos
    for tokens in ([bos], [bos, 4, 12, 12, 0], [bos] + list(range(15))):
        ours = model.forward(FastOps(model, grad=False), [tokens]).data
        theirs = plain_forward(w, header["__metadata__"], torch.tensor(tokens)).flatten().tolist()
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-12


def test_export_refuses_to_replace_a_file_and_float32_overflow(tmp_path, capsys):
    ck = make_checkpoint()
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, ck)
    (tmp_path / "mine.bin").write_bytes(b"keep me")
    code = main(["export", path, "--out", str(tmp_path / "mine.bin")])
    assert code == 1 and "already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "mine.bin").read_bytes() == b"keep me"
    assert main(["export", path, "--out", str(tmp_path / "mine.bin"), "--overwrite"]) == 0
    assert (tmp_path / "mine.bin").read_bytes() == export.safetensors_bytes(ck)
    code = main(["export", path, "--out", str(tmp_path / "f32.bin"), "--dtype", "float32"])  # 1.8e308 in there
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "too large for float32" in err
    assert not (tmp_path / "f32.bin").exists()


def test_export_never_replaces_its_own_checkpoint_nor_a_special_file(tmp_path, capsys):
    ck = make_checkpoint()
    path = str(tmp_path / "ck.json")
    checkpoint.save(path, ck)
    before = (tmp_path / "ck.json").read_bytes()
    os.symlink(path, str(tmp_path / "link.json"))
    fifo, sock = str(tmp_path / "pipe"), socket.socket(socket.AF_UNIX)
    os.mkfifo(fifo)
    sock.bind(str(tmp_path / "sock"))  # special files of our own: a regression must not replace /dev/null
    for out, says in ((path, "is the checkpoint being exported"),  # --overwrite or not: the format of record
                      (str(tmp_path / "link.json"), "is the checkpoint being exported"),
                      (os.path.join(str(tmp_path), ".", "ck.json"), "is the checkpoint being exported"),
                      (fifo, "is not a regular file"), (str(tmp_path / "sock"), "is not a regular file")):
        assert main(["export", path, "--out", out, "--overwrite"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
    assert (tmp_path / "ck.json").read_bytes() == before and os.path.islink(str(tmp_path / "link.json"))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISSOCK(os.stat(str(tmp_path / "sock")).st_mode)
    sock.close()
    assert main(["export", fifo]) == 1  # a FIFO to read from: refused as not a checkpoint file, not waited on
    assert "is a named pipe (FIFO), not a checkpoint file" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# many processes

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_torch
def test_two_gloo_processes_train_as_one_process_with_the_same_global_batch(tmp_path, tiny):
    flags = ["train", "--engine", "torch", "--data", tiny, "--steps", "6", "--batch-size", "5", "--eval-every",
             "3", "--num-samples", "3", "--quiet"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr",
                           "127.0.0.1", "--master_port", str(free_port()), "-m", "microgpt"] + flags
                          + ["--out", "ddp"], cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, one, err = run_cli(flags + ["--out", "one"], tmp_path)
    assert code == 0, err
    two = proc.stdout.splitlines()
    assert "engine: torch %s on cpu, float64, 1 thread, 2 processes (gloo)" % torch.__version__ in two
    # rank 0 alone printed and wrote: the same lines as one process, once each, one record per step
    assert [l for l in two if not l.startswith(("engine:", "run dir:", "saved:", "report:"))] == \
        [l for l in one if not l.startswith(("engine:", "run dir:", "saved:", "report:"))]
    with open(str(tmp_path / "ddp" / runs.METRICS)) as f:
        steps = [json.loads(line)["step"] for line in f if '"loss"' in line]
    assert steps == [1, 2, 3, 4, 5, 6]
    a, b = params_of(str(tmp_path / "ddp")), params_of(str(tmp_path / "one"))
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-12


def test_several_processes_need_the_torch_engine_and_a_document_each(tiny, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(MicroGPTError, match="2 processes .torchrun. need --engine torch"):
        training.train(small(tiny), out=io.StringIO())
    if torch is not None:
        with pytest.raises(MicroGPTError, match="--batch-size 1 is less than the 2 processes"):
            training.train(small(tiny, engine="torch", batch_size=1), out=io.StringIO())


# --------------------------------------------------------------------------------------------------
# without torch, with flags it cannot use

NO_TORCH = "import sys; sys.modules['torch'] = None; from microgpt.tool.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("argv", [["train", "--engine", "torch", "--steps", "1"],
                                  ["sample", "--engine", "torch"], ["bench", "--engine", "torch"]])
def test_without_torch_the_torch_engine_is_one_line_naming_the_install(tmp_path, tiny, argv):
    ck = make_checkpoint()
    checkpoint.save(str(tmp_path / "ck.json"), ck)
    argv = argv + (["--checkpoint", str(tmp_path / "ck.json")] if argv[0] == "sample" else ["--data", tiny])
    proc = subprocess.run([sys.executable, "-c", NO_TORCH] + argv, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONPATH=ROOT),
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "pip install 'microgpt-textbook[torch]'" in proc.stderr
    assert not os.path.exists(str(tmp_path / "runs"))  # failed before making a run directory


def test_device_and_dtype_are_flags_of_the_torch_engine(tmp_path, tiny, capsys):
    assert main(["train", "--data", tiny, "--device", "cuda", "--steps", "1"]) == 2
    assert "device cuda needs engine torch" in capsys.readouterr().err
    assert main(["sample", "--device", "cpu"]) == 2
    assert "--device and --dtype are for --engine torch" in capsys.readouterr().err


@needs_torch
def test_a_device_this_machine_lacks_is_one_line(tmp_path, tiny, capsys):
    for device in ("cuda", "mps"):
        if (device == "cuda" and torch.cuda.is_available()) or (device == "mps" and torch.backends.mps.is_available()):
            continue
        code = main(["train", "--engine", "torch", "--device", device, "--data", tiny, "--steps", "1",
                     "--out", str(tmp_path / device)])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "sees no" in err
        assert not os.path.exists(str(tmp_path / device))


# --------------------------------------------------------------------------------------------------
# GPUs (skipped here: this machine has none)

@needs_cuda
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-4)])
def test_cuda_trains_as_the_cpu_does(tmp_path, tiny, dtype, tol):
    cpu = training.train(small(tiny, engine="torch", device="cpu"), out=io.StringIO())
    gpu_dir = str(tmp_path / "gpu")
    gpu = training.train(small(tiny, engine="torch", device="cuda", dtype=dtype), out=io.StringIO(), run_dir=gpu_dir)
    assert max(abs(a - b) for a, b in zip(cpu["losses"], gpu["losses"])) < tol
    # a GPU run resumes on the CPU, in the other engines' float64
    training.resume(gpu_dir, {"engine": "fast", "steps": 30}, out=io.StringIO())
    assert checkpoint.load(os.path.join(gpu_dir, runs.CHECKPOINT)).step == 30


@needs_cuda
def test_cuda_samples_the_cpus_names(tmp_path, tiny):
    run_dir = str(tmp_path / "run")
    training.train(small(tiny, engine="torch", device="cpu"), out=io.StringIO(), run_dir=run_dir)
    names = []
    for device in ("cpu", "cuda"):
        code, lines, err = run_cli(["sample", "--run", run_dir, "--engine", "torch", "--device", device,
                                    "--dtype", "float64"], tmp_path)
        assert code == 0, err
        names.append([line for line in lines if line.startswith("sample ")])
    assert names[0] == names[1]
