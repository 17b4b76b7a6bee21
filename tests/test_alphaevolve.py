"""Tests of the AlphaEvolve construction problems: verifiers, seeds, artifacts, hostile programs.

The hostile programs run through a real search with the in-process evaluator.
Each behaves on the probe instances (6 circles) and turns hostile on the full
instance (7 circles), so both the probe run and the full sandboxed run are
exercised. Every hostile program must be scored failed with a reason, and the
search must finish and score the honest seed program.
"""

import json
import math
import os
import re
import textwrap

import numpy as np
import pytest

from evolve import sandbox
from evolve.cli import main
from evolve.config import SearchConfig
from evolve.python_program import PythonProgram
from evolve.search import LocalEvaluator, Search
from hashing import hash_outputs
from problems.alphaevolve import (
    CirclePacking,
    ErdosMinimumOverlap,
    FirstAutocorrelation,
    HeilbronnTriangle,
    MinMaxDistance,
)
from problems.alphaevolve.autocorrelation import check_autoconvolution
from problems.alphaevolve.checks import ConstructionError
from problems.alphaevolve.circle_packing import check_packing
from problems.alphaevolve.construction import ARTIFACT
from problems.alphaevolve.erdos_overlap import check_overlap
from problems.alphaevolve.heilbronn import SQRT3, check_triangle_points
from problems.alphaevolve.min_max_distance import check_points

pytestmark = pytest.mark.timeout(300)

FAST = {"time_budget": 0.3, "timeout_grace": 3.0}


# ---------------------------------------------------------------- circle packing verifier


def two_circles(first=(0.25, 0.25), second=(0.75, 0.25), radii=(0.25, 0.25)):
    return {"centers": [list(first), list(second)], "radii": list(radii)}


def test_packing_valid_sum_is_recomputed():
    value, construction = check_packing(two_circles(), 2)
    assert value == 0.5
    assert construction == two_circles()


def test_packing_touching_circles_pass():
    value, _ = check_packing({"centers": [[0.5, 0.5]], "radii": [0.5]}, 1)
    assert value == 0.5


@pytest.mark.parametrize(
    ("construction", "message"),
    [
        (two_circles(radii=(math.nan, 0.25)), "non-finite value nan"),
        (two_circles(radii=(math.inf, 0.25)), "non-finite value inf"),
        (two_circles(radii=(-0.1, 0.25)), "negative radius"),
        (two_circles(second=(0.75 - 1e-12, 0.25)), "overlap by 1e-12"),
        ({"centers": [[0.5, 0.5 + 1e-12], [0.0, 0.0]], "radii": [0.5, 0.0]}, "crosses the top side"),
        ({"centers": [[0.5 - 1e-12, 0.5], [0.0, 0.0]], "radii": [0.5, 0.0]}, "crosses the left side"),
        ({"centers": [[0.25, 0.25, 0.0], [0.75, 0.25, 0.0]], "radii": [0.1, 0.1]}, "shape 2 x 2"),
        ({"centers": [[0.25, 0.25]], "radii": [0.1]}, "shape 2 x 2"),
        ({"centers": [[0.25, 0.25], [0.75, 0.25]], "radii": [[0.1, 0.1]]}, "shape 2"),
        ({"centers": [[0.25, 0.25], [0.75, "0.25"]], "radii": [0.1, 0.1]}, "real numbers"),
        ({"centers": [[0.25, 0.25], [0.75, 0.25]], "radii": [True, False]}, "real numbers"),
        ({"centers": np.array([[0.25, 0.25], [0.75, 0.25]]), "radii": np.array([1 + 0j, 0.1])}, "dtype complex"),
        ({"centers": [[0.25, 0.25], [0.75]], "radii": [0.1, 0.1]}, "not a rectangular array"),
        ({**two_circles(), "sum_of_radii": 100.0}, "unexpected \\['sum_of_radii'\\]"),
        ({"centers": [[0.25, 0.25], [0.75, 0.25]]}, "missing \\['radii'\\]"),
        ([[0.25, 0.25, 0.25]], "expected a dict"),
        ("2.6358", "expected a dict"),
        (None, "expected a dict"),
    ],
)
def test_packing_exploits_rejected(construction, message):
    with pytest.raises(ConstructionError, match=message):
        check_packing(construction, 2)


