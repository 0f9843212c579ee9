def backprop(children, local_grads, out):
    """d node_out / d node_j for every node j (see exercises/backprop.py)."""
    # A topological order: depth-first from out, each node listed after all of its children. Walked
    # backwards, every node comes before its children, so its gradient is complete when it is passed on.
    topo, visited = [], set()
    stack = [(out, False)]
    while stack:  # a stack instead of recursion, which deep graphs would take past Python's limit
        node, children_done = stack.pop()
        if children_done:
            topo.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in children[node])
    grads = [0.0] * len(children)
    grads[out] = 1.0
    for node in reversed(topo):
        for child, local in zip(children[node], local_grads[node]):
            grads[child] += local * grads[node]  # the chain rule; += sums the paths (and a repeated child)
    return grads
