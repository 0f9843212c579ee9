def bigram_probs(sequences, vocab_size, smoothing=1.0):
    """Stage 00's model: the probability of each next token given the one before, from counts.

    sequences: a list of token lists (ints in 0..vocab_size-1), e.g. framed names [BOS, e, m, m, a, BOS].
    counts[a][b] is how many times token b directly follows token a, over all the sequences.
    Returns probs, vocab_size rows of vocab_size numbers:

        probs[a][b] = (counts[a][b] + s) / (sum over b' of counts[a][b'] + s * vocab_size),   s = smoothing

    so every row sums to 1; a row whose denominator is 0 (a token never followed by anything, and s = 0)
    is all zeros.
    """
    raise NotImplementedError
