"""The fast engine: the same operations on flat lists of floats, each with a hand-written backward.

Every operation comes as a pair, in the manner of llm.c:  *_forward(...) -> out (and what the backward
needs)  and  *_backward(dout, ...) -> input gradients,  the chain rule applied by hand. A Tape records
the pairs as model.GPT.forward calls them and replays the backwards in reverse order. No graph of scalar
nodes is built, which is where the scalar engine spends its time.

Almost all the arithmetic is one helper, matmul(a, b, n) = a @ b^T: the forward of a linear layer, both
of its gradients are all "dot every row of a with every row of b". Its dot products are generated as
Python source once per length n and compiled (see compile_matmul), which is what makes pure Python fast
here. Attention, with its many short per-head dot products, gets code generated for all heads at once
(compile_attention_forward and _backward). Two variants skip work that a ReLU makes pointless (it
leaves about 80% of its entries exactly zero): sparse_matmul skips those zeros in an operand, and
masked_matmul computes only the entries of a ReLU output's gradient that the ReLU's backward reads.

The forwards do the reference's arithmetic in the reference's order (sums left to right, x**-0.5,
e * total**-1, (1/n) * sum), so logits and losses are the scalar engine's to the last bit. The backwards
compute the same derivatives in a different order, so gradients agree to rounding (about 1e-15 relative).
Never use the builtin sum() on floats here: from Python 3.12 it rounds differently (compensated).

A tensor is a flat list in row-major order: x[t * C + c] is channel c at position t.
"""

import math
import platform

# --------------------------------------------------------------------------------------------------
# the matmul helper, its two variants for after a ReLU, and the code generator behind them

# PyPy's JIT turns plain loops into machine code by itself and gains nothing from generated source: it
# would only spend its time tracing each of the many generated functions. So there the loops are used.
UNROLL = platform.python_implementation() != "PyPy"
MAX_UNROLL = 512  # longer dot products than this would nest too deep for Python's compiler
MAX_LOCALS = 512  # b with at most this many numbers is unpacked whole into local variables
_kernels = {}  # (builder, size) -> the function it built for that size


def kernel(build, *size):
    """The function build(*size) returns, built once per size (of a row, a matrix, a head) and kept."""
    f = _kernels.get((build, size))
    if f is None:
        f = _kernels[(build, size)] = build(*size)
    return f


def define(src, name, **env):
    """Compile the Python source of one function and return that function; env holds its globals."""
    exec(compile(src, "<%s>" % name, "exec"), env)
    return env[name]


