"""Every core: data-parallel training and evaluation in several processes, with the standard library.

A step's documents come in shards of train.SHARD documents. With --workers N, this process and N - 1
worker processes each hold a copy of the model and compute the loss and gradient of some of the shards;
this process combines them in shard order (train.combine), takes the optimizer step and sends the new
weights out. The order of every sum is fixed by the shards, never by who computed them, so any number
of workers gives the very bits of one. Held-out evaluation is shared out the same way: each process
scores some of the documents, and their losses are added up in document order (evaluate.mean_loss).

What travels between processes: weights and gradients as the raw bytes of array('d'), 8 bytes a number,
exact, never pickled lists; documents as lists of token ids.

Left out: more than one machine (the PyTorch engine has torch.distributed for that).
"""

import multiprocessing
import os
import signal
import sys
import threading
from array import array

from ..errors import ComputeError
from ..model import GPT
from ..train import combine, shards, train_step
from . import engine_for, evaluate


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (Linux)
    except AttributeError:
        return os.cpu_count() or 1


# --------------------------------------------------------------------------------------------------
# a worker process

def serve(conn, config, params, engine_name, inherited=(), fast_math=False):
    """The loop of a worker process: take weights, compute shards or score documents, until "stop", or
    until the main process is gone."""
    # Ctrl-C, and SIGTERM or SIGHUP sent to the whole process group (a terminal closing, kill -TERM -PGID), are
    # the main process's to handle, between steps: it saves, then tells us to stop (close() kills us if need be)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    for other in inherited:  # a forked worker holds the main process's ends of the earlier workers' pipes:
        other.close()  # closed, so that each of those workers sees its pipe end when the main process does
    parent = os.getppid()
    model = GPT(config, params=array("d", params))
    loss_and_grad = engine_for(engine_name, fast_math).loss_and_grad  # the main process's, sums and all
    while True:
        while not conn.poll(1.0):
            if os.getppid() != parent:  # the main process died without a word (kill -9): so do we
                return
        try:
            request, payload = conn.recv()
        except EOFError:
            return
        if request == "weights":
            model.params[:] = array("d", conn.recv_bytes())
        elif request == "train":
            for i, shard in payload:
                loss, grads = loss_and_grad(model, shard)
                conn.send((i, loss))
                conn.send_bytes(array("d", grads))
        elif request == "evaluate":
            per_doc = evaluate.token_losses(model, payload)
            conn.send([len(losses) for losses in per_doc])
            conn.send_bytes(array("d", [x for losses in per_doc for x in losses]))
        else:
            return


# --------------------------------------------------------------------------------------------------
# the main process's side