def test_packing_all_pairs_checked():
    # Circles 0 and 2 overlap; 0-1 and 1-2 do not.
    construction = {"centers": [[0.2, 0.2], [0.8, 0.8], [0.3, 0.2]], "radii": [0.1, 0.1, 0.05]}
    with pytest.raises(ConstructionError, match="circles 0 and 2 overlap"):
        check_packing(construction, 3)


# ---------------------------------------------------------------- point set verifiers


def test_points_ratio_of_unit_square():
    value, _ = check_points({"points": [[0, 0], [1, 0], [0, 1], [1, 1]]}, 4, 2)
    assert value == 2.0


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0, 0], [1, 0], [0, 0], [1, 1]], "points 0 and 2 coincide"),
        ([[0, 0], [1, 0], [0, math.nan], [1, 1]], "non-finite"),
        ([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], "shape 4 x 2"),
        ([[0, 0], [1, 0], [0, 1]], "shape 4 x 2"),
        ([[0, 0], [1e300, 0], [0, 1e-300], [1, 1]], "overflows|coincide"),
    ],
)
def test_points_exploits_rejected(points, message):
    with pytest.raises(ConstructionError, match=message):
        check_points({"points": points}, 4, 2)


def test_triangle_vertices_give_whole_area():
    value, _ = check_triangle_points({"points": [[0.0, 0.0], [1.0, 0.0], [0.5, SQRT3 / 2]]}, 3)
    assert value == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ([0.5, -1e-12], "below the side y = 0"),
        ([-1e-12, 0.0], "outside the left side"),
        ([0.5 + 1e-12, SQRT3 / 2], "outside the right side"),
        ([0.25, SQRT3 / 4 + 1e-12], "outside the left side"),
        ([math.inf, 0.0], "non-finite"),
    ],
)
def test_triangle_points_outside_rejected(point, message):
    construction = {"points": [[0.2, 0.1], [0.6, 0.2], point]}
    with pytest.raises(ConstructionError, match=message):
        check_triangle_points(construction, 3)


def test_triangle_collinear_points_score_zero():
    value, _ = check_triangle_points({"points": [[0.1, 0.0], [0.5, 0.0], [0.9, 0.0], [0.5, 0.5]]}, 4)
    assert value == 0.0


# ---------------------------------------------------------------- step function verifiers


def test_autoconvolution_of_constant_is_two():
    value, construction = check_autoconvolution({"values": [3.0] * 50}, 50)
    assert value == pytest.approx(2.0, rel=1e-14)
    assert construction["support"] == [-0.25, 0.25]


def test_autoconvolution_accepts_its_own_output():
    _, construction = check_autoconvolution({"values": np.linspace(1, 2, 10)}, 10)
    again, _ = check_autoconvolution(construction, 10)
    assert again == check_autoconvolution({"values": np.linspace(1, 2, 10)}, 10)[0]


@pytest.mark.parametrize(
    ("construction", "message"),
    [
        ({"values": [1.0, -1e-300, 1.0]}, "height 1 is negative"),
        ({"values": [0.0, 0.0, 0.0]}, "zero everywhere"),
        ({"values": [1.0, math.nan, 1.0]}, "non-finite"),
        ({"values": [1.0, 1.0]}, "shape 3"),
        ({"values": [1.0, 1.0, 1.0], "support": [-0.5, 0.5]}, "support must be"),
    ],
)
def test_autoconvolution_exploits_rejected(construction, message):
    with pytest.raises(ConstructionError, match=message):
        check_autoconvolution(construction, 3)


def test_overlap_of_half_constant_is_half():
    value, _ = check_overlap({"values": [0.5] * 40}, 40)
    assert value == pytest.approx(0.5, rel=1e-14)


