"""The type stub shipped in the wheel (fast_lstm/__init__.pyi) names exactly what the module exports,
and both packages carry the PEP 561 marker that lets type checkers read their hints."""

import ast
import inspect
import pathlib

import fast_lstm
import lstmcore


def stub_names():
    stub = pathlib.Path(fast_lstm.__file__).with_name("__init__.pyi")
    assert stub.is_file(), "the wheel must ship fast_lstm/__init__.pyi"
    tree = ast.parse(stub.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_stub_and_py_typed_ship_with_the_package():
    assert pathlib.Path(fast_lstm.__file__).with_name("py.typed").is_file()


def test_lstmcore_ships_py_typed():
    # Without it mypy and pyright ignore lstmcore's hints (its overloads of return_state among them).
    assert pathlib.Path(lstmcore.__file__).with_name("py.typed").is_file()


def test_every_public_name_is_in_the_stub():
    missing = set(fast_lstm.__all__) - stub_names()
    assert not missing, f"add to __init__.pyi: {sorted(missing)}"


def test_the_stub_declares_nothing_the_module_lacks():
    declared = stub_names() - {"FloatArray"}
    extra = {name for name in declared if not hasattr(fast_lstm, name)}
    assert not extra, f"__init__.pyi declares names fast_lstm does not have: {sorted(extra)}"


def test_stub_signatures_match_the_bindings():
    stub = pathlib.Path(fast_lstm.__file__).with_name("__init__.pyi")
    tree = ast.parse(stub.read_text())
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        stub_args = [a.arg for a in node.args.args + node.args.kwonlyargs]
        doc = inspect.getdoc(getattr(fast_lstm, node.name)) or ""
        signature_line = doc.splitlines()[0] if doc else ""
        for arg in stub_args:
            assert f"{arg}" in signature_line, f"{node.name}: stub argument {arg!r} not in {signature_line!r}"


def test_every_public_function_has_a_docstring():
    for name in fast_lstm.__all__:
        assert (getattr(fast_lstm, name).__doc__ or "").strip(), f"{name} has no docstring"
