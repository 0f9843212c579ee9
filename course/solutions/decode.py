def decode(tokens, chars):
    """Token ids back to text, every BOS left out (see exercises/decode.py)."""
    bos = len(chars)
    return "".join(chars[t] for t in tokens if t != bos)
