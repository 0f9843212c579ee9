"""MicroGPT: a GPT-2-style language model that trains and samples in pure, dependency-free Python.

The package's top level is the book, read in this order: data (the tokenizer and the documents; bpe, a
tokenizer learnt from the text) -> autograd (Value) -> ops (the operations an engine supplies) -> model
(the GPT) -> scalar_engine (the ops made of Values) -> optim (Adam) -> config -> train (the loop) ->
sample. It imports only the standard library and itself. Beside it, built on it and never imported by it:
speed/ (the fast engine, its generated kernels, workers, evaluation, the optional PyTorch engine) and
tool/ (the command line, run directories, checkpoints, downloads, the report, export, bench).
"""

__version__ = "0.1.0"