def matmul(a, b, n):
    """a @ b^T for flat row-major a (R, n) and b (S, n): out[r * S + s] = sum_j a[r, j] b[s, j], (R, S).

    Each sum runs left to right over j, like the scalar engine's sum(w * x ...).
    """
    return kernel(compile_matmul, n, len(b) // n if UNROLL and len(b) <= MAX_LOCALS else 0)(a, b)


def compile_matmul(n, S=0):
    """Build and compile a matmul specialised to rows of length n (and to S rows of b, if S > 0).

    The dot product is unrolled: for n = 3 it reads  a0 * b0 + a1 * b1 + a2 * b2,  where a0.. and b0..
    are local variables. For S = 0 the source is

        def matmul_3(a, b):
            b_rows = [b[s:s + 3] for s in range(0, len(b), 3)]
            out = []
            for r in range(0, len(a), 3):
                a0, a1, a2, = a[r:r + 3]
                out += [a0 * b0 + a1 * b1 + a2 * b2 for b0, b1, b2, in b_rows]
            return out

    and for a small b, here S = 2 rows, all of b is unpacked once and the row of a meets each row of b
    in one list display, with no loop over b at all:

        def matmul_3x2(a, b):
            b0_0, b0_1, b0_2, b1_0, b1_1, b1_2, = b
            out = []
            for r in range(0, len(a), 3):
                a0, a1, a2, = a[r:r + 3]
                out += [a0 * b0_0 + a1 * b0_1 + a2 * b0_2, a0 * b1_0 + a1 * b1_1 + a2 * b1_2]
            return out

    Unrolling removes the inner loop, its index arithmetic and its list lookups: the sum is one
    expression that CPython evaluates on local variables without leaving its interpreter loop, about
    3x faster than three nested loops. The sum starts from the first product rather than from 0;
    0 + x == x for every float but -0.0, whose sign nothing downstream can see.
    """
    if not UNROLL or n > MAX_UNROLL:
        return _matmul_loop(n)
    a = ", ".join("a%d" % j for j in range(n)) + ","
    if S == 0:
        name = "matmul_%d" % n
        b = ", ".join("b%d" % j for j in range(n)) + ","
        dot = " + ".join("a%d * b%d" % (j, j) for j in range(n))
        head = "    b_rows = [b[s:s + {n}] for s in range(0, len(b), {n})]\n"
        row = "[{dot} for {b} in b_rows]".format(dot=dot, b=b)
    else:
        name = "matmul_%dx%d" % (n, S)
        head = "    " + ", ".join("b%d_%d" % (s, j) for s in range(S) for j in range(n)) + ", = b\n"
        row = "[%s]" % ", ".join(" + ".join("a%d * b%d_%d" % (j, s, j) for j in range(n)) for s in range(S))
    src = ("def {name}(a, b):\n" + head +
           "    out = []\n"
           "    for r in range(0, len(a), {n}):\n"
           "        {a} = a[r:r + {n}]\n"
           "        out += {row}\n"
           "    return out\n").format(name=name, n=n, a=a, row=row)
    return define(src, name)


def _matmul_loop(n):
    # the same sums as the generated code, as plain loops: for PyPy, and for rows too long to unroll
    def matmul_loop(a, b):
        out = []
        for r in range(0, len(a), n):
            for s in range(0, len(b), n):
                acc = a[r] * b[s]
                for j in range(1, n):
                    acc += a[r + j] * b[s + j]
                out.append(acc)
        return out
    return matmul_loop


def masked_matmul(a, b, n, mask):
    """matmul(a, b, n) where the flat (R, S) mask is nonzero, and 0.0 where it is zero.

    For the gradient of a ReLU's output, which the ReLU's backward reads only where the output is
    positive (about 20% of the entries): the dot products elsewhere would be thrown away.
    """
    return kernel(compile_masked_matmul, n)(a, b, mask)


def compile_masked_matmul(n):
    """Build and compile masked_matmul for rows of length n. For n = 3 the source is

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
    if not UNROLL or n > MAX_UNROLL:
        return _masked_matmul_loop(n)
    src = ("def masked_matmul_{n}(a, b, mask):\n"
           "    b_rows = [b[s:s + {n}] for s in range(0, len(b), {n})]\n"
           "    S = len(b_rows)\n"
           "    out = []\n"
           "    for r, m in zip(range(0, len(a), {n}), range(0, len(mask), S)):\n"
           "        {a}, = a[r:r + {n}]\n"
           "        out += [{dot} if keep else 0.0\n"
           "                for keep, b_s in zip(mask[m:m + S], b_rows)]\n"
           "    return out\n").format(
        n=n, a=", ".join("a%d" % j for j in range(n)),
        dot=" + ".join("a%d * b_s[%d]" % (j, j) for j in range(n)))
    return define(src, "masked_matmul_%d" % n)


def _masked_matmul_loop(n):
    def masked_matmul_loop(a, b, mask):
        out = []
        S = len(b) // n
        for r, m in zip(range(0, len(a), n), range(0, len(mask), S)):
            for s in range(S):
                acc = 0.0
                if mask[m + s]:
                    acc = a[r] * b[s * n]
                    for j in range(1, n):
                        acc += a[r + j] * b[s * n + j]
                out.append(acc)
        return out
    return masked_matmul_loop


def sparse_matmul(a, b, n):
    """a @ b for flat a (R, n) that is mostly exact zeros and flat b (n, S): (R, S). Note: b, not b^T.

    Row r of the output is the sum over j of a[r, j] * (row j of b), over the j where a[r, j] != 0 only.
    After a ReLU about 80% of the entries are exactly zero (measured on the default run), so this does a
    fifth of the multiply-adds of matmul. Each output still sums its terms left to right; skipping a
    term 0 * b leaves every partial sum unchanged (x + 0 == x), but for the sign of a zero (b finite).
    """
    return kernel(compile_sparse_matmul, len(b) // n)(a, b, n)


def compile_sparse_matmul(S):
    """Build and compile sparse_matmul for rows of b of length S. For S = 2 the source is

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
    if not UNROLL or S > MAX_UNROLL:
        return _sparse_matmul_loop(S)
    outs = ", ".join("o%d" % s for s in range(S))
    src = ("def sparse_matmul_{S}(a, b, n):\n"
           "    b_rows = [b[j:j + {S}] for j in range(0, len(b), {S})]\n"
           "    out = []\n"
           "    for r in range(0, len(a), n):\n"
           "        {zeros} = 0.0\n"
           "        for a_j, b_row in zip(a[r:r + n], b_rows):\n"
           "            if a_j:\n"
           "                {b}, = b_row\n"
           "{adds}\n"
           "        out += [{outs}]\n"
           "    return out\n").format(
        S=S, outs=outs, zeros=" = ".join("o%d" % s for s in range(S)),
        b=", ".join("b%d" % s for s in range(S)),
        adds="\n".join("                o%d += a_j * b%d" % (s, s) for s in range(S)))
    return define(src, "sparse_matmul_%d" % S)


def _sparse_matmul_loop(S):
    def sparse_matmul_loop(a, b, n):
        out = []
        for r in range(0, len(a), n):
            row = [0.0] * S
            for j in range(n):
                a_j = a[r + j]
                if a_j:
                    for s in range(S):
                        row[s] += a_j * b[j * S + s]
            out += row
        return out
    return sparse_matmul_loop


def mostly_zeros(a):
    # list.count runs in C: about 1 ns an entry, against ~15 ns for each multiply-add it can save
    return 2 * a.count(0.0) > len(a)


def transpose(a, cols):
    """(R, cols) -> (cols, R): column c of a is the slice a[c::cols]."""
    out = []
    for c in range(cols):
        out += a[c::cols]
    return out


def columns(x, cols, start, width):
    """Columns start..start+width of the flat (R, cols) matrix x, as a flat (R, width) matrix."""
    out = []
    for r in range(start, len(x), cols):
        out += x[r:r + width]
    return out


def put_columns(x, cols, start, part, width):
    """Write the flat (R, width) matrix `part` into columns start..start+width of x, in place."""
    for r, p in zip(range(start, len(x), cols), range(0, len(part), width)):
        x[r:r + width] = part[p:p + width]


def add_into(acc, offset, d):
    """acc[offset + i] += d[i]: gradients flowing into a slice of the flat gradient list."""
    end = offset + len(d)
    acc[offset:end] = [a + b for a, b in zip(acc[offset:end], d)]


# --------------------------------------------------------------------------------------------------
# forward/backward pairs

def linear_forward(x, W, n_in):
    # out[t, o] = sum_i W[o, i] x[t, i]:  (T, n_in) @ (n_out, n_in)^T -> (T, n_out)
    if mostly_zeros(x):  # mlp_fc2's input is a ReLU's output: skip its zeros, same sums
        return sparse_matmul(x, transpose(W, n_in), n_in)
    return matmul(x, W, n_in)


def linear_backward(dout, x, W, n_in, n_out, dx_mask=None):
    # dx[t, i] = sum_o dout[t, o] W[o, i]  = dout @ (W^T)^T    (only where dx_mask != 0, if given)
    # dW[o, i] = sum_t dout[t, o] x[t, i]  = dout^T @ (x^T)^T
    T = len(x) // n_in
    if mostly_zeros(dout):  # mlp_fc1's, zero wherever the ReLU after it was
        return sparse_matmul(dout, W, n_out), sparse_matmul(transpose(dout, n_out), x, T)
    if dx_mask is None:
        dx = matmul(dout, transpose(W, n_in), n_out)
    else:
        dx = masked_matmul(dout, transpose(W, n_in), n_out, dx_mask)
    if mostly_zeros(x):  # mlp_fc2's: dW^T = x^T @ dout
        return dx, transpose(sparse_matmul(transpose(x, n_in), dout, T), n_out)
    return dx, matmul(transpose(dout, n_out), transpose(x, n_in), T)


def rmsnorm_forward(x, C):
    # y = x * rstd,  rstd = (mean(x^2) + eps)^-0.5
    out, rstds = [], []
    inv_C = C ** -1
    for r in range(0, len(x), C):
        row = x[r:r + C]
        ms = 0
        for xi in row:
            ms += xi * xi
        rstd = (ms * inv_C + 1e-5) ** -0.5
        rstds.append(rstd)
        out += [xi * rstd for xi in row]
    return out, rstds


def rmsnorm_backward(dout, x, rstds, C):
    # dx_j = rstd dy_j - (rstd^3 / C) x_j sum_i dy_i x_i
    dx = []
    for r, rstd in zip(range(0, len(x), C), rstds):
        row, drow = x[r:r + C], dout[r:r + C]
        dot = 0.0
        for xi, di in zip(row, drow):
            dot += xi * di
        k = rstd ** 3 * dot / C
        dx += [rstd * di - k * xi for xi, di in zip(row, drow)]
    return dx


def softmax(row):
    # max-subtracted, e * total**-1, total summed left to right: the scalar engine's arithmetic
    m = max(row)
    exps = [math.exp(l - m) for l in row]
    total = 0
    for e in exps:
        total += e
    inv = total ** -1
    return [e * inv for e in exps]


def attention_forward(q, k, v, C, n_head, past=0):
    """Causal self-attention, per head h: a_t = softmax_{s <= t}(q_t . k_s / sqrt(hs)), out_t = sum_s a_s v_s.

    q holds T positions that come after `past` positions already in k and v (a KV cache), so k and v
    hold S = past + T positions. Returns out (T, C) and the attention weights, which only
    attention_backward reads. On CPython this runs code generated for (C, hs) (compile_attention_forward),
    which keeps the weights as att[t][s] = (one per head); on PyPy, one head at a time with matmul,
    which keeps them per head as (T, S) matrices with zeros where s > t.
    """
    hs = C // n_head
    if not UNROLL:
        return _attention_forward_heads(q, k, v, C, n_head, past)
    return kernel(compile_attention_forward, C, hs)(q, k, v, past)


def attention_backward(dout, q, k, v, atts, C, n_head):
    """(dq, dk, dv) for attention_forward without a KV cache (S = T)."""
    hs = C // n_head
    if not UNROLL:
        return _attention_backward_heads(dout, q, k, v, atts, C, n_head)
    return kernel(compile_attention_backward, C, hs)(dout, q, k, v, atts)


def _attention_forward_heads(q, k, v, C, n_head, past=0):
    # one head at a time, with the matmul helper: for PyPy, and the reference for the generated code
    hs = C // n_head
    scale = (hs ** 0.5) ** -1
    T, S = len(q) // C, len(k) // C
    out = [0.0] * (T * C)
    atts = []
    for h in range(0, C, hs):
        q_h, k_h = columns(q, C, h, hs), columns(k, C, h, hs)  # (T, hs), (S, hs)
        scores = matmul(q_h, k_h, hs)  # (T, S)
        att = []
        for t in range(T):
            seen = past + t + 1
            att += softmax([l * scale for l in scores[t * S:t * S + seen]])
            # adding 0 * v to a sum leaves it unchanged, so these zeros cost no exactness
            att += [0.0] * (S - seen)
        atts.append(att)
        vT_h = transpose(columns(v, C, h, hs), hs)  # (hs, S)
        put_columns(out, C, h, matmul(att, vT_h, S), hs)  # (T, hs)
    return out, atts


def _attention_backward_heads(dout, q, k, v, atts, C, n_head):
    hs = C // n_head
    scale = (hs ** 0.5) ** -1
    T = len(q) // C
    dq, dk, dv = [0.0] * (T * C), [0.0] * (T * C), [0.0] * (T * C)
    for h, att in zip(range(0, C, hs), atts):
        q_h, k_h, v_h = columns(q, C, h, hs), columns(k, C, h, hs), columns(v, C, h, hs)
        dout_h = columns(dout, C, h, hs)
        # through out = att @ v
        datt = matmul(dout_h, v_h, hs)  # (T, T)
        put_columns(dv, C, h, matmul(transpose(att, T), transpose(dout_h, hs), T), hs)
        # through the softmax: dlogit_s = a_s (da_s - sum_r a_r da_r), then the 1/sqrt(hs)
        dlogits = []
        for r in range(0, T * T, T):
            a, da = att[r:r + T], datt[r:r + T]
            mix = 0.0
            for a_s, da_s in zip(a, da):
                mix += a_s * da_s
            dlogits += [a_s * (da_s - mix) * scale for a_s, da_s in zip(a, da)]
        # through scores = q_h @ k_h^T
        put_columns(dq, C, h, matmul(dlogits, transpose(k_h, hs), T), hs)
        put_columns(dk, C, h, matmul(transpose(dlogits, T), transpose(q_h, hs), T), hs)
    return dq, dk, dv


def _names(prefix, n):
    # "x0, x1, x2," : a tuple of local variables, trailing comma and all (so that n = 1 is a tuple too)
    return "".join("%s%d, " % (prefix, i) for i in range(n)).rstrip(" ")


def _each(template, n, indent):
    # one line per i = 0..n-1: "o{i} += a{i} * v{i}" -> "o0 += a0 * v0", "o1 += a1 * v1", ...
    return "\n".join(indent + template.format(i=i) for i in range(n))


def _weighted_rows(out, weight, row, C, hs, indent):
    # "o0 += a0 * v0" ... : channel c of a row, weighted by its head's weight
    return "\n".join("%s%s%d += %s%d * %s%d" % (indent, out, c, weight, c // hs, row, c) for c in range(C))


def _head_dots(x, y, C, hs):
    # ["x0 * y0 + x1 * y1", "x2 * y2 + x3 * y3"] for C = 4, hs = 2: one dot product per head
    return [" + ".join("%s%d * %s%d" % (x, c, y, c) for c in range(h, h + hs)) for h in range(0, C, hs)]


def compile_attention_forward(C, hs):
    """Build and compile attention_forward for C channels in heads of size hs. For C = 4, hs = 2:

        def attention_4_2(q, k, v, past):
            k_rows = [k[s:s + 4] for s in range(0, len(k), 4)]
            v_rows = [v[s:s + 4] for s in range(0, len(v), 4)]
            out, atts = [], []
            for t in range(len(q) // 4):
                q0, q1, q2, q3, = q[t * 4:t * 4 + 4]
                logits = [((q0 * k0 + q1 * k1) * scale, (q2 * k2 + q3 * k3) * scale)
                          for k0, k1, k2, k3, in k_rows[:past + t + 1]]
                m0, m1, = map(max, zip(*logits))
                exps = [(exp(l0 - m0), exp(l1 - m1)) for l0, l1, in logits]
                z0 = z1 = 0
                for e0, e1, in exps:
                    z0 += e0
                    z1 += e1
                z0, z1, = z0 ** -1, z1 ** -1,
                att = [(e0 * z0, e1 * z1) for e0, e1, in exps]
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
    heads side by side (the scalar engine's softmax: max subtracted, exps summed left to right from 0,
    times total**-1). The output row builds up in local variables over the positions seen. No per-head
    copies of q, k and v, no per-head calls. The weights are kept as att[t][s] = (a_head0, a_head1, ..).
    """
    nh = C // hs
    name = "attention_%d_%d" % (C, hs)
    src = ("def {name}(q, k, v, past):\n"
           "    k_rows = [k[s:s + {C}] for s in range(0, len(k), {C})]\n"
           "    v_rows = [v[s:s + {C}] for s in range(0, len(v), {C})]\n"
           "    out, atts = [], []\n"
           "    for t in range(len(q) // {C}):\n"
           "        {q} = q[t * {C}:t * {C} + {C}]\n"
           "        logits = [({logits}) for {k} in k_rows[:past + t + 1]]\n"
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
        name=name, C=C, q=_names("q", C), k=_names("k", C), v=_names("v", C), m=_names("m", nh),
        l=_names("l", nh), e=_names("e", nh), z=_names("z", nh), a=_names("a", nh), o=_names("o", C),
        logits=", ".join("(%s) * scale" % dot for dot in _head_dots("q", "k", C, hs)) + ",",
        exps=", ".join("exp(l%d - m%d)" % (h, h) for h in range(nh)) + ",",
        z_zero=" = ".join("z%d" % h for h in range(nh)),
        z_adds=_each("z{i} += e{i}", nh, " " * 12),
        z_inv=", ".join("z%d ** -1" % h for h in range(nh)) + ",",
        weights=", ".join("e%d * z%d" % (h, h) for h in range(nh)) + ",",
        o_zero=" = ".join("o%d" % c for c in range(C)),
        o_adds=_weighted_rows("o", "a", "v", C, hs, " " * 12))
    return define(src, name, exp=math.exp, scale=(hs ** 0.5) ** -1)


def compile_attention_backward(C, hs):
    """Build and compile attention_backward for C channels in heads of size hs. For C = 4, hs = 2:

        def attention_backward_4_2(dout, q, k, v, atts):
            d_rows, q_rows, k_rows, v_rows = [[x[r:r + 4] for r in range(0, len(x), 4)]
                                              for x in (dout, q, k, v)]
            T = len(k_rows)
            dq, dk, dv, dls = [], [], [], []
            for t in range(T):
                d0, d1, d2, d3, = d_rows[t]
                att = atts[t]
                datt = [(d0 * v0 + d1 * v1, d2 * v2 + d3 * v3,) for v0, v1, v2, v3, in v_rows[:t + 1]]
                mix0 = mix1 = 0.0
                for (a0, a1,), (da0, da1,) in zip(att, datt):
                    mix0 += a0 * da0
                    mix1 += a1 * da1
                dl = [(a0 * (da0 - mix0) * scale, a1 * (da1 - mix1) * scale,)
                      for (a0, a1,), (da0, da1,) in zip(att, datt)]
                dls.append(dl)
                e0 = e1 = e2 = e3 = 0.0
                for (k0, k1, k2, k3,), (l0, l1,) in zip(k_rows, dl):
                    e0 += l0 * k0
                    ...
                dq += [e0, e1, e2, e3]
            for s in range(T):
                e0 = e1 = e2 = e3 = 0.0
                for (d0, d1, d2, d3,), (l0, l1,) in zip(d_rows[s:], [att[s] for att in atts[s:]]):
                    e0 += l0 * d0
                    ...
                dv += [e0, e1, e2, e3]
                (dk the same way, from column s of the dls and the rows of q)
            return dq, dk, dv

    Per head: datt = dout @ v^T, dv = att^T @ dout; through the softmax, dlogit_s = a_s (da_s -
    sum_r a_r da_r) / sqrt(hs); then dq = dlogits @ k and dk = dlogits^T @ q. The first loop goes over
    the rows t (datt, dlogits, dq), the second over the positions s, where dv and dk read column s of
    att and of dlogits, from row s on (above it they would be zeros).
    """
    nh = C // hs
    name = "attention_backward_%d_%d" % (C, hs)
    a_da = "({a}), ({da}) in zip(att, datt)".format(a=_names("a", nh), da=_names("da", nh))
    src = ("def {name}(dout, q, k, v, atts):\n"
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
           "        dl = [({dls}) for {a_da}]\n"
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
        name=name, C=C, d=_names("d", C), q=_names("q", C), k=_names("k", C), v=_names("v", C),
        l=_names("l", nh), e=_names("e", C), a_da=a_da,
        datts=", ".join(_head_dots("d", "v", C, hs)) + ",",
        mix_zero=" = ".join("mix%d" % h for h in range(nh)),
        mix_adds=_each("mix{i} += a{i} * da{i}", nh, " " * 12),
        dls=", ".join("a{i} * (da{i} - mix{i}) * scale".format(i=h) for h in range(nh)) + ",",
        e_zero=" = ".join("e%d" % c for c in range(C)),
        dq_adds=_weighted_rows("e", "l", "k", C, hs, " " * 12),
        dv_adds=_weighted_rows("e", "l", "d", C, hs, " " * 12),
        dk_adds=_weighted_rows("e", "l", "q", C, hs, " " * 12))
    return define(src, name, scale=(hs ** 0.5) ** -1)


def nll_forward(logits, targets, V):
    # -log softmax(logits)[target] per position; probs are kept for the backward
    losses, probs = [], []
    for t, target in enumerate(targets):
        p = softmax(logits[t * V:(t + 1) * V])
        probs.append(p)
        # a probability that underflowed to 0 (a diverging run) costs infinitely much, it is not an error
        losses.append(-math.log(p[target]) if p[target] > 0 else math.inf)
    return losses, probs


def nll_backward(dlosses, probs, targets):
    # d(-log p_target)/d logit_v = p_v - [v == target]
    dlogits = []
    for d, p, target in zip(dlosses, probs, targets):
        row = [pv * d for pv in p]
        row[target] -= d
        dlogits += row
    return dlogits


# --------------------------------------------------------------------------------------------------
# the op set of model.GPT.forward, recording each backward on a tape

class Tensor:
    __slots__ = ("data", "rows", "cols", "grad", "grad_mask")

    def __init__(self, data, rows, cols):
        self.data, self.rows, self.cols = data, rows, cols
        self.grad = None  # filled by the backward pass; never modified in place, so it may be shared
        # Only the backward of the op that made a tensor reads its grad. If that op reads only some
        # entries, grad_mask (R, C) is zero at the others, and they need not be computed.
        self.grad_mask = None


class Weight:
    """A matrix inside the flat parameter list: rows x cols starting at offset."""
    __slots__ = ("offset", "rows", "cols")

    def __init__(self, offset, rows, cols):
        self.offset, self.rows, self.cols = offset, rows, cols


def accumulate(t, d):
    t.grad = d if t.grad is None else [a + b for a, b in zip(t.grad, d)]


class FastOps:
    def __init__(self, model, grad=True, kv_cache=False):
        self.P = model.params
        self.G = [0.0] * len(self.P) if grad else None
        self.weights = {name: Weight(*spec) for name, spec in model.layout.items()}
        self.written = set()  # offsets of the matrices whose gradient has been written into G
        self.tape = []  # (backward, output) in forward order
        self.kv = {} if kv_cache else None  # layer -> (keys, values) seen so far, for incremental sampling
        self.pos = 0  # positions already in the kv cache

    def _record(self, backward, out):
        if self.G is not None:
            self.tape.append((backward, out))

    def _weight_grad(self, w, dW):
        # the first gradient into a matrix is written, later ones (a batch of documents) are added
        if w.offset in self.written:
            add_into(self.G, w.offset, dW)
        else:
            self.G[w.offset:w.offset + len(dW)] = dW
            self.written.add(w.offset)

    def _matrix(self, w):
        return self.P[w.offset:w.offset + w.rows * w.cols]

    def embed(self, wte, wpe, tokens):
        C, P, pos0 = wte.cols, self.P, self.pos
        if pos0 + len(tokens) > wpe.rows:
            raise ValueError("more positions than block_size")
        data = []
        for t, token in enumerate(tokens):
            a, b = wte.offset + token * C, wpe.offset + (pos0 + t) * C
            data += [x + y for x, y in zip(P[a:a + C], P[b:b + C])]
        out = Tensor(data, len(tokens), C)
        if self.kv is not None:
            self.pos += len(tokens)

        def backward():
            for t, token in enumerate(tokens):
                d = out.grad[t * C:(t + 1) * C]
                add_into(self.G, wte.offset + token * C, d)
                add_into(self.G, wpe.offset + (pos0 + t) * C, d)
        self._record(backward, out)
        return out

    def add(self, a, b):
        out = Tensor([x + y for x, y in zip(a.data, b.data)], a.rows, a.cols)

        def backward():
            accumulate(a, out.grad)
            accumulate(b, out.grad)
        self._record(backward, out)
        return out

    def rmsnorm(self, x):
        data, rstds = rmsnorm_forward(x.data, x.cols)
        out = Tensor(data, x.rows, x.cols)

        def backward():
            accumulate(x, rmsnorm_backward(out.grad, x.data, rstds, x.cols))
        self._record(backward, out)
        return out

    def linear(self, x, w):
        W = self._matrix(w)
        out = Tensor(linear_forward(x.data, W, x.cols), x.rows, w.rows)

        def backward():
            dx, dW = linear_backward(out.grad, x.data, W, x.cols, w.rows, x.grad_mask)
            accumulate(x, dx)
            self._weight_grad(w, dW)
        self._record(backward, out)
        return out

    def relu(self, x):
        out = Tensor([xi if xi > 0 else 0.0 for xi in x.data], x.rows, x.cols)
        out.grad_mask = out.data  # d/dx relu(x) = 0 where relu(x) = 0: the backward reads no dout there

        def backward():
            accumulate(x, [d if xi > 0 else 0.0 for xi, d in zip(x.data, out.grad)])
        self._record(backward, out)
        return out

    def attention(self, q, k, v, n_head, layer=0):
        T, C = q.rows, q.cols
        if self.kv is not None:
            # incremental decoding: attend over everything cached so far plus the new positions
            keys, values = self.kv.setdefault(layer, ([], []))
            past = len(keys) // C
            keys += k.data
            values += v.data
            data, _ = attention_forward(q.data, keys, values, C, n_head, past)
            return Tensor(data, T, C)
        data, atts = attention_forward(q.data, k.data, v.data, C, n_head)
        out = Tensor(data, T, C)

        def backward():
            dq, dk, dv = attention_backward(out.grad, q.data, k.data, v.data, atts, C, n_head)
            accumulate(q, dq)
            accumulate(k, dk)
            accumulate(v, dv)
        self._record(backward, out)
        return out

    def nll(self, logits, targets):
        losses, probs = nll_forward(logits.data, targets, logits.cols)
        out = Tensor(losses, len(losses), 1)

        def backward():
            accumulate(logits, nll_backward(out.grad, probs, targets))
        self._record(backward, out)
        return out

    def mean(self, nlls):
        n = 0
        total = 0
        for x in nlls:
            n += len(x.data)
            for loss in x.data:
                total += loss
        out = Tensor([(1 / n) * total], 1, 1)

        def backward():
            for x in nlls:
                accumulate(x, [out.grad[0] * (1 / n)] * len(x.data))
        self._record(backward, out)
        return out

    def backward(self, loss):
        loss.grad = [1.0]
        for backward, out in reversed(self.tape):
            if out.grad is not None:  # else nothing downstream used it
                backward()
        # the tape's closures refer back to self: dropping them breaks that cycle, so the step's
        # activations are freed at once instead of waiting for the garbage collector (~7% faster)
        self.tape = []
        return self.G


def loss_and_grad(model, batch):
    """(mean loss, d loss / d params as one flat list) for a batch of token lists."""
    ops = FastOps(model)
    loss = model.loss(ops, batch)
    return loss.data[0], ops.backward(loss)


def loss_only(model, batch):
    """The mean loss with no tape and no gradients: for held-out evaluation."""
    return model.loss(FastOps(model, grad=False), batch).data[0]


class Decoder:
    """Feeds tokens one at a time through the model with a KV cache; logits() gives plain floats."""

    def __init__(self, model):
        self.model = model
        self.ops = FastOps(model, grad=False, kv_cache=True)

    def logits(self, token):
        return self.model.forward(self.ops, [token]).data
