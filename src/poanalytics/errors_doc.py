"""The error-code reference (docs/errors.md), generated from the package source.

Every ``PoaError`` (``ConfigError``, ``InputError``, ``WarehouseError``, ``MetricError``, ...) raised
in ``src/poanalytics``, and every coded ``PoaWarning``, is found with ``ast``: its code, class,
message and hint. Codes built from a
helper's argument (``code=f"{area}.date_range"``, ``check_count(..., "paths.steps")``) are followed
to the helper's call sites, so each code is listed as users see it. Run
``python -m poanalytics.errors_doc`` (or ``make docs``) to rewrite the file; a test fails when it is
out of date, and when an error has no hint.
"""

from __future__ import annotations

import ast
import copy
import itertools
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DOC = PACKAGE.parents[1] / "docs" / "errors.md"
BASES = ("PoaError", "PoaWarning")  # errors stop the work; warnings (also coded) do not
MAX_DEPTH = 6  # helper -> helper -> ... chains followed to find a literal code
FIELDS = ("code", "message", "hint")
_Exprs = dict[str, ast.expr | None]


@dataclass
class Raise:
    """One way an error can be raised: resolved code, class, message gist, hint, and where."""

    code: str
    error: str
    message: str
    hint: str | None
    module: str  # the module whose source holds the code (the helper's caller, if forwarded)
    site: str  # module:line of the error class call, for messages about missing hints


@dataclass
class _Func:
    name: str
    params: list[str]
    defaults: dict[str, ast.expr]
    module: str
    local: dict[str, ast.expr] = field(default_factory=dict)  # names assigned once: name -> value


def _stem(module: str) -> str:
    return module.rsplit("/", 1)[-1].removesuffix(".py")


