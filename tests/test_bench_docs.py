"""Every benchmark script in bench/ is documented in bench/README.md.

A bench nobody can find the command, baseline or data of cannot be re-run or judged, so each
bench/<name>.py must have its own `## <name>` section in bench/README.md giving the command (which
names the script), what it measures, the baseline it prints a ratio against, the data it uses and
its typical runtime. No time is asserted anywhere: this checks the documentation only.
"""

import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
FIELDS = ("Command", "Measures", "Baseline", "Data", "Runtime")


def sections():
    """{section title: body} for the `## ` sections of bench/README.md."""
    text = (BENCH / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## +(.+?) *$", text, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def bench_names():
    return sorted(p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_there_are_benches():
    assert "imports" in bench_names() and "export" in bench_names()


@pytest.mark.parametrize("name", bench_names())
def test_every_bench_has_a_documented_section(name):
    found = sections()
    assert name in found, f"bench/{name}.py has no '## {name}' section in bench/README.md"
    body = found[name]
    missing = [field for field in FIELDS if not re.search(rf"^\*\*{field}\.?\*\*", body, flags=re.MULTILINE)]
    assert not missing, f"bench/README.md '## {name}' lacks {', '.join(missing)} (each as a '**Field.**' line)"
    command = re.search(r"^\*\*Command\.?\*\*(.*?)(?=^\*\*|\Z)", body, flags=re.MULTILINE | re.DOTALL).group(1)
    assert f"bench/{name}.py" in command, f"the '{name}' command does not name bench/{name}.py"
    for field in FIELDS:
        value = re.search(rf"^\*\*{field}\.?\*\*(.*?)(?=^\*\*|\Z)", body, flags=re.MULTILINE | re.DOTALL).group(1)
        assert value.strip(), f"bench/README.md '## {name}': {field} is empty"


def test_no_section_for_a_bench_that_is_gone():
    names = set(bench_names())
    documented = {
        title for title, body in sections().items() if re.search(r"^\*\*Command\.?\*\*", body, flags=re.MULTILINE)
    }
    assert documented <= names, f"bench/README.md documents benches that do not exist: {sorted(documented - names)}"
