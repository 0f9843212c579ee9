"""Generated kernels: the fast engine's hot functions as Python source written for each size, on CPython.

loops.py is the fast engine's arithmetic in plain loops. On CPython a plain loop pays for every index, every
bounds check and every trip round the interpreter loop; code that names each number instead runs about
3x faster. So for each size that a run meets, this module writes the source of a function with the loop
unrolled (for rows of 3:  a0 * b0 + a1 * b1 + a2 * b2,  on local variables), compiles it once and keeps
it. On CPython the fast engine (engine.py) uses this module's linear_forward, linear_backward,
rmsnorm_forward, rmsnorm_backward, attention_forward and attention_backward instead of loops.py's: the
same names and signatures, and the same sums in the same order, so the same numbers (tests hold every
kernel to the plain loops, bit for bit).

Two more savings, both exact, come from the ReLU, which leaves about 80% of its outputs exactly zero:
sparse_matmul skips those zeros in an operand, and masked_matmul computes only the entries of a ReLU
output's gradient that the ReLU's backward reads.

To see the code: MICROGPT_SHOW_KERNELS=1 prints each kernel on stderr as it is built; `microgpt kernels`
prints those a run of a given size uses; inspect.getsource() and tracebacks show their lines.
"""

import linecache
import math
import os
import sys

from . import loops

MAX_UNROLL = 512  # longer dot products than this would nest too deep for Python's compiler
MAX_LOCALS = 512  # b with at most this many numbers is unpacked whole into local variables
SHOW_ENV = "MICROGPT_SHOW_KERNELS"
BUILT = {}  # (source function, size) -> the compiled kernel
SOURCES = {}  # kernel name -> its source, in the order built


def kernel(source, *size):
    """The function whose source is source(*size), compiled the first time that size is asked for."""
    f = BUILT.get((source, size))
    if f is None:
        name, src = source(*size)
        f = BUILT[(source, size)] = define(name, src)
    return f


def define(name, src):
    """Compile one function's source, keeping the text where tracebacks and inspect look for it."""
    filename = "<microgpt kernel %s>" % name
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)  # mtime None: kept
    env = {"__name__": __name__, "exp": math.exp}
    exec(compile(src, filename, "exec"), env)
    SOURCES[name] = src
    if os.environ.get(SHOW_ENV):
        try:  # shown if it can be: a closed or full stderr is no reason to stop a run
            sys.stderr.write("# kernel %s\n%s\n" % (name, src))
        except (AttributeError, OSError, ValueError):
            pass
    return env[name]


def reference(name):
    """loops.py's plain loop of that name: for sizes too large to unroll."""
    return getattr(loops, name)


def transpose(a, cols):
    out = []
    for c in range(cols):
        out += a[c::cols]
    return out


def mostly_zeros(a):
    # list.count runs in C: about 1 ns an entry, against ~15 ns for each multiply-add it can save
    return 2 * a.count(0.0) > len(a)


def names(prefix, n):
    # "x0, x1, x2," : a tuple of local variables, trailing comma and all (so that n = 1 is a tuple too)
    return "".join("%s%d, " % (prefix, i) for i in range(n)).rstrip(" ")


def each(template, n, indent):
    # one line per i = 0..n-1: "o{i} += a{i} * v{i}" -> "o0 += a0 * v0", "o1 += a1 * v1", ...
    return "\n".join(indent + template.format(i=i) for i in range(n))


# --------------------------------------------------------------------------------------------------
# the linear layer: matmul and its two variants for after a ReLU

def linear_forward(x, W, n_in):
    if mostly_zeros(x):  # mlp_fc2's input is a ReLU's output: skip its zeros, same sums
        return sparse_matmul(x, transpose(W, n_in), n_in)
    return matmul(x, W, n_in)


