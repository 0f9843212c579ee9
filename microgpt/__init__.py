"""MicroGPT: a GPT-2-style language model that trains and samples in pure, dependency-free Python.

Read it in this order: data (tokenizer) -> autograd (Value) -> scalar_engine -> engine (fast) ->
model -> optim -> train -> sample -> cli. Beyond pure Python: torch_engine (the same model on
PyTorch, optional), export (safetensors).
"""

__version__ = "0.1.0"
