"""--fast-math: the kernels of kernels.py, but every dot product of 32 terms or more by math.sumprod.

math.sumprod(p, q) (Python 3.12+) is sum_i p_i q_i in one call into C, where kernels.py's generated
code spends an interpreter instruction or two on every multiply and every add. It also rounds
differently: it carries each product and each partial sum in extended precision and rounds once at the
end, where the reference rounds after every operation, left to right. Its result is usually the more
accurate of the two, but it is another number: dot products differ in their last bits (~1e-16 relative,
more where terms cancel), a step's loss and gradient by ~1e-16 (relative to the largest entry), and the
losses of a run by ~1e-15 after hundreds of steps. So this module is an option (TrainConfig.fast_math,
`--fast-math`), never the default, and never the reference run's.

Its functions are kernels.py's by name and signature, and engine.FastOps takes the module as its `math`
like the other two (loops, kernels). What changes:
- linear_forward, linear_backward: the dense matmuls whose rows are FAST_MIN terms or longer (the linears
  of a model 32 wide and up, and every weight gradient, whose dot products run over the positions of a
  shard); the zero-skipping sparse_matmul after a ReLU stays, it does a fifth of the work;
- rmsnorm_forward, rmsnorm_backward: the per-position sum of squares and x . dy, for C >= FAST_MIN.
Shorter dot products stay kernels.py's unrolled expressions (below ~32 terms the call costs more than
it saves; measured), and attention stays kernels.py's: its dot products are per head (8 or 16 terms in
every preset). The sums over several products that are not dot products (Adam, softmax) are untouched.

sumprod's result depends on its two lists only, not on anything around the call, so a shard's loss and
gradient are the same bits in any process: --workers N still gives the bits of one worker.
"""

import math
from itertools import repeat

from ..errors import MicroGPTError
from . import kernels
from .kernels import attention_backward, attention_forward, mostly_zeros, sparse_matmul, transpose  # noqa: F401

FAST_MIN = 32  # dot products at least this long go through sumprod
sumprod = getattr(math, "sumprod", None)  # Python 3.12+


def require():
    """Fail in one line where there is no math.sumprod (Python before 3.12, PyPy)."""
    if sumprod is None:
        import platform
        raise MicroGPTError("--fast-math needs math.sumprod, which Python has from 3.12 on; this is %s %s: "
                            "leave it out (a resume: pass --no-fast-math) for the exact sums"
                            % (platform.python_implementation(), platform.python_version()))


# --------------------------------------------------------------------------------------------------
# the linear layer: kernels.py's choices, with sumprod for the long dense dot products

def linear_forward(x, W, n_in):
    if mostly_zeros(x):
        return sparse_matmul(x, transpose(W, n_in), n_in)
    return matmul(x, W, n_in)


def linear_backward(dout, x, W, n_in, n_out, needed=None):
    T = len(x) // n_in
    if mostly_zeros(dout):
        return sparse_matmul(dout, W, n_out), sparse_matmul(transpose(dout, n_out), x, T)
    # (kernels.py sums the rows of W for an n_out past MAX_UNROLL: sumprod has no such limit)
    if needed is None:
        dx = matmul(dout, transpose(W, n_in), n_out)
    else:
        dx = masked_matmul(dout, transpose(W, n_in), n_out, needed)
    if mostly_zeros(x):
        return dx, transpose(sparse_matmul(transpose(x, n_in), dout, T), n_out)
    return dx, matmul(transpose(dout, n_out), transpose(x, n_in), T)


def matmul(a, b, n):
    """a @ b^T for flat a (R, n) and b (S, n), each entry one sumprod of two rows."""
    if n < FAST_MIN:
        return kernels.matmul(a, b, n)
    b_rows = [b[s:s + n] for s in range(0, len(b), n)]
    out = []
    for r in range(0, len(a), n):
        out += map(sumprod, repeat(a[r:r + n], len(b_rows)), b_rows)
    return out


def masked_matmul(a, b, n, mask):
    """matmul(a, b, n) where the flat (R, S) mask is nonzero, 0.0 elsewhere (see kernels.masked_matmul)."""
    if n < FAST_MIN:
        return kernels.masked_matmul(a, b, n, mask)
    b_rows = [b[s:s + n] for s in range(0, len(b), n)]
    S = len(b_rows)
    out = []
    for r, m in zip(range(0, len(a), n), range(0, len(mask), S)):
        a_row = a[r:r + n]
        out += [sumprod(a_row, b_s) if keep else 0.0 for keep, b_s in zip(mask[m:m + S], b_rows)]
    return out


# --------------------------------------------------------------------------------------------------
# rmsnorm

def rmsnorm_forward(x, C):
    # rstd = (x . x / C + eps)^-0.5 per position, y = x * rstd
    if C < FAST_MIN:
        return kernels.rmsnorm_forward(x, C)
    out, rstds = [], []
    inv_C = C ** -1
    for r in range(0, len(x), C):
        row = x[r:r + C]
        rstd = (sumprod(row, row) * inv_C + 1e-5) ** -0.5
        rstds.append(rstd)
        out += [xi * rstd for xi in row]
    return out, rstds


def rmsnorm_backward(dout, x, rstds, C):
    # dx_j = rstd dy_j - (rstd^3 / C) x_j (x . dy)
    if C < FAST_MIN:
        return kernels.rmsnorm_backward(dout, x, rstds, C)
    dx = []
    for r, rstd in zip(range(0, len(x), C), rstds):
        row, drow = x[r:r + C], dout[r:r + C]
        k = rstd ** 3 * sumprod(row, drow) / C
        dx += [rstd * di - k * xi for xi, di in zip(row, drow)]
    return dx