def linear_backward(dout, x, W, n_in, n_out, needed=None):
    T = len(x) // n_in
    if mostly_zeros(dout):  # mlp_fc1's, zero wherever the ReLU after it was
        return sparse_matmul(dout, W, n_out), sparse_matmul(transpose(dout, n_out), x, T)
    if n_out > MAX_UNROLL:  # lm_head of a large vocabulary: sum the rows of W instead, no long dot products
        dx = sparse_matmul(dout, W, n_out)
    elif needed is None:
        dx = matmul(dout, transpose(W, n_in), n_out)
    else:
        dx = masked_matmul(dout, transpose(W, n_in), n_out, needed)
    # dW^T = x^T @ dout, each row of x^T added in turn: for mlp_fc2's x (mostly zeros), and where the dot
    # products over the positions would be too long to unroll (a shard of 16 windows of 64 tokens or more)
    if mostly_zeros(x) or T > MAX_UNROLL:
        return dx, transpose(sparse_matmul(transpose(x, n_in), dout, T), n_out)
    return dx, matmul(transpose(dout, n_out), transpose(x, n_in), T)


def matmul(a, b, n):
    """a @ b^T for flat a (R, n) and b (S, n), as loops.matmul."""
    if n > MAX_UNROLL:
        return reference("matmul")(a, b, n)
    return kernel(matmul_source, n, len(b) // n if len(b) <= MAX_LOCALS else 0)(a, b)


def matmul_source(n, S=0):
    """A matmul for rows of length n (and for S rows of b, if S > 0). ``matmul_source(3)`` is

        def matmul_3(a, b):
            b_rows = [b[s:s + 3] for s in range(0, len(b), 3)]
            out = []
            for r in range(0, len(a), 3):
                a0, a1, a2, = a[r:r + 3]
                out += [a0 * b0 + a1 * b1 + a2 * b2 for b0, b1, b2, in b_rows]
            return out

    and for a small b, here ``matmul_source(3, 2)``, all of b is unpacked once and the row of a meets
    each row of b in one list display, with no loop over b at all:

        def matmul_3x2(a, b):
            a0 = a1 = a2 = None
            b0_0, b0_1, b0_2, b1_0, b1_1, b1_2, = b
            out = []
            for r in range(0, len(a), 3):
                a0, a1, a2, = a[r:r + 3]
                out += [a0 * b0_0 + a1 * b0_1 + a2 * b0_2, a0 * b1_0 + a1 * b1_1 + a2 * b1_2]
            return out

    The sum is one expression that CPython evaluates on local variables without leaving its interpreter
    loop. Like loops.dot it starts from the first product, not from 0. The first line only names a0..
    before b's numbers: CPython numbers its local variables in the order they first appear, and reads
    one numbered above 255 with an extra instruction (EXTENDED_ARG). A row's a_j are read S times
    each, every b number once, so the a_j take the low numbers: 1.3% fewer instructions in a batch-32
    step of the default model, whose 16x16 and 27x16 weights unpack into 256 and 432 locals.
    """
    if S == 0:
        name = "matmul_%d" % n
        head = "    b_rows = [b[s:s + %d] for s in range(0, len(b), %d)]\n" % (n, n)
        row = "[%s for %s in b_rows]" % (" + ".join("a%d * b%d" % (j, j) for j in range(n)), names("b", n))
    else:
        name = "matmul_%dx%d" % (n, S)
        head = ("    %s = None\n" % " = ".join("a%d" % j for j in range(n)) +
                "    " + ", ".join("b%d_%d" % (s, j) for s in range(S) for j in range(n)) + ", = b\n")
        row = "[%s]" % ", ".join(" + ".join("a%d * b%d_%d" % (j, s, j) for j in range(n)) for s in range(S))
    return name, ("def {name}(a, b):\n" + head +
                  "    out = []\n"
                  "    for r in range(0, len(a), {n}):\n"
                  "        {a} = a[r:r + {n}]\n"
                  "        out += {row}\n"
                  "    return out\n").format(name=name, n=n, a=names("a", n), row=row)


def masked_matmul(a, b, n, mask):
    """matmul(a, b, n) where the flat (R, S) mask is nonzero, and 0.0 where it is zero.

    For the gradient of a ReLU's output, which the ReLU's backward reads only where the output is
    positive (about 20% of the entries): the dot products elsewhere would be thrown away.
    """
    if n > MAX_UNROLL:
        return matmul(a, b, n)
    return kernel(masked_matmul_source, n)(a, b, mask)


def masked_matmul_source(n):
    """``masked_matmul_source(3)`` is

        def masked_matmul_3(a, b, mask):
            b_rows = [b[s:s + 3] for s in range(0, len(b), 3)]
            S = len(b_rows)
            out = []
            for r, m in zip(range(0, len(a), 3), range(0, len(mask), S)):
                a0, a1, a2, = a[r:r + 3]
                out += [a0 * b_s[0] + a1 * b_s[1] + a2 * b_s[2] if keep else 0.0
                        for keep, b_s in zip(mask[m:m + S], b_rows)]
            return out

    matmul's row form, but the row of b is indexed rather than unpacked, so a skipped one costs nothing.
    """
    return "masked_matmul_%d" % n, (
        "def masked_matmul_{n}(a, b, mask):\n"
        "    b_rows = [b[s:s + {n}] for s in range(0, len(b), {n})]\n"
        "    S = len(b_rows)\n"
        "    out = []\n"
        "    for r, m in zip(range(0, len(a), {n}), range(0, len(mask), S)):\n"
        "        {a} = a[r:r + {n}]\n"
        "        out += [{dot} if keep else 0.0\n"
        "                for keep, b_s in zip(mask[m:m + S], b_rows)]\n"
        "    return out\n").format(n=n, a=names("a", n), dot=" + ".join("a%d * b_s[%d]" % (j, j) for j in range(n)))


def sparse_matmul(a, b, n):
    """a @ b for flat a (R, n) that is mostly exact zeros and flat b (n, S): (R, S). Note: b, not b^T.

    Row r of the output is the sum over j of a[r, j] * (row j of b), over the j where a[r, j] != 0 only.
    After a ReLU about 80% of the entries are exactly zero (measured on the default run), so this does a
    fifth of the multiply-adds of matmul. Each output still sums its terms left to right; skipping a
    term 0 * b leaves every partial sum unchanged (x + 0 == x), but for the sign of a zero (b finite).
    """
    S = len(b) // n
    if S > MAX_UNROLL:
        return matmul(a, transpose(b, S), n)
    return kernel(sparse_matmul_source, S)(a, b, n)


def sparse_matmul_source(S):
    """``sparse_matmul_source(2)``, for rows of b of length 2, is

        def sparse_matmul_2(a, b, n):
            b_rows = [b[j:j + 2] for j in range(0, len(b), 2)]
            out = []
            for r in range(0, len(a), n):
                o0 = o1 = 0.0
                for a_j, b_row in zip(a[r:r + n], b_rows):
                    if a_j:
                        b0, b1, = b_row
                        o0 += a_j * b0
                        o1 += a_j * b1
                out += [o0, o1]
            return out

    The row of the output lives in local variables o0.. while the nonzero a_j are added in.
    """
    return "sparse_matmul_%d" % S, (
        "def sparse_matmul_{S}(a, b, n):\n"
        "    b_rows = [b[j:j + {S}] for j in range(0, len(b), {S})]\n"
        "    out = []\n"
        "    for r in range(0, len(a), n):\n"
        "        {zeros} = 0.0\n"
        "        for a_j, b_row in zip(a[r:r + n], b_rows):\n"
        "            if a_j:\n"
        "                {b} = b_row\n"
        "{adds}\n"
        "        out += [{outs}]\n"
        "    return out\n").format(S=S, outs=", ".join("o%d" % s for s in range(S)),
                                  zeros=" = ".join("o%d" % s for s in range(S)), b=names("b", S),
                                  adds=each("o{i} += a_j * b{i}", S, " " * 16))


# --------------------------------------------------------------------------------------------------
# rmsnorm, a row at a time

def rmsnorm_forward(x, C):
    if C > MAX_UNROLL:
        return reference("rmsnorm_forward")(x, C)
    return kernel(rmsnorm_forward_source, C)(x)


def rmsnorm_backward(dout, x, rstds, C):
    if C > MAX_UNROLL:
        return reference("rmsnorm_backward")(dout, x, rstds, C)
    return kernel(rmsnorm_backward_source, C)(dout, x, rstds)


def rmsnorm_forward_source(C):
    """``rmsnorm_forward_source(2)`` is

        def rmsnorm_2(x):
            out, rstds = [], []
            for r in range(0, len(x), 2):
                x0, x1, = x[r:r + 2]
                rstd = ((0 + x0 * x0 + x1 * x1) * 0.5 + 1e-05) ** -0.5
                rstds.append(rstd)
                out += [x0 * rstd, x1 * rstd]
            return out, rstds

    loops.rmsnorm_forward's arithmetic on a row unpacked into locals: the squares summed left to right
    from 0, times 1/C, plus eps, to the power -0.5; then each x times that rstd.
    """
    return "rmsnorm_%d" % C, (
        "def rmsnorm_{C}(x):\n"
        "    out, rstds = [], []\n"
        "    for r in range(0, len(x), {C}):\n"
        "        {x} = x[r:r + {C}]\n"
        "        rstd = ((0 + {squares}) * {inv_C} + 1e-05) ** -0.5\n"
        "        rstds.append(rstd)\n"
        "        out += [{scaled}]\n"
        "    return out, rstds\n").format(C=C, x=names("x", C), inv_C=repr(C ** -1),
                                      squares=" + ".join("x%d * x%d" % (c, c) for c in range(C)),
                                      scaled=", ".join("x%d * rstd" % c for c in range(C)))


def rmsnorm_backward_source(C):
    """``rmsnorm_backward_source(2)`` is

        def rmsnorm_backward_2(dout, x, rstds):
            dx = []
            for r, rstd in zip(range(0, len(x), 2), rstds):
                x0, x1, = x[r:r + 2]
                d0, d1, = dout[r:r + 2]
                k = rstd ** 3 * (0.0 + x0 * d0 + x1 * d1) / 2
                dx += [rstd * d0 - k * x0, rstd * d1 - k * x1]
            return dx

    loops.rmsnorm_backward's: dx_j = rstd dy_j - k x_j with k = rstd^3 (x . dy) / C, the dot product
    summed left to right from 0.0 (which turns a -0.0 sum into 0.0, as the loop's does).
    """
    return "rmsnorm_backward_%d" % C, (
        "def rmsnorm_backward_{C}(dout, x, rstds):\n"
        "    dx = []\n"
        "    for r, rstd in zip(range(0, len(x), {C}), rstds):\n"
        "        {x} = x[r:r + {C}]\n"
        "        {d} = dout[r:r + {C}]\n"
        "        k = rstd ** 3 * (0.0 + {dot}) / {C}\n"
        "        dx += [{dx}]\n"
        "    return dx\n").format(C=C, x=names("x", C), d=names("d", C),
                                 dot=" + ".join("x%d * d%d" % (c, c) for c in range(C)),
                                 dx=", ".join("rstd * d%d - k * x%d" % (c, c) for c in range(C)))


# --------------------------------------------------------------------------------------------------
# attention, all heads at once

def attention_forward(q, k, v, C, n_head, past=0):
    """As loops.attention_forward, but the weights are kept as atts[t][s] = (a_head0, a_head1, ..)."""
    hs = C // n_head
    if hs > MAX_UNROLL or C > MAX_LOCALS:
        return reference("attention_forward")(q, k, v, C, n_head, past)
    return kernel(attention_forward_source, C, hs)(q, k, v, past)


def attention_backward(dout, q, k, v, atts, C, n_head):
    hs = C // n_head
    if hs > MAX_UNROLL or C > MAX_LOCALS:
        return reference("attention_backward")(dout, q, k, v, atts, C, n_head)
    return kernel(attention_backward_source, C, hs)(dout, q, k, v, atts)


def weighted_rows(out, weight, row, C, hs, indent):
    # "o0 += a0 * v0" ... : channel c of a row, weighted by its head's weight
    return "\n".join("%s%s%d += %s%d * %s%d" % (indent, out, c, weight, c // hs, row, c) for c in range(C))


def head_dots(x, y, C, hs):
    # ["x0 * y0 + x1 * y1", "x2 * y2 + x3 * y3"] for C = 4, hs = 2: one dot product per head
    return [" + ".join("%s%d * %s%d" % (x, c, y, c) for c in range(h, h + hs)) for h in range(0, C, hs)]


def attention_forward_source(C, hs):
    """For C channels in heads of size hs. ``attention_forward_source(4, 2)`` is

        def attention_4_2(q, k, v, past):
            k_rows = [k[s:s + 4] for s in range(0, len(k), 4)]
            v_rows = [v[s:s + 4] for s in range(0, len(v), 4)]
            out, atts = [], []
            for t in range(len(q) // 4):
                q0, q1, q2, q3, = q[t * 4:t * 4 + 4]
                logits = [((q0 * k0 + q1 * k1) * 0.7071067811865475, (q2 * k2 + q3 * k3) * 0.7071067811865475,)
                          for k0, k1, k2, k3, in k_rows[:past + t + 1]]
                m0, m1, = map(max, zip(*logits))
                exps = [(exp(l0 - m0), exp(l1 - m1),) for l0, l1, in logits]
                z0 = z1 = 0
                for e0, e1, in exps:
                    z0 += e0
                    z1 += e1
                z0, z1, = z0 ** -1, z1 ** -1,
                att = [(e0 * z0, e1 * z1,) for e0, e1, in exps]
                atts.append(att)
                o0 = o1 = o2 = o3 = 0.0
                for (v0, v1, v2, v3,), (a0, a1,) in zip(v_rows, att):
                    o0 += a0 * v0
                    o1 += a0 * v1
                    o2 += a1 * v2
                    o3 += a1 * v3
                out += [o0, o1, o2, o3]
            return out, atts

    Row t of q meets each row of k in one tuple of per-head logits, and the softmax then runs for all
    heads side by side (loops.softmax's arithmetic: max subtracted, exps summed left to right from 0,
    times total**-1). The output row builds up in local variables over the positions seen. No per-head
    copies of q, k and v, no per-head calls.
    """
    nh = C // hs
    scale = repr((hs ** 0.5) ** -1)
    return "attention_%d_%d" % (C, hs), (
        "def attention_{C}_{hs}(q, k, v, past):\n"
        "    k_rows = [k[s:s + {C}] for s in range(0, len(k), {C})]\n"
        "    v_rows = [v[s:s + {C}] for s in range(0, len(v), {C})]\n"
        "    out, atts = [], []\n"
        "    for t in range(len(q) // {C}):\n"
        "        {q} = q[t * {C}:t * {C} + {C}]\n"
        "        logits = [({logits})\n"
        "                  for {k} in k_rows[:past + t + 1]]\n"
        "        {m} = map(max, zip(*logits))\n"
        "        exps = [({exps}) for {l} in logits]\n"
        "        {z_zero} = 0\n"
        "        for {e} in exps:\n"
        "{z_adds}\n"
        "        {z} = {z_inv}\n"
        "        att = [({weights}) for {e} in exps]\n"
        "        atts.append(att)\n"
        "        {o_zero} = 0.0\n"
        "        for ({v}), ({a}) in zip(v_rows, att):\n"
        "{o_adds}\n"
        "        out += [{o}]\n"
        "    return out, atts\n").format(
        C=C, hs=hs, q=names("q", C), k=names("k", C), v=names("v", C), m=names("m", nh),
        l=names("l", nh), e=names("e", nh), z=names("z", nh), a=names("a", nh),
        o=", ".join("o%d" % c for c in range(C)),
        logits=", ".join("(%s) * %s" % (d, scale) for d in head_dots("q", "k", C, hs)) + ",",
        exps=", ".join("exp(l%d - m%d)" % (h, h) for h in range(nh)) + ",",
        z_zero=" = ".join("z%d" % h for h in range(nh)),
        z_adds=each("z{i} += e{i}", nh, " " * 12),
        z_inv=", ".join("z%d ** -1" % h for h in range(nh)) + ",",
        weights=", ".join("e%d * z%d" % (h, h) for h in range(nh)) + ",",
        o_zero=" = ".join("o%d" % c for c in range(C)),
        o_adds=weighted_rows("o", "a", "v", C, hs, " " * 12))


def attention_backward_source(C, hs):
    """``attention_backward_source(2, 1)``, for 2 heads of one channel each, is

        def attention_backward_2_1(dout, q, k, v, atts):
            d_rows, q_rows, k_rows, v_rows = [[x[r:r + 2] for r in range(0, len(x), 2)]
                                              for x in (dout, q, k, v)]
            T = len(k_rows)
            dq, dk, dv, dls = [], [], [], []
            for t in range(T):
                d0, d1, = d_rows[t]
                att = atts[t]
                datt = [(d0 * v0, d1 * v1,) for v0, v1, in v_rows[:t + 1]]
                mix0 = mix1 = 0.0
                for (a0, a1,), (da0, da1,) in zip(att, datt):
                    mix0 += a0 * da0
                    mix1 += a1 * da1
                dl = [(a0 * (da0 - mix0) * 1.0, a1 * (da1 - mix1) * 1.0,)
                      for (a0, a1,), (da0, da1,) in zip(att, datt)]
                dls.append(dl)
                e0 = e1 = 0.0
                for (k0, k1,), (l0, l1,) in zip(k_rows, dl):
                    e0 += l0 * k0
                    e1 += l1 * k1
                dq += [e0, e1]
            for s in range(T):
                e0 = e1 = 0.0
                for (d0, d1,), (l0, l1,) in zip(d_rows[s:], [att[s] for att in atts[s:]]):
                    e0 += l0 * d0
                    e1 += l1 * d1
                dv += [e0, e1]
                e0 = e1 = 0.0
                for (q0, q1,), (l0, l1,) in zip(q_rows[s:], [dl[s] for dl in dls[s:]]):
                    e0 += l0 * q0
                    e1 += l1 * q1
                dk += [e0, e1]
            return dq, dk, dv

    Per head: datt = dout @ v^T, dv = att^T @ dout; through the softmax, dlogit_s = a_s (da_s -
    sum_r a_r da_r) / sqrt(hs); then dq = dlogits @ k and dk = dlogits^T @ q. The first loop goes over
    the rows t (datt, dlogits, dq), the second over the positions s, where dv and dk read column s of
    att and of dlogits, from row s on (above it they would be zeros).
    """
    nh = C // hs
    scale = repr((hs ** 0.5) ** -1)
    a_da = "({a}), ({da}) in zip(att, datt)".format(a=names("a", nh), da=names("da", nh))
    return "attention_backward_%d_%d" % (C, hs), (
        "def attention_backward_{C}_{hs}(dout, q, k, v, atts):\n"
        "    d_rows, q_rows, k_rows, v_rows = [[x[r:r + {C}] for r in range(0, len(x), {C})]\n"
        "                                      for x in (dout, q, k, v)]\n"
        "    T = len(k_rows)\n"
        "    dq, dk, dv, dls = [], [], [], []\n"
        "    for t in range(T):\n"
        "        {d} = d_rows[t]\n"
        "        att = atts[t]\n"
        "        datt = [({datts}) for {v} in v_rows[:t + 1]]\n"
        "        {mix_zero} = 0.0\n"
        "        for {a_da}:\n"
        "{mix_adds}\n"
        "        dl = [({dls})\n"
        "              for {a_da}]\n"
        "        dls.append(dl)\n"
        "        {e_zero} = 0.0\n"
        "        for ({k}), ({l}) in zip(k_rows, dl):\n"
        "{dq_adds}\n"
        "        dq += [{e}]\n"
        "    for s in range(T):\n"
        "        {e_zero} = 0.0\n"
        "        for ({d}), ({l}) in zip(d_rows[s:], [att[s] for att in atts[s:]]):\n"
        "{dv_adds}\n"
        "        dv += [{e}]\n"
        "        {e_zero} = 0.0\n"
        "        for ({q}), ({l}) in zip(q_rows[s:], [dl[s] for dl in dls[s:]]):\n"
        "{dk_adds}\n"
        "        dk += [{e}]\n"
        "    return dq, dk, dv\n").format(
        C=C, hs=hs, d=names("d", C), q=names("q", C), k=names("k", C), v=names("v", C),
        l=names("l", nh), e=", ".join("e%d" % c for c in range(C)), a_da=a_da,
        datts=", ".join(head_dots("d", "v", C, hs)) + ",",
        mix_zero=" = ".join("mix%d" % h for h in range(nh)),
        mix_adds=each("mix{i} += a{i} * da{i}", nh, " " * 12),
        dls=", ".join("a{i} * (da{i} - mix{i}) * {scale}".format(i=h, scale=scale) for h in range(nh)) + ",",
        e_zero=" = ".join("e%d" % c for c in range(C)),
        dq_adds=weighted_rows("e", "l", "k", C, hs, " " * 12),
        dv_adds=weighted_rows("e", "l", "d", C, hs, " " * 12),
        dk_adds=weighted_rows("e", "l", "q", C, hs, " " * 12))