def test_overlap_scales_raw_values_and_keeps_them():
    value, construction = check_overlap({"values": [1.0] * 40}, 40)
    assert value == pytest.approx(0.5, rel=1e-14)
    assert construction["values"] == [1.0] * 40
    assert check_overlap(construction, 40)[0] == value


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, 0.0, 0.0, 0.0], "above 1"),
        ([1.0, 1.0, -0.5, 0.5], "negative"),
        ([0.0, 0.0, 0.0, 0.0], "sum to zero"),
        ([1.0, math.inf, 0.0, 0.0], "non-finite"),
    ],
)
def test_overlap_exploits_rejected(values, message):
    with pytest.raises(ConstructionError, match=message):
        check_overlap({"values": values}, 4)


# ---------------------------------------------------------------- problems, references and artifacts


def test_references_and_best_known():
    assert CirclePacking({"n": 26}).best_known() == 2.6359830849
    assert CirclePacking({"n": 32}).best_known() == 2.9395727712
    assert math.isnan(CirclePacking({"n": 27}).best_known())
    assert MinMaxDistance({"n": 14, "dimension": 3}).best_known() == 4.165849767
    assert FirstAutocorrelation({}).best_known() == 1.5031635547
    # Reference scores are on the engine's scale, where higher is better.
    assert all(reference.score < 0 for reference in FirstAutocorrelation({}).references())


def test_score_and_columns_for_minimized_problem():
    problem = MinMaxDistance({"n": 4, "dimension": 2})
    program = PythonProgram("")
    evaluation = problem.score(program, {"points": np.array([[0.0, 0.0], [1, 0], [0, 1], [1, 1]])})
    assert evaluation.score == -2.0
    assert evaluation.values["distance_ratio_squared"] == 2.0
    assert math.isnan(evaluation.values["ratio_to_best_known"])
    assert evaluation.program.warm_start == {"points": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}


def test_invalid_output_fails_with_reason():
    evaluation = CirclePacking({"n": 2}).score(PythonProgram(""), two_circles(radii=(math.nan, 0.1)))
    assert evaluation.failed
    assert evaluation.failure.startswith("invalid construction: radii holds a non-finite value nan")


def test_verify_rechecks_carried_construction():
    problem = CirclePacking({"n": 2})
    good = PythonProgram("", two_circles())
    tampered = PythonProgram("", two_circles(second=(0.75 - 1e-12, 0.25)))
    assert problem.verify(good).ok
    assert problem.verify(good).score == 0.5
    assert not problem.verify(tampered).ok
    assert "overlap" in problem.verify(tampered).message


def test_artifact_is_plain_json_and_verifies(tmp_path):
    problem = CirclePacking({"n": 2})
    problem.write_artifacts(tmp_path, PythonProgram("", two_circles()))
    data = json.loads((tmp_path / ARTIFACT).read_text())
    assert data["problem"] == "circle-packing"
    assert data["value"] == 0.5
    assert data["construction"] == two_circles()
    assert "zero tolerance" in data["conditions"]
    assert problem.verify_file(tmp_path / ARTIFACT).ok


def test_verify_command_checks_artifact_file(tmp_path, capsys):
    CirclePacking({"n": 2}).write_artifacts(tmp_path, PythonProgram("", two_circles()))
    path = tmp_path / ARTIFACT

    assert main(["verify", str(path)]) == 0
    assert "valid; sum_of_radii = 0.5" in capsys.readouterr().out


def test_verify_command_rejects_edited_value(tmp_path, capsys):
    CirclePacking({"n": 2}).write_artifacts(tmp_path, PythonProgram("", two_circles()))
    path = tmp_path / ARTIFACT
    data = json.loads(path.read_text())
    data["value"] = 0.75
    path.write_text(json.dumps(data))

    assert main(["verify", str(path)]) == 1
    assert "the file states sum_of_radii = 0.75, but its construction gives 0.5" in capsys.readouterr().out


def test_verify_command_rejects_other_json(tmp_path, capsys):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")

    assert main(["verify", str(path)]) == 2
    assert "neither a run directory nor a JSON file with a 'problem' field" in capsys.readouterr().err


