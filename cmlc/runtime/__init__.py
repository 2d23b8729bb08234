"""Runtime: the compiled model, input checking and artifacts."""
from .artifact import load
from .compiled_model import CompiledModel, classes_from_json, classes_to_json
from .inputs import InputSchema, aligned_empty, prepare_input

__all__ = ["CompiledModel", "InputSchema", "aligned_empty", "classes_from_json", "classes_to_json", "load", "prepare_input"]
