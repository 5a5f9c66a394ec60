"""The rooms of skyreels_jax import what docs/architecture.md lists, and the listing runs one way."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "skyreels_jax"


def room_of(module: str) -> str:
    """The room of a dotted module name: "nn/" for skyreels_jax.nn.x, "media.py" for skyreels_jax.media."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__.py"
    return f"{parts[1]}/" if (PACKAGE / parts[1]).is_dir() else f"{parts[1]}.py"


def imported_modules(tree: ast.AST):
    """Every skyreels_jax module an AST imports, at module level or inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "skyreels_jax")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "skyreels_jax":  # from skyreels_jax import media: the module named
                yield from (f"skyreels_jax.{a.name}" for a in node.names)
            elif node.module.split(".")[0] == "skyreels_jax":
                yield node.module


def code_graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        room = room_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        targets = {room_of(m) for m in imported_modules(ast.parse(path.read_text()))}
        graph.setdefault(room, set()).update(targets - {room})
    return graph


def documented_graph() -> dict[str, set[str]]:
    graph = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`[\w.]+/?`", cells[0]):
            room = cells[0].strip("`")
            assert room not in graph, f"{room} has two rows in docs/architecture.md"
            graph[room] = set(re.findall(r"`([\w.]+/?)`", cells[2]))
    return graph


def test_the_rooms_import_what_the_architecture_doc_lists():
    code, doc = code_graph(), documented_graph()
    assert set(code) == set(doc), (f"rooms without a row: {sorted(set(code) - set(doc))}; "
                                   f"rows without a room: {sorted(set(doc) - set(code))}")
    wrong = {room: {"imports but not listed": sorted(code[room] - doc[room]),
                    "listed but not imported": sorted(doc[room] - code[room])}
             for room in code if code[room] != doc[room]}
    assert not wrong, f"docs/architecture.md and the imports differ: {wrong}"


def test_the_listing_runs_one_way():
    graph, done, path = documented_graph(), set(), []

    def visit(room):
        assert room not in path, f"the rooms import each other in a circle: {' -> '.join(path + [room])}"
        if room in done:
            return
        path.append(room)
        for target in sorted(graph.get(room, ())):
            visit(target)
        path.pop()
        done.add(room)

    for room in sorted(graph):
        visit(room)