def stopped(pid):
    """Whether process `pid` is stopped (state T in /proc on Linux; elsewhere it cannot be told: False)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False

def share_out(sizes, n):
    """Item indices for n processes, the largest items first to the least loaded (a fixed rule)."""
    loads, shares = [0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        p = loads.index(min(loads))
        shares[p].append(i)
        loads[p] += sizes[i]
    return shares


STOPPED = "worker process %d (pid %d) is stopped (SIGSTOP?) and cannot answer"


class PoolCompute:
    """train.Compute's interface, over this process and n - 1 worker processes."""

    def __init__(self, cfg, model, optimizer, n):
        self.model, self.optimizer = model, optimizer
        self.loss_and_grad_here = engine_for(cfg.engine, cfg.fast_math).loss_and_grad
        # fork starts a worker in milliseconds; where it is not safe (macOS, Windows) a worker imports anew
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        ctx = multiprocessing.get_context(method)
        self.conns, self.procs = [], []
        self.done = threading.Event()  # set by close(): the watchdog's (see watch) cue to end
        for _ in range(n - 1):
            parent, child = ctx.Pipe()
            weights = array("d", model.params).tobytes()
            inherited = tuple(self.conns) if method == "fork" else ()
            proc = ctx.Process(target=serve, args=(child, model.config, weights, cfg.engine, inherited, cfg.fast_math),
                               daemon=True)
            try:
                proc.start()
            except OSError as e:  # no process to be had (ulimit -u, memory): the ones started so far end too
                failed = ComputeError("cannot start worker process %d of %d: %s; train with fewer --workers, or 1"
                                      % (len(self.procs) + 1, n - 1, e.strerror or e))
                child.close()
                parent.close()
                self.close()
                raise failed
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.stale = set()  # the workers whose weights are behind ours
        self.busy = None  # the pid of the worker whose answer is being read, or that is being sent to
        self.halted = set()  # the workers the watchdog found stopped in the middle of a message, and killed
        threading.Thread(target=self.watch, daemon=True).start()  # after the forks: a fork copies no thread

    def send(self, w, message, payload=None):
        self.busy = self.procs[w].pid  # weights larger than the pipe's buffer wait for the worker to read
        try:
            self.conns[w].send(message)
            if payload is not None:
                self.conns[w].send_bytes(payload)
        except OSError:
            raise self.died(w)
        finally:
            self.busy = None

    def receive(self, w, raw=False):
        try:
            while not self.conns[w].poll(1.0):  # a worker stopped (SIGSTOP, Ctrl-Z on it) would never answer
                if stopped(self.procs[w].pid):
                    raise ComputeError(STOPPED % (w + 1, self.procs[w].pid))
            self.busy = self.procs[w].pid  # an answer has begun: the rest may never come (see watch)
            try:
                return self.conns[w].recv_bytes() if raw else self.conns[w].recv()
            finally:
                self.busy = None
        except (EOFError, OSError):
            raise self.died(w)

    def watch(self):
        """The watchdog, a thread: once a second while a message is on its way to or from a worker, that
        the worker is not stopped. Stopped halfway through sending its gradients (SIGSTOP), it would
        leave the read waiting for the rest for good (poll only says that a message has begun); it is
        killed instead, so that the read ends (EOFError) and the run stops with the reason."""
        while not self.done.wait(1.0):
            pid = self.busy
            if pid is not None and stopped(pid):
                self.halted.add(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:  # it ended meanwhile
                    pass

    def died(self, w):
        proc = self.procs[w]
        if proc.pid in self.halted:  # killed by the watchdog, for what it was
            return ComputeError(STOPPED % (w + 1, proc.pid))
        proc.join(1)
        return ComputeError("worker process %d (pid %d) died, exit code %s" % (w + 1, proc.pid, proc.exitcode))

    def ask(self, w, request, payload):
        """Send worker w a request, with the current weights first if its copy is behind."""
        if w in self.stale:
            self.send(w, ("weights", None), array("d", self.model.params).tobytes())
            self.stale.discard(w)
        self.send(w, (request, payload))

    def loss_and_grad(self, model, batch):
        parts = shards(batch)
        counts = [sum(model.config.predictions(tokens) for tokens in part) for part in parts]
        mine, *theirs = share_out(counts, len(self.conns) + 1)
        for w, indices in enumerate(theirs):
            if indices:
                self.ask(w, "train", [(i, parts[i]) for i in indices])
        results = {i: self.loss_and_grad_here(model, parts[i]) for i in mine}
        for w, indices in enumerate(theirs):
            for _ in indices:
                i, loss = self.receive(w)
                results[i] = (loss, array("d", self.receive(w, raw=True)).tolist())
        return combine([results[i] for i in range(len(parts))], counts)

    def train(self, batch, lr):
        loss = train_step(self.model, self.optimizer, self.loss_and_grad, batch, lr)
        self.stale = set(range(len(self.conns)))
        return loss

    def evaluate(self, batch):
        """evaluate.evaluate's number: documents shared out by their first character, so that each
        process's trie still holds the prefixes they share."""
        groups = {}
        for d, tokens in enumerate(batch):
            groups.setdefault(tuple(tokens[:2]), []).append(d)
        keys = sorted(groups)
        sizes = [len(groups[k]) for k in keys]
        per_process = [[d for g in share for d in groups[keys[g]]] for share in share_out(sizes, len(self.conns) + 1)]
        for w, docs in enumerate(per_process[1:]):
            if docs:
                self.ask(w, "evaluate", [batch[d] for d in docs])
        per_doc = [None] * len(batch)
        for d, losses in zip(per_process[0], evaluate.token_losses(self.model, [batch[d] for d in per_process[0]])):
            per_doc[d] = losses
        for w, docs in enumerate(per_process[1:]):
            if not docs:
                continue
            lengths, flat = self.receive(w), array("d", self.receive(w, raw=True)).tolist()
            start = 0
            for d, n in zip(docs, lengths):
                per_doc[d], start = flat[start:start + n], start + n
        return evaluate.mean_loss(per_doc)

    def sync(self):
        pass  # the weights and the optimizer live here; the workers only ever hold copies

    def close(self):
        self.done.set()
        for conn in self.conns:
            try:
                conn.send(("stop", None))
            except OSError:
                pass
        try:
            for proc in self.procs:
                proc.join(5)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(1)
                if proc.is_alive():  # stopped, or ignoring SIGTERM (see serve): SIGKILL, or exit would wait forever
                    proc.kill()
                    proc.join(1)
        finally:  # cut short (a second Ctrl-C): multiprocessing's exit would SIGTERM them and wait, for good
            for proc in self.procs:
                if proc.is_alive():
                    proc.kill()
            self.conns, self.procs = [], []
