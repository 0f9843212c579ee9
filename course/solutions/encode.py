def encode(text, chars):
    """A text to its token ids, framed by BOS = len(chars) (see exercises/encode.py)."""
    index = {ch: i for i, ch in enumerate(chars)}  # a dict finds a character at once; chars.index() searches
    bos = len(chars)
    return [bos] + [index[ch] for ch in text] + [bos]