class _Index:
    """The package's functions, their call sites, and the PoaError classes with their codes."""

    def __init__(self, root: Path) -> None:
        self.trees = {
            p.relative_to(root).as_posix(): ast.parse(p.read_text(encoding="utf-8"))
            for p in sorted(root.rglob("*.py"))
        }
        self.class_codes = self._classes()
        self.funcs: dict[str, list[_Func]] = defaultdict(list)
        self.imports: dict[str, dict[str, str]] = {}  # module -> local name -> module stem
        calls: list[tuple[ast.Call, _Func | None, str]] = []
        self.templates: list[tuple[ast.Call, _Func | None, str]] = []
        for module, tree in self.trees.items():
            self.imports[module] = _imports(tree)
            self._walk(tree, None, module, calls)
        self.sites: dict[int, list[tuple[ast.Call, _Func | None, str]]] = defaultdict(list)
        for call, caller, module in calls:
            for func in self._targets(call, module):
                self.sites[id(func)].append((call, caller, module))

    def _classes(self) -> dict[str, str]:
        bases: dict[str, tuple[list[str], str | None]] = {}
        for tree in self.trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    code = next(
                        (
                            str(s.value.value)
                            for s in node.body
                            if isinstance(s, ast.Assign)
                            and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)
                            and isinstance(s.value, ast.Constant)
                        ),
                        None,
                    )
                    names = [_name(b) for b in node.bases]
                    bases[node.name] = ([n for n in names if n], code)
        family: dict[str, str] = {}
        changed = True
        while changed:
            changed = False
            for name, (parents, code) in bases.items():
                if name in family:
                    continue
                if name in BASES or any(p in family for p in parents):
                    inherited = next((family[p] for p in parents if p in family), "poa")
                    family[name] = code or inherited
                    changed = True
        return family

    def _walk(self, node: ast.AST, func: _Func | None, module: str, calls: list) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = _function(child, module)
                self.funcs[child.name].append(inner)
                self._walk(child, inner, module, calls)
                continue
            if isinstance(child, ast.Call):
                name = _name(child.func)
                if name in self.class_codes:
                    self.templates.append((child, func, module))
                elif name:
                    calls.append((child, func, module))
            self._walk(child, func, module, calls)

    def _targets(self, call: ast.Call, module: str) -> list[_Func]:
        """The package functions a call can reach: by import, by module alias, or self.method."""
        name = _name(call.func)
        defs = self.funcs.get(name or "", [])
        if not defs:
            return []
        imports = self.imports[module]
        if isinstance(call.func, ast.Name):
            here = [f for f in defs if f.module == module]
            return here or [f for f in defs if _stem(f.module) == imports.get(call.func.id)]
        owner = call.func.value if isinstance(call.func, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            return [f for f in defs if f.module == module]
        if isinstance(owner, ast.Name) and owner.id in imports:
            return [f for f in defs if _stem(f.module) == imports[owner.id]]
        return defs if len(defs) == 1 else []


def _imports(tree: ast.Module) -> dict[str, str]:
    """Names a module imports from the package: local name -> stem of the module they live in."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or (node.module or "").startswith("poanalytics")
        ):
            last = (node.module or "").rsplit(".", 1)[-1]
            for alias in node.names:
                # `from . import formats as f` names a module; `from .x import f` a name in x
                out[alias.asname or alias.name] = alias.name if not node.module else last
    return out


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, module: str) -> _Func:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    params = [a.arg for a in [*positional, *args.kwonlyargs]]
    defaults = {a.arg: d for a, d in zip(positional[::-1], args.defaults[::-1], strict=False)}
    defaults |= {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    assigned: dict[str, list[ast.expr]] = defaultdict(list)
    for sub in _own_nodes(node):
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
            target = sub.targets[0]
            if isinstance(target, ast.Name):
                assigned[target.id].append(sub.value)
            else:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        assigned[n.id] += [sub.value, sub.value]  # unpacked: not one value
        elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name) and sub.value:
            assigned[sub.target.id].append(sub.value)
        elif isinstance(sub, ast.For) and isinstance(sub.target, ast.Name):
            items = sub.iter.elts if isinstance(sub.iter, ast.Tuple | ast.List) else None
            if items and all(isinstance(i, ast.Constant) for i in items):
                assigned[sub.target.id].append(_choice(sub.target.id, items))
            else:
                assigned[sub.target.id] += [sub.iter, sub.iter]
    local = {k: v[0] for k, v in assigned.items() if len(v) == 1 and k not in params}
    return _Func(node.name, params, defaults, module, local)


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function, without those of functions defined inside it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        yield child
        yield from _own_nodes(child)


def _choice(name: str, items: list[ast.expr]) -> ast.expr:
    """One of several values, as nested IfExps whose tests are enumerated together (see _cases)."""
    out = items[-1]
    for i, item in reversed(list(enumerate(items[:-1]))):
        out = ast.IfExp(test=ast.Name(id=f"__{name}_is_{i}"), body=item, orelse=out)
    return out


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Bind(ast.NodeTransformer):
    """Replace names (a function's parameters or locals) by the expressions they stand for."""

    def __init__(self, values: dict[str, ast.expr]) -> None:
        self.values = values

    def visit_Name(self, node: ast.Name) -> ast.AST:
        value = self.values.get(node.id)
        return copy.deepcopy(value) if value is not None else node


def _bind(exprs: _Exprs, values: dict[str, ast.expr]) -> _Exprs:
    if not values:
        return exprs
    return {
        k: None if e is None else _Bind(values).visit(copy.deepcopy(e)) for k, e in exprs.items()
    }


class _Pick(ast.NodeTransformer):
    """Keep one branch of each IfExp whose test is decided in ``choice``."""

    def __init__(self, choice: dict[str, bool]) -> None:
        self.choice = choice

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        decided = self.choice.get(ast.dump(node.test))
        if decided is None:
            return self.generic_visit(node)
        return self.visit(node.body if decided else node.orelse)


def _cases(exprs: _Exprs) -> Iterator[_Exprs]:
    """The code, message and hint for each combination of conditions they share, so that
    ``code="x_format" if unreadable else "x"`` stays paired with its own message."""
    tests = list(
        dict.fromkeys(
            ast.dump(n.test)
            for e in exprs.values()
            if e is not None
            for n in ast.walk(e)
            if isinstance(n, ast.IfExp)
        )
    )[:6]
    for values in itertools.product((True, False), repeat=len(tests)):
        choice = dict(zip(tests, values, strict=True))
        yield {
            k: None if e is None else _Pick(choice).visit(copy.deepcopy(e))
            for k, e in exprs.items()
        }


def _texts(node: ast.expr | None) -> list[str | None]:
    """The strings an expression can be, with {placeholders} for what the source does not fix."""
    if node is None:
        return [None]
    if isinstance(node, ast.Constant):
        return [None if node.value is None else str(node.value)]
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                inner = _texts(value.value)
                known = all(t is not None and "{" not in t for t in inner)
                parts.append([t or "" for t in inner] if known else [_placeholder(value.value)])
            else:
                parts.append([str(value.value)] if isinstance(value, ast.Constant) else ["…"])
        return ["".join(p) for p in itertools.islice(itertools.product(*parts), 16)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [
            (a or "") + (b or "")
            for a, b in itertools.product(_texts(node.left), _texts(node.right))
        ]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    return [_placeholder(node)]


def _placeholder(node: ast.expr) -> str:
    """{name} for a plain (dotted) name, {…} for any other expression; a 'did you mean' is left out."""
    if isinstance(node, ast.Call) and _name(node.func) == "did_you_mean":
        return ""
    text = ast.unparse(node)
    if re.fullmatch(r"[A-Za-z_][\w.]{0,29}", text) and not text.startswith("None."):
        return "{" + text + "}"
    return "{…}"


def _arguments(call: ast.Call, func: _Func) -> dict[str, ast.expr] | None:
    """Parameter -> expression at this call site (defaults filled in); None if it does not fit."""
    params = func.params[1:] if func.params[:1] in (["self"], ["cls"]) else func.params
    if any(isinstance(a, ast.Starred) for a in call.args) or len(call.args) > len(params):
        return None
    values = dict(func.defaults)
    values |= dict(zip(params, call.args, strict=False))
    values |= {k.arg: k.value for k in call.keywords if k.arg}
    return values


def _expand(
    index: _Index, exprs: _Exprs, func: _Func | None, module: str, depth: int
) -> Iterator[tuple[_Exprs, str]]:
    """Follow the parameters that the code or hint use to every call site of their function."""
    if func is not None:
        for _ in range(3):  # locals defined from other locals
            exprs = _bind(exprs, func.local)
    used = {
        n.id
        for k in ("code", "hint")
        if exprs[k] is not None
        for n in ast.walk(exprs[k])  # type: ignore[arg-type]
        if isinstance(n, ast.Name)
    }
    free = [p for p in (func.params if func else []) if p in used and p not in ("self", "cls")]
    sites = index.sites.get(id(func), []) if func and free else []
    if not sites or depth >= MAX_DEPTH:
        yield exprs, module
        return
    assert func is not None
    for call, caller, caller_module in sites:
        values = _arguments(call, func)
        if values is not None:
            bound = _bind(exprs, {p: values[p] for p in func.params if p in values})
            yield from _expand(index, bound, caller, caller_module, depth + 1)


def collect(root: Path = PACKAGE) -> list[Raise]:
    """Every error the package can raise, one entry per resolved code and call site."""
    index = _Index(root)
    out: list[Raise] = []
    for call, func, module in index.templates:
        error = _name(call.func) or "?"
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        exprs: dict[str, ast.expr | None] = {
            "code": keywords.get("code"),
            "message": call.args[0] if call.args else keywords.get("message"),
            "hint": keywords.get("hint"),
        }
        site = f"{module}:{call.lineno}"
        for expanded, origin in _expand(index, exprs, func, module, 0):
            for bound in _cases(expanded):
                code = _texts(bound["code"])[0] if bound["code"] is not None else None
                message = _texts(bound["message"])[0] or ""
                hint = _texts(bound["hint"])[0]
                out.append(
                    Raise(
                        code or index.class_codes[error],
                        error,
                        " ".join(message.split()),
                        None if hint is None else " ".join(hint.split()),
                        origin,
                        site,
                    )
                )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(raises: list[Raise]) -> str:
    """docs/errors.md: one table per area (the part of the code before the first dot)."""
    by_code: dict[str, list[Raise]] = defaultdict(list)
    for r in raises:
        by_code[r.code].append(r)
    areas: dict[str, list[str]] = defaultdict(list)
    for code in sorted(by_code):
        areas[code.split(".")[0]].append(code)
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from the source by `make docs` (python -m poanalytics.errors_doc). "
        "Do not edit: tests/test_errors_doc.py fails when this file is out of date. -->",
        "",
        "Every error poanalytics raises is a `PoaError` with a stable `code`, shown as",
        "`[code] what was found` and `What to do: ...` (the CLI prints no traceback for them).",
        "Notebooks and scripts can match on it: `except poa.PoaError as e: if e.code == ...`.",
        "Rows whose class is `PoaWarning` are warnings: the work goes on, and the warning says what",
        "was left out or assumed (metrics also keep them on `result.warnings`).",
        "`{name}` in a message stands for a value filled in when the error is raised.",
        "",
        f"{len(by_code)} codes in {len(areas)} areas.",
    ]
    for area, codes in sorted(areas.items()):
        lines += ["", f"## {area}", "", "| code | error | what it means | what to do | raised in |"]
        lines.append("|---|---|---|---|---|")
        for code in codes:
            group = by_code[code]
            errors = sorted({r.error for r in group})
            messages = list(dict.fromkeys(r.message for r in group if r.message))
            hints = list(dict.fromkeys(r.hint for r in group if r.hint))
            modules = sorted({r.module for r in group})
            lines.append(
                f"| `{code}` | {', '.join(errors)} | "
                f"{_cell('<br>'.join(messages[:4]) + (' …' if len(messages) > 4 else ''))} | "
                f"{_cell('<br>'.join(hints[:4]))} | {', '.join(modules)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else DOC
    text = render(collect())
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({text.count(chr(10) + '| `')} codes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
