"""The TensorRT and cuda-python names msau's code uses exist in the real bindings of TensorRT 10.x and 11.x.

No machine of this project has a GPU or the TensorRT libraries, so the TensorRT paths never execute in CI.
What can be had is the bindings: ``pip download --no-deps tensorrt-cu12-bindings==<version>`` brings a 1.3 MB
wheel with the real ``tensorrt.so`` (it cannot be imported without libnvinfer, but every class, method, enum
value and property name is a C string in it), and cuda-bindings imports without a GPU (its calls return
cudaErrorInsufficientDriver). This test

- collects, from the code itself (an AST walk over every module that uses ``trt.``), each name used on a
  TensorRT object: attributes of ``trt`` and of values derived from it (a builder, its network, the engine...),
  ``getattr``/``hasattr`` names, methods overridden in subclasses of TensorRT classes, and the ``trt.X`` type
  annotations of parameters; code under ``if tensorrt_major(trt) >= 11:`` (or any comparison of that call)
  counts only for the versions it runs on;
- asserts that each name is in that version's ``tensorrt.so`` (or its ``__init__.py``), and that nothing the
  11 bindings removed (present in 10, absent in 11: ``BuilderFlag.FP16``, ``EXPLICIT_BATCH``...) is used on the
  11 path;
- does the same for cuda-python with the module itself: chains from the module (``cudart.cudaMemcpyKind.
  cudaMemcpyHostToDevice``) resolved with getattr, attributes of returned objects looked up on its classes.

What it cannot check (written down in export/README.md too): names are matched without their class (``FP16``
of ``BuilderFlag`` and of another enum are one string; a linker may also store a name only as the tail of a
longer string, so ``INT8`` is found inside ``UINT8``); argument counts, types and return values; names built at
run time (the hardware compatibility levels are checked separately below); names reached through untyped
function parameters; attribute names that are also methods of Python's own str/bytes/int/list/tuple/dict
(``props.name.decode``) are skipped; and nothing about behaviour: that needs a GPU (``make gpu-check``).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import msau

ROOT = Path(msau.__file__).resolve().parent.parent
TENSORRT_WHEELS = {10: "tensorrt-cu12-bindings==10.16.1.11", 11: "tensorrt-cu12-bindings==11.4.0.106"}
CUDA_WHEELS = {12: "cuda-bindings==12.9.10", 13: "cuda-bindings==13.5.0"}
CUDA_PATHFINDER = "cuda-pathfinder==1.9.1"  # cuda-bindings imports it
CACHE = Path.home() / ".cache" / "msau-tests" / "wheels"
TRT, CUDA = "tensorrt", "cuda"
MODULE_ROOTS = {"trt": TRT, "cudart": CUDA}
MAJORS = frozenset(TENSORRT_WHEELS)
VERSION_CALL = "tensorrt_major"
BUILTIN_METHODS = frozenset().union(*(dir(t) for t in (str, bytes, int, list, tuple, dict)))


@dataclass(frozen=True)
class Use:
    """One name used on a TensorRT or CUDA value: its chain from the module (when known), the TensorRT majors
    whose path runs it, and where."""

    kind: str
    name: str
    chain: tuple[str, ...] | None  # ("cudaMemcpyKind", "cudaMemcpyHostToDevice") when rooted at the module
    majors: frozenset[int]
    where: str


# --- collecting the names from the code --------------------------------------------------------------------


def _root(node: ast.AST) -> tuple[str | None, list[str]]:
    """(variable, attribute names after it) of an expression: self.engine.get_tensor_name(0).x ->
    ("self.engine", ["get_tensor_name", "x"])."""
    attrs: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return f"self.{node.attr}", attrs[::-1]
            attrs.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id, attrs[::-1]
        else:
            return None, attrs[::-1]


def _majors_of(test: ast.expr) -> tuple[frozenset[int], frozenset[int]] | None:
    """(majors where test holds, majors where it does not) for a test on tensorrt_major(...), else None."""
    calls = [n for n in ast.walk(test) if isinstance(n, ast.Call) and (_root(n.func)[1] or [_root(n.func)[0]])[-1] == VERSION_CALL]
    if not calls:
        return None
    text = ast.unparse(test)
    for call in calls:
        text = text.replace(ast.unparse(call), "MAJOR")
    expression = compile(text, "<version test>", "eval")
    holds = frozenset(m for m in MAJORS if eval(expression, {}, {"MAJOR": m}))
    return holds, MAJORS - holds


class Collector:
    """Walks a module's functions in order, tracking which variables hold TensorRT / CUDA values."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.uses: list[Use] = []
        self.self_env: dict[str, tuple[str, bool]] = {}  # "self.engine" -> (kind, is the module itself)
        self.returns: dict[str, str] = {}  # function name -> kind of its annotated return value (-> trt.ITimingCache)

    def collect(self, tree: ast.Module) -> list[Use]:
        for _ in range(2):  # the first pass learns which self.attributes hold TensorRT values
            self.uses = []
            self._block(tree.body, {}, MAJORS)
        return self.uses

    def _kind(self, env: dict, node: ast.AST) -> tuple[str, bool] | None:
        root, attrs = _root(node)
        if isinstance(node, ast.Call) and not attrs and root in self.returns:
            return self.returns[root], False
        found = env.get(root) or self.self_env.get(root) or (MODULE_ROOTS.get(root), True)
        if found[0] is None:
            return None
        kind, is_module = found
        return kind, is_module and not attrs and not isinstance(node, ast.Call)

    def _use(self, kind: str, name: str, chain, majors, node: ast.AST) -> None:
        if name in BUILTIN_METHODS or (name.startswith("__") and name != "__version__"):
            return
        self.uses.append(Use(kind, name, chain, majors, f"{self.path}:{node.lineno}"))

    def _scan(self, node: ast.AST, env: dict, majors: frozenset[int]) -> None:
        """Record every name used on a tracked value inside an expression or statement."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and not (isinstance(sub.value, ast.Name) and sub.value.id == "self"):
                root, attrs = _root(sub)
                found = env.get(root) or self.self_env.get(root) or (MODULE_ROOTS.get(root), True)
                if found[0] is not None:
                    kind, is_module = found
                    chain = tuple(attrs) if is_module and not _has_call(sub) else None
                    self._use(kind, sub.attr, chain, majors, sub)
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id in ("getattr", "hasattr"):
                if len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str):
                    found = self._kind(env, sub.args[0])
                    if found is not None:
                        self._use(found[0], sub.args[1].value, None, majors, sub)

    def _assign(self, target: ast.AST, value: ast.AST, env: dict) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)):
            for t, v in zip(target.elts, value.elts):
                self._assign(t, v, env)
            return
        found = self._kind(env, value)
        names = [target] if not isinstance(target, (ast.Tuple, ast.List)) else target.elts
        for name in names:
            key, attrs = _root(name)
            if key is None or attrs or not isinstance(name, (ast.Name, ast.Attribute)):
                continue  # config.level = ... sets a property: config itself stays what it was
            table = self.self_env if key.startswith("self.") else env
            if found is not None:
                table[key] = found
            elif key in env:
                del env[key]

    def _function(self, node: ast.FunctionDef, env: dict, majors: frozenset[int]) -> None:
        env = dict(env)
        if node.returns is not None and (found := self._kind({}, node.returns)) is not None:
            self._scan(node.returns, {}, majors)
            self.returns[node.name] = found[0]
        for arg in node.args.args + node.args.kwonlyargs:
            if arg.arg in MODULE_ROOTS:
                env[arg.arg] = (MODULE_ROOTS[arg.arg], True)
            elif arg.annotation is not None:
                found = self._kind(env, arg.annotation)
                if found is not None:
                    self._scan(arg.annotation, env, majors)
                    env[arg.arg] = (found[0], False)
        self._block(node.body, env, majors)

    def _block(self, body: list[ast.stmt], env: dict, majors: frozenset[int]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(node, env, majors)
            elif isinstance(node, ast.ClassDef):
                bases = [self._kind(env, base) for base in node.bases]
                for base, found in zip(node.bases, bases):
                    if found is not None:
                        self._scan(base, env, majors)
                        for item in node.body:  # overriding a TensorRT method: its name must exist
                            if isinstance(item, ast.FunctionDef):
                                self._use(found[0], item.name, None, majors, item)
                self._block(node.body, env, majors)
            elif isinstance(node, ast.If) and (split := _majors_of(node.test)) is not None:
                self._block(node.body, env, majors & split[0])
                self._block(node.orelse, env, majors & split[1])
            elif isinstance(node, (ast.If, ast.While)):
                self._scan(node.test, env, majors)
                self._block(node.body, env, majors)
                self._block(node.orelse, env, majors)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                self._scan(node.iter, env, majors)
                self._block(node.body, env, majors)
                self._block(node.orelse, env, majors)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    self._scan(item.context_expr, env, majors)
                    if item.optional_vars is not None:
                        self._assign(item.optional_vars, item.context_expr, env)
                self._block(node.body, env, majors)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    self._block(block, env, majors)
            else:
                self._scan(node, env, majors)
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        self._assign(target, node.value, env)
                elif isinstance(node, ast.AnnAssign) and (found := self._kind(env, node.annotation)) is not None:
                    env[_root(node.target)[0]] = (found[0], False)  # props: cudart.cudaDeviceProp = ...
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    self._assign(node.target, node.value, env)


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in ast.walk(node))


def collect_uses(source: str, path: str = "<source>") -> list[Use]:
    """Every TensorRT / CUDA name a module's source uses (see the module docstring)."""
    return Collector(path).collect(ast.parse(source))


