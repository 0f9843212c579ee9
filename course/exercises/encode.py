def encode(text, chars):
    """The tokenizer, one way: a text to its token ids, framed by BOS.

    chars: the vocabulary, the distinct characters in sorted order (a string or a list). Token i is the
    character chars[i]; one more token, BOS = len(chars), marks where a document begins and ends.
    text: a string made of characters in chars.
    Returns the list [BOS, id of text[0], id of text[1], ..., BOS]: len(text) + 2 ints.

    Example: encode("emma", "abcdefghijklmnopqrstuvwxyz") == [26, 4, 12, 12, 0, 26].
    """
    raise NotImplementedError
