def decode(tokens, chars):
    """The tokenizer, the other way: token ids back to text.

    chars: the vocabulary (a string or a list); token i is chars[i], and BOS = len(chars).
    tokens: a list of ints in 0..len(chars).
    Returns the text of every token but BOS, in order (a BOS anywhere is left out).

    Example: decode([26, 4, 12, 12, 0, 26], "abcdefghijklmnopqrstuvwxyz") == "emma".
    """
    raise NotImplementedError