def tensorrt_modules() -> list[Path]:
    """The package modules that use TensorRT (``trt.`` in their source)."""
    folders = [ROOT / name for name in ("runtime", "export", "benchmarks", "model", "msau")]
    return sorted(p for folder in folders for p in folder.rglob("*.py") if re.search(r"\btrt\.", p.read_text()))


def code_uses() -> list[Use]:
    return [use for path in tensorrt_modules() for use in collect_uses(path.read_text(), str(path.relative_to(ROOT)))]


# --- the real bindings -------------------------------------------------------------------------------------


def fetch(spec: str, python_version: str | None = None) -> Path:
    """The wheel of spec in the cache, downloaded with pip if missing; skips the test if that is impossible."""
    name, _, version = spec.partition("==")
    folder = CACHE / f"{name}-{version}" / (python_version or f"{sys.version_info.major}.{sys.version_info.minor}")
    wheels = sorted(folder.glob("*.whl"))
    if wheels:
        return wheels[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(folder), spec]
    if python_version:
        command[4:4] = ["--python-version", python_version, "--platform", "manylinux_2_28_x86_64"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download {spec}: the package index did not answer within 300 s")
    wheels = sorted(folder.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        pytest.skip(f"pip download {spec} failed (registry unreachable?): {lines[-1] if lines else result.returncode}")
    return wheels[0]


@dataclass(frozen=True)
class TensorRTNames:
    """The names of one TensorRT version's Python bindings."""

    version: str
    library: bytes  # tensorrt.so: every name is a NUL-terminated string in it
    python: frozenset[str]  # names defined in the package's __init__.py (nptype, __version__, ...)

    def has(self, name: str) -> bool:
        return name in self.python or name.encode() + b"\0" in self.library


def tensorrt_names(major: int) -> TensorRTNames:
    wheel = fetch(TENSORRT_WHEELS[major], python_version="3.11")  # the names do not depend on the Python version
    with zipfile.ZipFile(wheel) as archive:
        library = archive.read("tensorrt_bindings/tensorrt.so")
        init = ast.parse(archive.read("tensorrt_bindings/__init__.py").decode())
    python = {n.name for n in ast.walk(init) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    python |= {t.id for n in ast.walk(init) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    return TensorRTNames(TENSORRT_WHEELS[major].partition("==")[2], library, frozenset(python))


@pytest.fixture(scope="module")
def bindings() -> dict[int, TensorRTNames]:
    return {major: tensorrt_names(major) for major in TENSORRT_WHEELS}


def problems(uses: list[Use], names: dict[int, TensorRTNames]) -> list[str]:
    """One line per TensorRT name used on a version's path that the version lacks."""
    lines = []
    for major, version in sorted(names.items()):
        removed_later = {n: v for n, v in names.items() if n < major}
        for use in uses:
            if use.kind != TRT or major not in use.majors or version.has(use.name):
                continue
            was = [v.version for v in removed_later.values() if v.has(use.name)]
            why = f" (removed: present in {', '.join(was)})" if was else ""
            lines.append(f"{use.where}: {use.name} is not in TensorRT {version.version}{why}")
    return lines


def test_the_code_uses_tensorrt_names_the_collector_sees():
    uses = code_uses()
    names = {use.name for use in uses if use.kind == TRT}
    # The serving and building calls themselves: an empty or broken collector cannot pass silently.
    for expected in ("Builder", "OnnxParser", "build_serialized_network", "deserialize_cuda_engine", "execute_async_v3",
                     "set_input_shape", "set_tensor_address", "STRONGLY_TYPED", "WORKSPACE", "num_io_tensors", "log"):
        assert expected in names, expected
    assert {p.name for p in tensorrt_modules()} >= {"tensorrt.py", "tensorrt_build.py"}
    cuda = {use.chain for use in code_uses() if use.kind == CUDA and use.chain}
    assert ("cudaMemcpyKind", "cudaMemcpyHostToDevice") in cuda and ("cudaMallocHost",) in cuda


def test_every_tensorrt_name_exists_in_tensorrt_10_and_11(bindings):
    assert problems(code_uses(), bindings) == []


def test_nothing_removed_in_11_is_used_on_the_11_path(bindings):
    removed = [use for use in code_uses() if use.kind == TRT and 11 in use.majors
               and bindings[10].has(use.name) and not bindings[11].has(use.name)]
    assert removed == []
    for name in ("FP16", "EXPLICIT_BATCH"):  # what the 11 bindings are known to have dropped
        assert bindings[10].has(name) and not bindings[11].has(name)


def test_hardware_compatibility_levels_exist(bindings):
    from msau.runtime.engine_sidecar import HARDWARE_COMPATIBILITY_LEVELS

    for level in HARDWARE_COMPATIBILITY_LEVELS[1:]:  # looked up by name at run time: the collector cannot see them
        assert all(version.has(level.upper()) for version in bindings.values()), level


WRONG_ON_11 = '''
def build(trt, builder, network):
    config: trt.IBuilderConfig = builder.create_builder_config()
    config.set_flag(trt.BuilderFlag.FP16)
'''

VERSIONED = '''
def flags(trt, config: trt.IBuilderConfig):
    if tensorrt_major(trt) < 11:
        config.set_flag(trt.BuilderFlag.FP16)  # 10 only: 11 builds FP16 from an FP16 graph
        return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    return 0
'''


def test_a_removed_name_fails_on_the_11_path_only(bindings):
    wrong = problems(collect_uses(WRONG_ON_11, "wrong.py"), bindings)
    assert wrong == ["wrong.py:4: FP16 is not in TensorRT 11.4.0.106 (removed: present in 10.16.1.11)"]
    assert problems(collect_uses(VERSIONED, "versioned.py"), bindings) == []
    # The same mistake planted in the real builder is caught too.
    path = ROOT / "export" / "tensorrt_build.py"
    source = path.read_text()
    anchor = "    config = builder.create_builder_config()\n"
    assert anchor in source
    planted = source.replace(anchor, anchor + "    config.set_flag(trt.BuilderFlag.FP16)\n")
    found = problems(collect_uses(planted, "tensorrt_build.py"), bindings)
    assert len(found) == 1 and "FP16 is not in TensorRT 11.4.0.106" in found[0]


# --- cuda-python -------------------------------------------------------------------------------------------

CUDA_CHECK = r"""
import json, sys
sys.path[:0] = sys.argv[1:]
from cuda.bindings import runtime
uses = json.load(sys.stdin)
members = set(dir(runtime)).union(*(dir(getattr(runtime, n)) for n in dir(runtime) if isinstance(getattr(runtime, n), type)))
missing = []
for name, chain in uses:
    if chain:
        value = runtime
        for part in chain:
            if not hasattr(value, part):
                missing.append(".".join(chain))
                break
            value = getattr(value, part)
    elif name not in members:
        missing.append(name)
print(json.dumps(sorted(set(missing))))
"""


@pytest.mark.parametrize("major", sorted(CUDA_WHEELS))
def test_every_cuda_python_name_exists(major, tmp_path):
    folders = []
    for spec in (CUDA_WHEELS[major], CUDA_PATHFINDER):
        folder = tmp_path / spec.partition("==")[0]
        with zipfile.ZipFile(fetch(spec)) as archive:
            archive.extractall(folder)
        folders.append(str(folder))
    uses = sorted({(use.name, use.chain) for use in code_uses() if use.kind == CUDA})
    assert len(uses) >= 10
    result = subprocess.run(
        [sys.executable, "-c", CUDA_CHECK, *folders], input=json.dumps(uses), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == []
