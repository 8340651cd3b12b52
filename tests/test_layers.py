"""The layer contract covers every module, and no first-party import hides inside a function.

import-linter (run by `./tandem check`) enforces `.importlinter`'s layers, but only for the modules the
contract names: a module that belongs to no layer is unconstrained. This test walks the source tree, so
a new module must be placed in a layer before it can land (the URLconf walk in test_roles does the same
for pages)."""

import ast
import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("annotate", "curation", "workers", "config")


def project_modules():
    for path in sorted(ROOT.glob("*/**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in APPS or "migrations" in rel.parts:
            continue
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        yield name, path


def layers():
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    text = parser["importlinter:contract:layers"]["layers"]
    return [[m.strip() for m in line.replace("|", ":").split(":") if m.strip()] for line in text.strip().splitlines()]


def owner(module, layer_list):
    """The layer whose listed module is `module` or one of its packages (longest match wins)."""
    best = None
    for i, members in enumerate(layer_list):
        for m in members:
            if (module == m or module.startswith(m + ".")) and (best is None or len(m) > len(best[1])):
                best = (i, m)
    return best


def test_every_module_belongs_to_a_layer():
    layer_list = layers()
    assert len(layer_list) == 6, "web, runs, curation, judging, ml, core"
    packages_only = {"annotate", "curation", "workers", "config", "annotate.management.commands"}
    missing = [m for m, _ in project_modules() if m not in packages_only and owner(m, layer_list) is None]
    assert missing == [], f"modules in no layer of .importlinter: {missing}"


def test_each_listed_module_exists():
    names = {m for m, _ in project_modules()}
    listed = [m for members in layers() for m in members]
    assert [m for m in listed if m not in names] == []
    assert len(listed) == len(set(listed)), "a module is listed in two layers"


# Modules that import torch/TRL at load time (they subclass TRL's trainers). They are the one exception:
# importing them lazily keeps torch out of web processes (tests/test_web_footprint.py). import-linter
# still sees those imports, so the edge is checked all the same; the comment "# lazy:" marks them.
HEAVY_MODULES = {"workers.pref_trainers", "workers.reward_loss"}
HEAVY_LIBRARIES = {"torch", "trl", "transformers", "peft"}


def test_heavy_modules_are_really_heavy():
    """The exception list cannot grow into a loophole: each entry imports a heavy library at the top."""
    for name in HEAVY_MODULES:
        tree = ast.parse((ROOT / (name.replace(".", "/") + ".py")).read_text())
        top = {
            (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
            for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
        assert top & HEAVY_LIBRARIES, name


def test_no_first_party_import_inside_a_function():
    """A function-local import hides an edge from readers (and once hid cycles); imports of the
    project's own modules sit at the top of the module, except the heavy trainer modules above.
    Third-party imports (torch) may stay lazy."""
    hidden = []
    for name, path in project_modules():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module in HEAVY_MODULES:
                    continue  # lazy on purpose, see HEAVY_MODULES
                if (
                    isinstance(node, ast.ImportFrom)
                    and (node.level or (node.module or "").split(".")[0] in APPS)
                    or isinstance(node, ast.Import)
                    and any(a.name.split(".")[0] in APPS for a in node.names)
                ):
                    hidden.append(f"{name}:{node.lineno}")
    assert hidden == []


def _graph():
    import grimp  # the library import-linter builds on

    return grimp.build_graph(*APPS, cache_dir=None)


def test_no_backwards_edge_and_the_check_is_live():
    """The same check lint-imports makes, here too; then a planted core -> web import must break it."""
    import grimp

    graph = _graph()
    layer_sets = [grimp.Layer(*members, independent=False) for members in layers()]
    assert graph.find_illegal_dependencies_for_layers(layers=layer_sets) == set()
    graph.add_import(importer="annotate.queue", imported="curation.views.dashboard", line_number=1, line_contents="x")
    illegal = graph.find_illegal_dependencies_for_layers(layers=layer_sets)
    assert {(d.importer, d.imported) for d in illegal} == {("annotate.queue", "curation.views")}
