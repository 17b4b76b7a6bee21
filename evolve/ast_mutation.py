"""Random edits of the evolvable block of a Python-source program.

One edit is one of:

* perturb a numeric literal, relative (``x * (1 + s * N(0, 1))``) or absolute
  (``x + s * N(0, 1)``), with the scale ``s`` drawn from a short list;
* swap an arithmetic operator (``+ - * / **`` among themselves, ``//`` with
  ``%``), an augmented assignment's operator, or a comparison operator (``< <=
  > >=`` among themselves, ``==`` with ``!=``);
* replace a called function by another of its group, for example ``np.max`` by
  ``np.min``, from groups of functions with the same signature that the problem gives;
* duplicate a statement, or delete one (a body left empty gets ``pass``).

Edits work on the source text at the positions ``ast`` reports, so comments and
formatting outside the edited node survive. Only nodes that lie entirely inside
the evolvable block are edited. A child must parse and its normalized source
(``ast.unparse``) must differ from the parent's; edits that fail either check
are drawn again.
"""

import ast
import dataclasses
import logging
from collections.abc import Mapping, Sequence

import numpy as np

from evolve.python_program import PythonProgram, normalize_source

logger = logging.getLogger(__name__)

DEFAULT_EDIT_WEIGHTS: Mapping[str, float] = {
    "perturb_literal": 6.0,
    "swap_operator": 1.5,
    "swap_function": 1.0,
    "duplicate_statement": 1.0,
    "delete_statement": 1.0,
}

# Operators an edit may swap, in groups; a swap stays inside its group.
BINARY_OPERATOR_GROUPS = ((ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow), (ast.FloorDiv, ast.Mod))
COMPARISON_GROUPS = ((ast.Lt, ast.LtE, ast.Gt, ast.GtE), (ast.Eq, ast.NotEq))

# Significant digits of a perturbed float literal, so that the source stays readable.
LITERAL_DIGITS = 6


class MutationError(ValueError):
    """No edit of a parent produced a valid, different child."""


