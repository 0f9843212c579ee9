def bigram_probs(sequences, vocab_size, smoothing=1.0):
    """probs[a][b] = (counts[a][b] + s) / (row total + s * V) (see exercises/bigram_probs.py)."""
    counts = [[0] * vocab_size for _ in range(vocab_size)]
    for seq in sequences:
        for a, b in zip(seq, seq[1:]):  # every pair of neighbours: b follows a
            counts[a][b] += 1
    probs = []
    for row in counts:
        total = sum(row) + smoothing * vocab_size  # each row is its own distribution
        probs.append([(c + smoothing) / total if total else 0.0 for c in row])
    return probs
