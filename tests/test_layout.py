"""The package's shape: imports point one way (app -> engine -> models -> calibration; inside engine,
commands -> offline -> outputs -> live) and no module imports itself back through others."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"app": 3, "engine": 2, "models": 1, "calibration": 0}
ENGINE_LAYERS = {"commands": 3, "offline": 2, "outputs": 1, "live": 0}


def _modules() -> dict[str, Path]:
    found = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        if parts[0] in LAYERS:
            name = ".".join(("poselift",) + parts)
            found[name.removesuffix(".__init__")] = f
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every module's imports of the package's modules, those inside functions included."""
    graph = {}
    for name, f in modules.items():
        package = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                deps |= {t for t in [target] + [f"{target}.{a.name}" for a in node.names] if t in modules}
        graph[name] = deps - {name}
    return graph


def test_imports_point_one_way_and_never_in_a_circle():
    graph = _imports(_modules())
    assert len(graph) > 50
    for module, deps in graph.items():
        for dep in deps:
            a, b = module.split("."), dep.split(".")
            assert LAYERS[a[1]] >= LAYERS[b[1]], f"{module} imports {dep}"
            if a[1] == b[1] == "engine" and len(a) > 3 and len(b) > 3:
                assert ENGINE_LAYERS[a[2]] >= ENGINE_LAYERS[b[2]], f"{module} imports {dep}"
    done, path = set(), []

    def visit(module: str) -> None:
        assert module not in path, "import circle: " + " -> ".join(path[path.index(module):] + [module])
        if module in done:
            return
        path.append(module)
        for dep in graph[module]:
            visit(dep)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)