def test_artifact_skipped_for_invalid_best(tmp_path):
    CirclePacking({"n": 2}).write_artifacts(tmp_path, PythonProgram("", None))
    assert not (tmp_path / ARTIFACT).exists()


# ---------------------------------------------------------------- seed programs


@pytest.mark.parametrize(
    ("problem_class", "settings"),
    [
        (CirclePacking, {"n": 12}),
        (MinMaxDistance, {"n": 8, "dimension": 3}),
        (HeilbronnTriangle, {"n": 7}),
        (FirstAutocorrelation, {"steps": 60}),
        (ErdosMinimumOverlap, {"steps": 60}),
    ],
)
def test_seed_program_builds_valid_construction(problem_class, settings):
    problem = problem_class({**settings, **FAST})
    seed = problem.seed_programs(np.random.default_rng(0), 1)[0]

    first_hash = hash_outputs(problem.probe_outputs(seed))
    evaluation = problem.evaluate([seed])[0]
    again = problem.evaluate([evaluation.program])[0] if not evaluation.failed else evaluation

    assert first_hash == hash_outputs(problem.probe_outputs(seed))
    assert not evaluation.failed, evaluation.failure
    assert problem.verify(evaluation.program).ok
    assert not again.failed, again.failure
    assert again.score >= evaluation.score  # a warm start never makes the construction worse


# ---------------------------------------------------------------- hostile programs in a real search

# TAG makes each program's probe outputs, and so its functional hash, its own.
SMALL_PACKING = """
def small_packing(n):
    side = int(np.ceil(np.sqrt(n)))
    cells = [((c + 0.5) / side, (r + 0.5) / side) for r in range(side) for c in range(side)][:n]
    return {"centers": np.array(cells), "radii": np.full(n, (0.4 - 0.01 * TAG) / side)}
"""
LANDLOCK = sandbox._landlock_abi() >= 6

HOSTILE = {
    "loops forever": ("while True:\n    pass", "timed out|CPU time limit"),
    "sleeps": ("time.sleep(60)", "timed out"),
    "forks and hangs": (
        "import ctypes\n"
        "for _ in range(4):\n"
        "    if os.fork() == 0:\n"
        "        ctypes.CDLL(None).prctl(15, b'evolve-hostile', 0, 0, 0)\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "time.sleep(60)",
        "timed out",
    ),
    "exhausts memory": ("return {'centers': bytearray(8 * 2**30)}", "memory limit exceeded"),
    "segfaults": ("import ctypes\nctypes.string_at(0)", "killed by signal SIGSEGV"),
    "calls os._exit": ("os._exit(0)", "exited with code 0 before returning"),
    "prints megabytes": (
        "for _ in range(200):\n    print('x' * 100_000)\nreturn {'centers': [[0.5, 0.5]] * n, 'radii': [0.5] * n}",
        "invalid construction: circles 0 and 1 overlap",
    ),
    "returns a string": ("return 'a perfect packing'", "invalid construction: expected a dict"),
    "returns an object": ("return object()", "result is not serializable"),
    "returns NaN radius": (
        "packing = small_packing(n)\npacking['radii'][0] = float('nan')\nreturn packing",
        "invalid construction: radii holds a non-finite value nan",
    ),
    "returns its own score": (
        "packing = small_packing(n)\npacking['sum_of_radii'] = 100.0\nreturn packing",
        "unexpected \\['sum_of_radii'\\]",
    ),
    "monkeypatches numpy": (
        "np.sqrt = lambda x: x * 0 + 10.0\n"
        "return {'centers': np.full((n, 2), 0.5), 'radii': np.full(n, 0.4)}",
        "invalid construction: circles 0 and 1 overlap",
    ),
    "monkeypatches the verifier": (
        "try:\n"
        "    import problems.alphaevolve.circle_packing as target\n"
        "    target.check_packing = lambda construction, n: (100.0, construction)\n"
        "except ImportError:\n"
        "    pass\n"
        "return {'centers': np.full((n, 2), 0.5), 'radii': np.full(n, 0.4)}",
        "invalid construction: circles 0 and 1 overlap",
    ),
    # Without Landlock the write succeeds and the test below skips its file check.
    "writes outside its scratch directory": (
        "open(OUTSIDE, 'w').write('escaped')\nreturn {'centers': np.full((n, 2), 0.5), 'radii': np.full(n, 0.4)}",
        "raised PermissionError|invalid construction",
    ),
    "kills its parent": (
        "import signal\nos.kill(os.getppid(), signal.SIGKILL)\nreturn small_packing(n)",
        "raised PermissionError|sandbox runner exited with code -9",
    ),
}


