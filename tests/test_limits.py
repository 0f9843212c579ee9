"""One set of limits for a run's whole numbers (config.LIMITS): what the command line accepts, the config
check passes and a checkpoint holding it loads; one more is refused by all three, before any work."""

import json
import os

import pytest
from conftest import first_names

from microgpt.config import LIMITS, TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.speed.workers import usable_cores
from microgpt.tool import checkpoint, runs
from microgpt.tool.cli import UsageError, main, make_parser

# the run's numbers a checkpoint keeps as they were given (its model sizes must match its weights too, and
# the cost check refuses a model anywhere near their limits first)
KEPT = ("steps", "warmup", "batch_size", "seed", "workers", "log_every", "eval_every", "eval_docs", "save_every",
        "num_samples")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small run's checkpoint, as JSON."""
    folder = tmp_path_factory.mktemp("limits")
    assert main(["--data", first_names(folder, 300), "--out", str(folder / "run"), "--steps", "2", "--n-embd", "8",
                 "--n-head", "2", "--num-samples", "0", "--quiet"]) == 0
    with open(str(folder / "run" / runs.CHECKPOINT)) as f:
        return json.load(f)


def flag_accepts(name, value):
    try:
        args = make_parser().parse_args(["train", "--" + name.replace("_", "-"), str(value)])
    except UsageError:
        return False
    assert getattr(args, name) == value
    return True


def config_accepts(name, value):
    try:
        TrainConfig(**dict({"steps": LIMITS["steps"]}, **{name: value})).validate()  # room for any warmup
    except MicroGPTError:
        return False
    return True


def loads(saved, name, value):
    doc = json.loads(json.dumps(saved))
    doc["config"].update({"steps": LIMITS["steps"]}, **{name: value})
    try:
        checkpoint.parse(doc)
    except MicroGPTError as e:
        assert str(e).startswith("config.%s must be " % name), e
        return False
    return True


@pytest.mark.parametrize("name", KEPT)
def test_what_a_flag_accepts_a_checkpoint_holds_and_one_more_neither(saved, name):
    most = LIMITS[name]
    # workers: no more than four per core on the command line, within the limit every machine shares
    flag_most = min(4 * usable_cores(), most) if name == "workers" else most
    assert flag_accepts(name, flag_most) and not flag_accepts(name, flag_most + 1)
    assert config_accepts(name, most) and not config_accepts(name, most + 1)
    assert loads(saved, name, most) and not loads(saved, name, most + 1)
    if name == "seed":  # its size, either side of 0
        assert flag_accepts(name, -most) and not flag_accepts(name, -most - 1)
        assert loads(saved, name, -most) and not loads(saved, name, -most - 1)


@pytest.mark.parametrize("flags, says", [
    (["--data", "DATA", "--out", "run", "--batch-size", "70000", "--steps", "1"],
     "argument --batch-size: 70000 is out of range: must be at most 65536"),
    (["--resume", "run", "--steps", str(2 * 10 ** 9)],
     "argument --steps: 2000000000 is out of range: must be at most 1000000000")])
def test_a_number_the_checkpoint_could_not_hold_is_refused_before_any_work(tmp_path, capsys, flags, says):
    # the batch trained and saved, then `sample` called its checkpoint damaged; so did a long run stopped early
    data, out = first_names(tmp_path, 300), str(tmp_path / "run")
    assert main([data if f == "DATA" else out if f == "run" else f for f in flags] + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not os.path.exists(out)
    with pytest.raises(MicroGPTError, match="batch_size must be at most 65536, got 70000"):
        TrainConfig(batch_size=70000).validate()  # and as a library: train() validates first
