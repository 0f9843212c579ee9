"""Bounds whatever the data (issue 18): one very long document among short ones is costed by its own
length and framed a context at a time; the report's size has a ceiling; the download's deadline covers
the name lookup; a worker stopped in the middle of sending its gradients cannot hang the run."""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, first_names

from microgpt import data
from microgpt.bpe import BPETokenizer
from microgpt.config import TrainConfig
from microgpt.errors import MicroGPTError
from microgpt.model import GPT
from microgpt.scalar_engine import loss_only
from microgpt.tool import cost, download, report
from microgpt.tool.cli import main
from microgpt.tool.files import read_dataset


def with_long_line(folder, length, n=300):
    """A data file of n names and one line of `length` characters, the alphabet over and over."""
    path = first_names(folder, n)
    with open(path, "a", encoding="utf-8") as f:
        f.write(("abcdefghijklmnopqrstuvwxyz" * (length // 26 + 1))[:length] + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# one very long document

def test_the_memory_check_counts_the_longest_document(tmp_path, monkeypatch):
    """A 3000-character line among names: the mean document is ~8 positions, but the shard that holds the
    line keeps a tape of 3001 positions, with attention weights growing as their square."""
    cfg = TrainConfig(data=with_long_line(tmp_path, 3000), block_size=4096, val_fraction=0, format="lines")
    dataset = read_dataset(cfg.data, random.Random(cfg.seed), cfg.val_fraction, format="lines",
                           block_size=cfg.block_size)
    config = cfg.model_config(dataset.tokenizer.vocab_size)
    mean = sum(len(d) + 1 for d in dataset.train_docs) / len(dataset.train_docs)
    by_mean = cost.training_memory(config, cfg.batch_size, round(mean))
    by_longest = cost.training_memory(config, cfg.batch_size, 3001)
    assert by_longest > 2 * by_mean
    monkeypatch.setattr(cost, "physical_memory", lambda: (by_mean + by_longest) // 2)
    with pytest.raises(MicroGPTError, match="would need about"):
        cost.check_dataset(cfg, dataset)
    monkeypatch.setattr(cost, "physical_memory", lambda: 2 * by_longest)
    cost.check_dataset(cfg, dataset)  # and with the memory it needs, it goes on


class Counting:
    """A tokenizer's encode that notes the length of every text it is given."""

    def __init__(self, monkeypatch, cls):
        self.lengths, real = [], cls.encode

        def encode(tokenizer, text):
            self.lengths.append(len(text))
            return real(tokenizer, text)
        monkeypatch.setattr(cls, "encode", encode)


@pytest.mark.parametrize("kind", ["characters", "bpe"])
def test_a_step_frames_only_the_context_of_a_long_document(tmp_path, monkeypatch, kind):
    """A line of a million characters, trained with block_size 16: each step reads 17 of its tokens, and
    frames no more than that (BPE, which may merge across any cut, frames it whole once). The framed
    batch is the whole framing cut where the model stops reading it: the same loss, to the bit."""
    path = with_long_line(tmp_path, 10 ** 6, n=20)
    B = 16
    tokenizer = BPETokenizer([(97, 98), (256, 99)]) if kind == "bpe" else None
    dataset = read_dataset(path, random.Random(0), 0.0, format="lines", block_size=B, tokenizer=tokenizer)
    long_doc = max(dataset.train_docs, key=len)
    counting = Counting(monkeypatch, type(dataset.tokenizer))
    batches = [dataset.batch(step, 7) for step in range(9)]  # 63 documents: the 21 three times over
    assert max(counting.lengths) <= B if kind == "characters" else counting.lengths.count(len(long_doc)) == 1
    whole = dataset.tokenizer.frame(long_doc)
    framed = [tokens for batch in batches for tokens in batch if tokens[-1] != dataset.tokenizer.bos]  # cut
    assert framed and all(tokens == whole[:B + 1] for tokens in framed)
    model = GPT(TrainConfig(block_size=B, n_embd=8, n_head=2).model_config(dataset.tokenizer.vocab_size),
                random.Random(1))
    assert loss_only(model, [framed[0]]) == loss_only(model, [whole])


def test_short_documents_are_framed_as_before(tmp_path):
    path = first_names(tmp_path, 300)
    dataset = read_dataset(path, random.Random(0), 0.1, format="lines", block_size=16)
    assert dataset.batch(3, 40) == [dataset.tokenizer.frame(d) for d in data.batch_docs(dataset.train_docs, 3, 40)]


# --------------------------------------------------------------------------------------------------
# a worker stopped halfway through a message

# A worker that sends the first half of its gradients and stops itself (SIGSTOP), as if stopped at that moment
HALF_THEN_STOP = """
import os, signal, sys
from multiprocessing import connection
from microgpt.tool.cli import main
send, parent = connection.Connection._send, os.getpid()

def half_then_stop(self, buf, *args):
    if os.getpid() != parent and len(buf) > 1024:
        send(self, buf[:len(buf) // 2], *args)
        os.kill(os.getpid(), signal.SIGSTOP)
    send(self, buf, *args)

connection.Connection._send = half_then_stop
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are forked, and stopped, on Linux")
def test_a_worker_stopped_in_the_middle_of_its_gradients_is_one_line_not_a_hang(tmp_path, tiny):
    proc = subprocess.Popen([sys.executable, "-c", HALF_THEN_STOP, "train", "--data", tiny, "--steps", "5",
                             "--workers", "2", "--batch-size", "32", "--out", "run", "--quiet"],
                            cwd=str(tmp_path), env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # without the watchdog: the run and its stopped worker, hung
        except ProcessLookupError:  # all gone, as they should be
            pass
    assert proc.returncode == 1 and err.count("\n") == 1, err
    assert re.match(r"microgpt: error: worker process 1 \(pid \d+\) is stopped \(SIGSTOP\?\) and cannot answer "
                    r"during step 1 of 5; stopped without saving: no checkpoint had been saved yet$", err), err


# --------------------------------------------------------------------------------------------------
# the download's deadline, from the name lookup on

def test_a_name_lookup_that_never_ends_ends_within_the_download_deadline(tmp_path, monkeypatch):
    """getaddrinfo takes no timeout: a name server that never answers held the download past its deadline."""
    def silent_name_server(*args, **kwargs):
        time.sleep(8)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    monkeypatch.setattr(socket, "getaddrinfo", silent_name_server)
    start = time.monotonic()
    with pytest.raises(MicroGPTError) as e:
        download.ensure_names("http://names.example.invalid/names.txt", str(tmp_path / "cache"), deadline=1.0)
    assert time.monotonic() - start < 4
    assert "the host name names.example.invalid was not looked up within the 1 s deadline" in str(e.value)
    assert "\n" not in str(e.value) and not (tmp_path / "cache").exists()


# --------------------------------------------------------------------------------------------------
# the report's size

def test_the_report_of_long_documents_shows_each_once_and_cut(tmp_path, capsys):
    """Six lines of 200,000 characters: the page held each of them in full several times over (a heading,
    a row, every heatmap's data-doc); now the first report.SHOWN characters and how many more."""
    path = tmp_path / "long.txt"
    lines = [("%d" % i) * 200000 for i in range(1, 7)]
    path.write_text("\n".join(lines) + "\n")
    run = str(tmp_path / "run")
    assert main(["train", "--data", str(path), "--format", "lines", "--steps", "1", "--val-fraction", "0", "--out", run,
                 "--quiet", "--num-samples", "0"]) == 0
    page = open(os.path.join(run, "report.html"), encoding="utf-8").read()
    assert len(page.encode("utf-8")) < 10 ** 6
    assert "\u2026(%d more characters)" % (200000 - report.SHOWN) in page
    assert "1" * (report.SHOWN + 1) not in page and "1" * report.SHOWN in page


def test_the_embeddings_of_a_large_vocabulary_are_drawn_up_to_a_limit(tmp_path):
    """1,500 characters, one token each: the first MOST_TOKENS - 1 and BOS are drawn, and the caption says so."""
    chars = [chr(0x4E00 + i) for i in range(1500)]
    path = tmp_path / "many.txt"
    path.write_text("\n".join("".join(chars[i:i + 5]) for i in range(0, 1500, 5)) + "\n", encoding="utf-8")
    run = str(tmp_path / "run")
    assert main(["train", "--data", str(path), "--steps", "1", "--n-embd", "8", "--val-fraction", "0", "--out", run,
                 "--quiet", "--num-samples", "0"]) == 0
    page = open(os.path.join(run, "report.html"), encoding="utf-8").read()
    scatter = page[page.index('class="scatter"'):]
    scatter = scatter[:scatter.index("</svg>")]
    assert scatter.count('class="token"') == report.MOST_TOKENS
    assert 'data-token="%d"' % 1500 in scatter and 'data-token="%d"' % (report.MOST_TOKENS - 1) not in scatter
    assert "the first %d of its 1501 tokens are drawn, and BOS" % (report.MOST_TOKENS - 1) in page