@dataclasses.dataclass(frozen=True)
class AstMutator:
    """Proposes a child of a `PythonProgram` by one or more random edits of its block.

    Attributes:
        function_groups: groups of dotted names (``"np.max"``) of functions with
            the same signature; a call of one may become a call of another.
        edit_weights: relative probability of each edit kind.
        relative_scales: scales ``s`` of relative literal perturbations.
        absolute_scales: scales ``s`` of absolute literal perturbations.
        extra_edit_probability: after each edit, the chance of one more edit.
        max_tries: edits drawn before giving up on a different child.
    """

    function_groups: Sequence[Sequence[str]] = ()
    edit_weights: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_EDIT_WEIGHTS))
    relative_scales: Sequence[float] = (0.01, 0.05, 0.2, 0.5)
    absolute_scales: Sequence[float] = (0.01, 0.1, 1.0)
    extra_edit_probability: float = 0.25
    max_tries: int = 50

    def __post_init__(self):
        unknown = set(self.edit_weights) - set(DEFAULT_EDIT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown edits {sorted(unknown)}; known edits: {sorted(DEFAULT_EDIT_WEIGHTS)}.")
        weights = list(self.edit_weights.values())
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"edit weights must be non-negative with a positive sum, got {dict(self.edit_weights)}.")
        if not 0 <= self.extra_edit_probability < 1:
            raise ValueError(f"extra_edit_probability must be in [0, 1), got {self.extra_edit_probability}.")
        for group in self.function_groups:
            if isinstance(group, str) or len(group) < 2:
                raise ValueError(f"each function group needs at least two dotted names, got {group!r}.")

    def mutate(self, parent: PythonProgram, rng: np.random.Generator) -> PythonProgram:
        """Return a child that parses and whose normalized source differs from the parent's.

        The child keeps the parent's warm start.

        Raises:
            SyntaxError: if the parent does not parse.
            MutationError: if ``max_tries`` edits produced no such child, for
                example because the evolvable block holds no statement.
        """
        parent_key = parent.normalized_source()
        for _ in range(self.max_tries):
            source = self._edit(parent, rng)
            while source is not None and rng.random() < self.extra_edit_probability:
                source = self._edit(PythonProgram(source), rng) or source
            if source is None:
                continue
            try:
                child_key = normalize_source(source)
            except SyntaxError:
                continue
            if child_key != parent_key:
                return PythonProgram(source, parent.warm_start)
        raise MutationError(
            f"no edit of the evolvable block produced a different program in {self.max_tries} tries; "
            "check that the block between the markers holds statements."
        )

    def _edit(self, program: PythonProgram, rng: np.random.Generator) -> str | None:
        """Apply one random edit and return the new source, or None if no edit applies."""
        try:
            sites = _Sites(program, self.function_groups)
        except SyntaxError:
            return None
        kinds = [kind for kind in self.edit_weights if self.edit_weights[kind] > 0 and sites.has(kind)]
        if not kinds:
            return None
        weights = np.array([self.edit_weights[kind] for kind in kinds], dtype=float)
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        return getattr(self, f"_{kind}")(sites, rng)

    # Edits. Each returns the edited source.

    def _perturb_literal(self, sites: "_Sites", rng: np.random.Generator) -> str:
        node, value = sites.literals[int(rng.integers(len(sites.literals)))]
        new_value = self._perturbed(value, rng)
        text = repr(new_value)
        if new_value < 0:
            text = f"({text})"
        return sites.replace(node, text)

    def _perturbed(self, value: int | float, rng: np.random.Generator) -> int | float:
        relative = value != 0 and rng.random() < 0.5
        scales = self.relative_scales if relative else self.absolute_scales
        scale = float(scales[int(rng.integers(len(scales)))])
        step = scale * float(rng.standard_normal())
        new_value = value * (1 + step) if relative else value + step
        if isinstance(value, int):
            new_int = int(round(new_value))
            if new_int == value:
                new_int = value + (1 if rng.random() < 0.5 else -1)
            return new_int
        if not np.isfinite(new_value):
            return value
        return float(f"{new_value:.{LITERAL_DIGITS}g}")

    def _swap_operator(self, sites: "_Sites", rng: np.random.Generator) -> str:
        node = sites.operators[int(rng.integers(len(sites.operators)))]
        new_node = _shallow_copy(node)
        if isinstance(node, ast.Compare):
            swappable = [i for i, op in enumerate(node.ops) if _in_groups(op, COMPARISON_GROUPS)]
            index = swappable[int(rng.integers(len(swappable)))]
            ops = list(node.ops)
            ops[index] = _other_in_group(ops[index], COMPARISON_GROUPS, rng)
            new_node.ops = ops
            return sites.replace(node, f"({ast.unparse(new_node)})")
        new_node.op = _other_in_group(node.op, BINARY_OPERATOR_GROUPS, rng)
        if isinstance(node, ast.AugAssign):
            return sites.replace(node, ast.unparse(new_node))
        return sites.replace(node, f"({ast.unparse(new_node)})")

    def _swap_function(self, sites: "_Sites", rng: np.random.Generator) -> str:
        func, name = sites.calls[int(rng.integers(len(sites.calls)))]
        groups = [group for group in self.function_groups if name in group]
        group = groups[int(rng.integers(len(groups)))]
        others = [other for other in group if other != name]
        return sites.replace(func, others[int(rng.integers(len(others)))])

    def _duplicate_statement(self, sites: "_Sites", rng: np.random.Generator) -> str:
        statement = sites.statements[int(rng.integers(len(sites.statements)))]
        return sites.duplicate(statement)

    def _delete_statement(self, sites: "_Sites", rng: np.random.Generator) -> str:
        statement = sites.statements[int(rng.integers(len(sites.statements)))]
        return sites.delete(statement)


def _other_in_group(op: ast.AST, groups, rng: np.random.Generator) -> ast.AST:
    for group in groups:
        if isinstance(op, group):
            others = [kind for kind in group if not isinstance(op, kind)]
            return others[int(rng.integers(len(others)))]()
    raise ValueError(f"operator {type(op).__name__} is in no swap group")


def _shallow_copy(node: ast.AST) -> ast.AST:
    fields = {name: getattr(node, name) for name in node._fields}
    return type(node)(**fields)


