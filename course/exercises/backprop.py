def backprop(children, local_grads, out):
    """Autograd's backward pass, on a graph written as plain lists.

    The graph has N nodes, numbered 0..N-1 in no particular order (a child may have a larger number than
    the node computed from it). children[i] lists the nodes that node i was computed from (empty for an
    input) and local_grads[i][k] is the local derivative d node_i / d children[i][k]. A child may be
    listed twice: for node_i = x * x, children[i] = [x, x] and local_grads[i] = [x, x] (the two halves of
    2x). The graph has no cycles.
    out: the number of the node whose gradient we want.
    Returns grads, N numbers: grads[j] = d node_out / d node_j (1 for out itself, 0 for the nodes out
    does not depend on).
    """
    raise NotImplementedError
