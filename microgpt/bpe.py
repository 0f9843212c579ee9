"""Byte-level BPE: a tokenizer that learns its tokens from the text.

The char tokenizer (data.py) gives each distinct character of the data a token: it cannot encode a
character it never saw, and every token is one character, so the context of block_size tokens holds only
block_size characters. Byte pair encoding (Sennrich et al. 2016, on bytes as in GPT-2 and minbpe) starts
instead from the 256 possible bytes, so any text at all is a sequence of tokens, and learns longer ones:

    1. write the training text as UTF-8 bytes: tokens 0..255 (a Chinese character is 3 of them, an emoji 4);
    2. count every adjacent pair of tokens, overlapping ones too: "aaa" holds the pair (a, a) twice;
    3. the most frequent pair (a, b) becomes a new token, 256 for the first, 257 for the next, ...; its
       occurrences are replaced from left to right, so in "aaa" only the first two bytes merge. Ties go
       to the smallest pair, compared as (a, b), a first, so the result never depends on the order of a
       dictionary;
    4. repeat until the vocabulary has vocab_size tokens (the 256 bytes, the merges and BOS), or until
       no pair occurs twice (a merge then would save nothing).

The list of merges, in order, is the whole tokenizer. Encoding a text applies them in that order, each
from left to right; decoding joins the tokens' bytes. Tokens are bytes, not characters, so a sequence the
model writes can stop inside a character: decode shows such broken bytes as U+FFFD (errors="replace")
instead of failing, and is exact for anything encode produced. Pairs never span two documents, and BOS,
the last token, marks where documents begin and end, as in data.Tokenizer.

Recounting every pair after each merge would read the whole text once per merge (255 passes over Tiny
Shakespeare's million bytes for a vocabulary of 512). Training here reads it once: it keeps the tokens in
a linked list, the count of every pair, and where each pair occurs, and a merge touches only the places
it changes: at each occurrence of (a, b), the pairs (p, a) and (b, n) around it lose one and (p, ab),
(ab, n) gain one. A heap of the counts gives the most frequent pair without a look at every pair. On
Tiny Shakespeare with CPython: 512 tokens in ~8 s and 2,305 in ~13 s, where recounting everything (as the
tests' reference does) takes ~1.6 s a merge, ~6 minutes for 512. Encoding uses the same linked list,
with the places where each merge applies collected as they appear.

Left out: GPT-2's split of the text into words before training (its regular expression is
English-minded), and special tokens other than BOS.
"""

import heapq

from .errors import MicroGPTError

GAP = -1  # between two documents: a pair with it in is never counted
GONE = -2  # a place merged into the one before it


class BPETokenizer:
    """Text <-> token ids: 0..255 are the bytes, 256 + i is merges[i] = (a, b), BOS is the last id."""

    def __init__(self, merges):
        self.merges = []
        self.rank = {}  # (a, b) -> i, the place of the pair in the merge order
        self.bytes = [bytes([b]) for b in range(256)]  # each token's bytes
        for i, pair in enumerate(merges):
            new = 256 + i
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(type(t) is int and 0 <= t < new for t in pair)):
                raise MicroGPTError("merge %d must be a pair of tokens below %d, got %.40r" % (i, new, pair))
            pair = tuple(pair)
            if pair in self.rank:
                raise MicroGPTError("merge %d repeats merge %d, %r" % (i, self.rank[pair], pair))
            self.merges.append(pair)
            self.rank[pair] = i
            self.bytes.append(self.bytes[pair[0]] + self.bytes[pair[1]])
        self.bos = 256 + len(self.merges)
        self.vocab_size = self.bos + 1

    @classmethod
    def train(cls, docs, vocab_size, progress=None):
        """The tokenizer learnt from the strings `docs`; progress(merges done, merges asked) now and then."""
        if vocab_size < 257:
            raise MicroGPTError("a byte-level BPE vocabulary has at least 257 tokens (256 bytes and BOS), got %d"
                                % vocab_size)
        return cls(learn_merges(docs, vocab_size - 257, progress))

    def encode(self, text):
        try:
            ids = list(text.encode("utf-8"))
        except UnicodeEncodeError as e:  # a str can hold what no UTF-8 does: a lone surrogate
            raise MicroGPTError("the text holds U+%04X, a lone surrogate (half of a UTF-16 pair, or a byte that "
                                "was not UTF-8), which has no UTF-8 bytes to encode" % ord(text[e.start]))
        return merge_all(ids, self.merges, self.rank) if len(ids) > 1 and self.merges else ids

    def decode(self, ids):
        """The text of `ids` (BOS left out); bytes that are not whole UTF-8 characters show as U+FFFD."""
        return b"".join(self.bytes[i] for i in ids if i != self.bos).decode("utf-8", errors="replace")

    def frame(self, doc):
        """[BOS] + doc + [BOS]: what a document looks like to the model."""
        return [self.bos] + self.encode(doc) + [self.bos]