class _Sites:
    """The editable nodes inside a program's evolvable block, and text edits on them."""

    def __init__(self, program: PythonProgram, function_groups: Sequence[Sequence[str]]):
        self.source = program.source
        self.lines = self.source.splitlines(keepends=True)
        self.line_starts = np.cumsum([0] + [len(line) for line in self.lines]).tolist()
        first, end = program.block_lines()
        # ast line numbers start at 1; a node is editable if it lies within the block.
        self.first_line, self.last_line = first + 1, end
        tree = ast.parse(self.source)
        self.function_names = {name for group in function_groups for name in group}
        self.literals: list[tuple[ast.AST, int | float]] = []
        self.operators: list[ast.AST] = []
        self.calls: list[tuple[ast.AST, str]] = []
        self.statements: list[ast.stmt] = []
        self.containers: dict[int, list] = {}
        self._collect(tree, inside_fstring=False)

    def has(self, kind: str) -> bool:
        sites = {
            "perturb_literal": self.literals,
            "swap_operator": self.operators,
            "swap_function": self.calls,
            "duplicate_statement": self.statements,
            "delete_statement": self.statements,
        }
        return bool(sites[kind])

    def _inside(self, node: ast.AST) -> bool:
        return self.first_line <= node.lineno and node.end_lineno <= self.last_line

    def _collect(self, node: ast.AST, inside_fstring: bool) -> None:
        # f-string parts carry unreliable positions before Python 3.12, so they are skipped.
        inside_fstring = inside_fstring or isinstance(node, ast.JoinedStr)
        for name, value in ast.iter_fields(node):
            if isinstance(value, list) and value and all(isinstance(item, ast.stmt) for item in value):
                for statement in value:
                    self.containers[id(statement)] = value
        if not inside_fstring and isinstance(node, (ast.expr, ast.stmt)) and self._inside(node):
            self._classify(node)
        if isinstance(node, ast.UnaryOp) and _numeric_value(node) is not None:
            return  # a negative literal is one site, not a minus and a literal
        for child in ast.iter_child_nodes(node):
            self._collect(child, inside_fstring)

    def _classify(self, node: ast.AST) -> None:
        value = _numeric_value(node)
        if value is not None:
            self.literals.append((node, value))
        elif isinstance(node, ast.BinOp) and _in_groups(node.op, BINARY_OPERATOR_GROUPS):
            self.operators.append(node)
        elif isinstance(node, ast.AugAssign) and _in_groups(node.op, BINARY_OPERATOR_GROUPS):
            self.operators.append(node)
        elif isinstance(node, ast.Compare) and any(_in_groups(op, COMPARISON_GROUPS) for op in node.ops):
            self.operators.append(node)
        elif isinstance(node, ast.Call):
            name = _dotted_name(node.func)
            if name in self.function_names:
                self.calls.append((node.func, name))
        if isinstance(node, ast.stmt):
            self.statements.append(node)

    # Text edits.

    def _offset(self, lineno: int, col_offset: int) -> int:
        # ast columns count UTF-8 bytes, not characters.
        line = self.lines[lineno - 1]
        characters = len(line.encode("utf-8")[:col_offset].decode("utf-8", errors="ignore"))
        return self.line_starts[lineno - 1] + characters

    def _span(self, node: ast.AST) -> tuple[int, int]:
        return self._offset(node.lineno, node.col_offset), self._offset(node.end_lineno, node.end_col_offset)

    def replace(self, node: ast.AST, text: str) -> str:
        start, end = self._span(node)
        return self.source[:start] + text + self.source[end:]

    def duplicate(self, statement: ast.stmt) -> str:
        start, end = self._span(statement)
        line = self.lines[statement.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        return self.source[:end] + "\n" + indent + self.source[start:end] + self.source[end:]

    def delete(self, statement: ast.stmt) -> str:
        container = self.containers.get(id(statement), [])
        start, end = self._span(statement)
        if len(container) <= 1:
            return self.source[:start] + "pass" + self.source[end:]
        line_start = self.line_starts[statement.lineno - 1]
        line_end = self.line_starts[statement.end_lineno]
        whole_lines = (
            not self.source[line_start:start].strip()
            and not self.source[end:line_end].strip()
        )
        if whole_lines:
            return self.source[:line_start] + self.source[line_end:]
        return self.source[:start] + self.source[end:]


def _numeric_value(node: ast.AST) -> int | float | None:
    """Return the value of an int or float literal (``-2.5`` included), else None."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _numeric_value(node.operand)
        return None if inner is None or not isinstance(node.operand, ast.Constant) else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _in_groups(op: ast.AST, groups) -> bool:
    return any(isinstance(op, kind) for group in groups for kind in group)


def _dotted_name(node: ast.AST) -> str | None:
    """Return ``"np.linalg.norm"`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))
