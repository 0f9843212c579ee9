def softmax_backward(probs, dprobs):
    """dlogits from dprobs through p = softmax(l) (see exercises/softmax_backward.py)."""
    # d p_j / d l_i = p_j ([i == j] - p_i), so dlogits_i = sum_j dprobs_j p_j ([i == j] - p_i)
    #                                                    = p_i (dprobs_i - sum_j p_j dprobs_j)
    mean = sum(p * d for p, d in zip(probs, dprobs))
    return [p * (d - mean) for p, d in zip(probs, dprobs)]