# --------------------------------------------------------------------------------------------------
# training: the merges, counted once and updated where they change

def learn_merges(docs, n_merges, progress=None, every=32):
    """Up to n_merges pairs, each the most frequent (then the smallest) after the ones before it."""
    tokens = []
    for doc in docs:
        tokens += doc.encode("utf-8")
        tokens.append(GAP)
    text, merges = Pairs(tokens), []
    while len(merges) < n_merges:
        pair, count = text.most_frequent()
        if count < 2:
            break
        text.merge(pair, 256 + len(merges))
        merges.append(pair)
        if progress and (len(merges) % every == 0 or len(merges) == n_merges):
            progress(len(merges), n_merges)
    return merges


class Pairs:
    """A token list as a linked list, with the count of every adjacent pair and the places it occurs."""

    def __init__(self, tokens):
        self.tokens, n = tokens, len(tokens)
        self.after = list(range(1, n + 1))  # the next live place, n past the end
        self.before = list(range(-1, n - 1))
        self.counts, self.where = {}, {}  # pair -> how many times it occurs; pair -> places (some stale)
        for i in range(n - 1):
            self.add((tokens[i], tokens[i + 1]), i, +1)
        # (-count, pair): the top is the most frequent pair, the smallest of those tied. A merge pushes the
        # pairs it made with their new counts; a count that shrank is put right when its entry comes to the top.
        self.heap = [(-c, pair) for pair, c in self.counts.items()]
        heapq.heapify(self.heap)

    def add(self, pair, i, k):
        """k = +1 or -1 occurrences of `pair`, at place i when +1."""
        if pair[0] < 0 or pair[1] < 0:
            return
        c = self.counts.get(pair, 0) + k
        if c:
            self.counts[pair] = c
        else:  # gone from the text: forget it
            del self.counts[pair], self.where[pair]
        if k > 0:
            self.where.setdefault(pair, []).append(i)

    def most_frequent(self):
        """(pair, count) of the most frequent pair, the smallest of those tied; (None, 0) if there is none."""
        while self.heap:
            c, pair = self.heap[0]
            now = self.counts.get(pair, 0)
            if now == -c:
                return pair, now
            heapq.heappop(self.heap)
            if now > -c:
                continue  # it grew since: a later entry holds its count
            if now:
                heapq.heappush(self.heap, (-now, pair))  # it shrank since: back in at its count
        return None, 0

    def merge(self, pair, new):
        """Replace each occurrence of `pair` by the token `new`, from left to right."""
        tokens, after, before, n = self.tokens, self.after, self.before, len(self.tokens)
        a, b = pair
        made = set()
        for i in sorted(self.where[pair]):
            j = after[i]
            if tokens[i] != a or j == n or tokens[j] != b:
                continue  # a stale place, or one an overlapping occurrence just took (the 2nd "aa" of "aaa")
            p, k = before[i], after[j]
            if p >= 0:
                self.add((tokens[p], a), p, -1)
                self.add((tokens[p], new), p, +1)
                made.add((tokens[p], new))
            if k < n:
                self.add((b, tokens[k]), j, -1)
                self.add((new, tokens[k]), i, +1)
                made.add((new, tokens[k]))
            self.add(pair, i, -1)
            tokens[i], tokens[j] = new, GONE
            after[i] = k
            if k < n:
                before[k] = i
        for pair in made:
            if pair in self.counts:
                heapq.heappush(self.heap, (-self.counts[pair], pair))


# --------------------------------------------------------------------------------------------------
# encoding: the merges applied in order

def merge_all(ids, merges, rank):
    """`ids` with the merges applied in order, each from left to right (rank: pair -> its place in merges).

    todo[r] collects the places where merge r may apply, found once at the start and then as merges make
    new pairs; `due` is a heap of the r that have places, so a short text does not visit every merge. A
    merge only makes pairs with its new token in, which only later merges can use, so the places found
    always belong to a merge not yet reached."""
    n = len(ids)
    after = list(range(1, n + 1))
    before = list(range(-1, n - 1))
    todo, due = {}, []

    def note(pair, i):
        r = rank.get(pair)
        if r is not None:
            if r not in todo:
                todo[r] = []
                heapq.heappush(due, r)
            todo[r].append(i)

    for i in range(n - 1):
        note((ids[i], ids[i + 1]), i)
    while due:
        r = heapq.heappop(due)
        a, b = merges[r]
        new = 256 + r
        for i in sorted(todo.pop(r)):
            j = after[i]
            if ids[i] != a or j == n or ids[j] != b:
                continue  # a place an overlapping occurrence just took, or one changed since
            ids[i], ids[j] = new, GONE
            k = after[j]
            after[i] = k
            if k < n:
                before[k] = i
                note((new, ids[k]), i)
            if before[i] >= 0:
                note((ids[before[i]], new), before[i])
    return [t for t in ids if t != GONE]
