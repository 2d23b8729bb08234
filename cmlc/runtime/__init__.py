"""Runtime: the compiled model, input checking and artifacts. It reads what the compiler wrote
(the manifest, :mod:`cmlc.spec`) and never imports the frontends or the translator."""
from .compiled_model import CompiledModel, load
from .inputs import InputSchema, aligned_empty, kernel_input

__all__ = ["CompiledModel", "InputSchema", "aligned_empty", "kernel_input", "load"]
