"""Safe by default, checked in the source: nothing in techscreen can unpickle a file.

A pickle (or joblib, or torch checkpoint) runs code when loaded; techscreen loads models from
safetensors, ONNX and NumPy arrays only. This walks every module's syntax tree for calls that
would unpickle, so a new one fails here instead of slipping into a release.
"""

from __future__ import annotations

import ast

from conftest import ROOT

UNPICKLING = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("cloudpickle", "load"),
    ("cloudpickle", "loads"),
    ("joblib", "load"),
    ("torch", "load"),
    ("dill", "load"),
    ("pd", "read_pickle"),
    ("pandas", "read_pickle"),
}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name):
                yield owner.id, node.func.attr, node


def test_no_module_unpickles_anything():
    found = []
    for path in sorted((ROOT / "src" / "techscreen").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for owner, attr, node in _calls(tree):
            pickled = any(
                k.arg == "allow_pickle"
                and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                for k in node.keywords
            )
            if (owner, attr) in UNPICKLING or (attr == "load" and pickled):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{attr}")
    assert not found, found


def test_the_check_sees_an_unpickling_call():
    tree = ast.parse("import numpy as np\nnp.load('x.npy', allow_pickle=True)\njoblib.load(p)")
    seen = [(o, a) for o, a, n in _calls(tree)]
    assert ("joblib", "load") in seen and ("np", "load") in seen
