"""Value: a scalar that remembers how it was computed, so that backward() can apply the chain rule.

Every operation makes a new Value holding its result, the Values it came from (children) and the local
derivative of the result with respect to each child. backward() visits the graph from the output to
the leaves and accumulates  child.grad += local_grad * node.grad.

Plain numbers mixed into an expression (2 * v, v + 1) are constants: they have no gradient, so they are
not made into nodes. The arithmetic is the same as if they were; the graph is just smaller.

Left out: tensors. Everything is one float at a time, which is slow and is the point: every step of the
calculus is visible. engine.py does the same arithmetic on whole vectors.
"""

import math


class Value:
    __slots__ = ("data", "grad", "_children", "_local_grads")

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), (1, 1))
        return Value(self.data + other, (self,), (1,))

    def __mul__(self, other):
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), (other.data, self.data))
        return Value(self.data * other, (self,), (other,))

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** supports a number exponent only")
        # d/dx x^n = n x^(n-1), and d/dx x^0 = 0 even at x = 0
        local = exponent * self.data ** (exponent - 1) if exponent != 0 else 0.0
        return Value(self.data ** exponent, (self,), (local,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,))  # d/dx e^x = e^x

    def log(self):
        if self.data == 0:  # the limit, not an error: a probability can underflow to 0 when training diverges
            return Value(-math.inf, (self,), (math.inf,))
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def relu(self):
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    # everything else is made of the operations above, exactly as written
    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def __repr__(self):
        return "Value(data=%r, grad=%r)" % (self.data, self.grad)

    @staticmethod
    def dot(a, b):
        """sum(ai * bi for ai, bi in zip(a, b)) as ONE node instead of 2n (n products, n sums).

        The value is that sum, added left to right from 0. The gradient is that of the 2n nodes too:
        the sums pass their gradient g on unchanged (local gradient 1), so each product would add
        bi * g to ai and ai * g to bi, which is exactly what this node's local gradients do, child by
        child in the same order. Even the rounding is the same: backward() meets the children in the
        order the products would have been met. It makes the scalar engine ~3x faster.
        """
        data = 0
        children, local_grads = [], []
        for ai, bi in zip(a, b):
            x, y = ai.data, bi.data
            data += x * y
            children += (ai, bi)
            local_grads += (y, x)  # d(x y)/dx = y, d(x y)/dy = x
        return Value(data, children, local_grads)

    def backward(self):
        """Fill .grad of every Value this one depends on, with d(self)/d(that Value)."""
        # Topological order by depth-first search, children before parents. The explicit stack visits
        # nodes in the same order as the textbook recursive version, without its recursion limit.
        # Leaves (parameters, inputs) are left out of the order: they have no children to pass a
        # gradient on to, and skipping them changes nothing about the order of the others.
        topo, visited = [], {self}
        stack = [(self, iter(self._children))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in visited:
                    visited.add(child)
                    if child._children:
                        stack.append((child, iter(child._children)))
                        break
            else:
                stack.pop()
                topo.append(node)
        self.grad = 1
        for node in reversed(topo):
            g = node.grad
            for child, local in zip(node._children, node._local_grads):
                child.grad += local * g