def hostile_program(body: str, outside: str, tag: int) -> PythonProgram:
    source = (
        "import os\nimport time\n\nimport numpy as np\n\n"
        f"OUTSIDE = {outside!r}\nTAG = {tag}\n"
        f"{SMALL_PACKING}\n"
        "# EVOLVE-BLOCK-START\n"
        "def construct(n, seed, time_budget, start=None):\n"
        "    if n != 7:\n"
        "        return small_packing(n)\n"
        f"{textwrap.indent(body, '    ')}\n"
        "# EVOLVE-BLOCK-END\n"
    )
    return PythonProgram(source)


class HostileCirclePacking(CirclePacking):
    """Circle packing whose seed population is every hostile program plus the honest seed."""

    outside = ""

    def seed_programs(self, rng, count):
        honest = PythonProgram(self.seed_source())
        hostile = [hostile_program(body, self.outside, tag) for tag, (body, _) in enumerate(HOSTILE.values())]
        return [*hostile, honest]


def surviving_hostile_processes() -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as comm:
                if comm.read().strip() == "evolve-hostile":
                    found.append(int(name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_hostile_programs_fail_and_search_finishes(tmp_path):
    outside = tmp_path / "escaped.txt"
    HostileCirclePacking.outside = str(outside)
    problem = HostileCirclePacking({"n": 7, "time_budget": 0.5, "timeout_grace": 1.5})
    count = len(HOSTILE) + 1
    children = 4
    config = SearchConfig(
        budget=count + children, population_size=count + children, tournament_size=2, batch_size=children, seed=0
    )

    search = Search(problem, config, LocalEvaluator(problem)).run()

    by_candidate = {member.candidate: member for member in search.selection.population}
    assert search.counters.candidates == count + children
    assert search.counters.evaluations >= count
    for index, (name, (_, reason)) in enumerate(HOSTILE.items()):
        evaluation = by_candidate[index].evaluation
        assert evaluation.failed, name
        assert re.search(reason, evaluation.failure), (name, evaluation.failure)
    honest = by_candidate[len(HOSTILE)].evaluation
    assert not honest.failed, honest.failure
    assert search.best_score >= honest.score
    assert surviving_hostile_processes() == []
    if LANDLOCK:
        assert not outside.exists()


# ---------------------------------------------------------------- underflow and overflow exploits


@pytest.mark.parametrize("height", [1e-162, 1e152, 1e-300])
def test_autoconvolution_scale_free(height):
    # Products of 1e-162 once rounded to 0 and scored 0; 1e152 overflowed the sum's square.
    ratio, _ = check_autoconvolution({"values": [height] * 600}, 600)

    assert ratio == pytest.approx(2.0, rel=1e-12)


def test_overlap_huge_height_rejected():
    # 2 * sum once overflowed to inf, so every scaled height became 0 and scored 0.
    with pytest.raises(ConstructionError, match="above 1"):
        check_overlap({"values": [1e308] + [0.0] * 399}, 400)


@pytest.mark.parametrize("spacing", [math.sqrt(0.55) * 2.0**-537, 1e-150, 1e150])
def test_distance_ratio_scale_free(spacing):
    # Squared differences of about 2**-1074 once rounded and scored 10 instead of 18.
    grid = [[spacing * col, spacing * row] for row in range(4) for col in range(4)]

    ratio, _ = check_points({"points": grid}, 16, 2)

    assert ratio == pytest.approx(18.0, rel=1e-12)
