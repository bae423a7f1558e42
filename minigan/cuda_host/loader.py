"""Compile CUDA C sources with g++ and launch their kernels on the CPU, CuPy-style.

``RawModule(code).get_function(name)(grid, block, args, shared_mem=0)`` mirrors
``cupy.RawModule``: the same ``.cu`` text, unchanged, is compiled into a shared library
with ``cuda_host.h`` force-included, and each launch runs every CUDA thread as a fiber
(see the header and ``docs/cuda_host.md``).

A module is built once per (source, options, header, loader, sanitizer, compiler): the
library is cached on disk under ``$MINIGAN_CACHE_DIR/cuda_host`` (default
``~/.cache/minigan/cuda_host``), written under a temporary name and renamed into place so
that parallel processes never see half a file, and kept in memory for the process.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shlex
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CudaHostError", "RawModule", "RawKernel", "build_count", "cache_dir", "sanitizer",
           "schedule_order"]

HEADER = Path(__file__).with_name("cuda_host.h")
ABI_VERSION = 3  # must match CUDA_HOST_ABI_VERSION in cuda_host.h
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIM = (1024, 1024, 64)
MAX_GRID_DIM = (2**31 - 1, 65535, 65535)
SANITIZE_ENV = "MINIGAN_CUDA_HOST_SANITIZE"
SANITIZERS = ("address",)
ORDER_ENV = "MINIGAN_CUDA_HOST_ORDER"
ORDERS = ("forward", "reverse", "random")  # cuda_host::Order

_BASE_FLAGS = ["-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-fno-gnu-unique",
               "-fno-strict-aliasing"]
_OPT_FLAGS = {None: ["-O2"],
              "address": ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer"]}
_ERROR_CAPACITY = 2048


class CudaHostError(RuntimeError):
    """A kernel could not be built, loaded or run on the CPU (e.g. a divergent barrier)."""


class _Launch(ctypes.Structure):  # cuda_host::Launch
    _fields_ = [("grid", ctypes.c_uint * 3), ("block", ctypes.c_uint * 3),
                ("shared_mem", ctypes.c_ulonglong), ("error", ctypes.POINTER(ctypes.c_char)),
                ("error_capacity", ctypes.c_ulonglong), ("order", ctypes.c_int),
                ("seed", ctypes.c_ulonglong)]


class _ParamInfo(ctypes.Structure):  # cuda_host::ParamInfo
    _fields_ = [(name, ctypes.c_int) for name in
                ("is_pointer", "is_arithmetic", "is_floating", "is_signed", "is_bool", "is_const",
                 "size")]


_build_count = 0
_libraries: dict[str, "_Library"] = {}  # cache key -> loaded library
_lock = threading.Lock()  # the harness keeps its scheduler in globals: one launch at a time


def build_count() -> int:
    """How many times this process has run the compiler (cache hits do not count)."""
    return _build_count


def cache_dir() -> Path:
    """Where compiled modules live: ``$MINIGAN_CACHE_DIR/cuda_host`` or ``~/.cache/minigan/cuda_host``."""
    root = os.environ.get("MINIGAN_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "minigan") / "cuda_host"


def sanitizer() -> str | None:
    """The sanitizer requested by ``$MINIGAN_CUDA_HOST_SANITIZE`` (``'address'`` or None)."""
    value = os.environ.get(SANITIZE_ENV, "").strip().lower() or None
    if value is not None and value not in SANITIZERS:
        raise ValueError(f"{SANITIZE_ENV}={value!r}: expected one of {SANITIZERS} or empty")
    return value


def schedule_order() -> tuple[str, int]:
    """The order in which fibers run, from ``$MINIGAN_CUDA_HOST_ORDER``: ``forward``
    (default), ``reverse``, ``random`` or ``random:SEED``; returns (order, seed)."""
    value = os.environ.get(ORDER_ENV, "").strip().lower() or "forward"
    order, _, seed = value.partition(":")
    if order not in ORDERS or (seed and (order != "random" or not seed.isdigit())):
        raise ValueError(f"{ORDER_ENV}={value!r}: expected forward, reverse, random or "
                         "random:SEED (a non-negative integer)")
    return order, int(seed or 0)


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CXX", "g++"))


def _run_compiler(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    except FileNotFoundError:
        raise CudaHostError(f"the C++ compiler {cmd[0]!r} was not found; install g++ or set "
                            "$CXX") from None


# ---------------------------------------------------------------------------------------
# Source handling: find the kernels, rewrite `extern __shared__`, generate the exports.
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KernelDecl:
    name: str          # the C symbol
    qualified: str     # how C++ names it from the global namespace (namespaces included)
    params: tuple      # parameter names, in order


_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')
_SCOPE_TOKEN = re.compile(
    r'(?P<ns>\bnamespace\s+(?P<nsname>[A-Za-z_][\w:]*)?\s*\{)'
    r'|(?P<externc>\bextern\s+"C"\s*\{)'
    r'|(?P<kernel>\b__global__\b)'
    r'|(?P<open>\{)|(?P<close>\})')
_BOUNDS = r'(?:__launch_bounds__\s*\([^)]*\)\s*)?'
_KERNEL_HEAD = re.compile(r'\s*' + _BOUNDS + r'void\s+' + _BOUNDS + r'(?P<name>[A-Za-z_]\w*)\s*\(')
_EXTERN_C_BEFORE = re.compile(r'\bextern\s+"C"\s*$')
_PARAM_NAME = re.compile(r'([A-Za-z_]\w*)\s*(?:\[[^\]]*\]\s*)*$')
_EXTERN_SHARED = re.compile(  # comments and strings are matched only to be skipped
    r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\bextern\b(?P<decl>[^;{}]*?)\[\s*\]\s*;', re.S)
_ALIGN = re.compile(r'__align__\s*\(\s*\d+\s*\)')
_C_TYPE_WORDS = {"int", "float", "double", "char", "short", "long", "unsigned", "signed",
                 "bool", "void", "const", "volatile", "__restrict__"}


def _closing_paren(text: str, open_index: int) -> int:
    depth = 0
    for i in range(open_index, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise CudaHostError("unbalanced parentheses in a __global__ signature")


def _split_params(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    parts = [p.strip() for p in parts]
    return [] if parts in ([""], ["void"]) else parts


def _param_name(param: str, index: int) -> str:
    match = _PARAM_NAME.search(param)
    if match and match.group(1) not in _C_TYPE_WORDS and param[:match.start()].strip():
        return match.group(1)
    return f"#{index}"


def find_kernels(preprocessed: str) -> list[KernelDecl]:
    """The ``extern "C" __global__`` kernel definitions in preprocessed C++ text.

    Tracks namespace and ``extern "C" { }`` scopes so that kernels stamped out by macros
    inside namespaces are found with their qualified names.
    """
    text = _STRING.sub(lambda m: '"C"' if m.group(0) == '"C"' else '""', preprocessed)
    scopes: list[tuple[str, str | None]] = []  # ('ns', name) | ('externc', None) | ('block', None)
    kernels, pos = [], 0
    while (token := _SCOPE_TOKEN.search(text, pos)) is not None:
        pos = token.end()
        if token.group("ns"):
            scopes.append(("ns", token.group("nsname")))
        elif token.group("externc"):
            scopes.append(("externc", None))
        elif token.group("open"):
            scopes.append(("block", None))
        elif token.group("close"):
            if scopes:
                scopes.pop()
        else:
            head = _KERNEL_HEAD.match(text, pos)
            if head is None:
                continue
            close = _closing_paren(text, head.end() - 1)
            after = text[close + 1:].lstrip()
            is_extern_c = (_EXTERN_C_BEFORE.search(text, 0, token.start()) is not None
                           or any(kind == "externc" for kind, _ in scopes))
            if after.startswith("{") and is_extern_c:
                params = _split_params(text[head.end():close])
                namespaces = [name for kind, name in scopes if kind == "ns" and name]
                kernels.append(KernelDecl(
                    name=head.group("name"),
                    qualified="::" + "::".join(namespaces + [head.group("name")]),
                    params=tuple(_param_name(p, i) for i, p in enumerate(params))))
            pos = close + 1
    return kernels


def rewrite_dynamic_shared(source: str) -> str:
    """``extern __shared__ T name[];`` -> a pointer to the harness's dynamic shared memory.

    The replacement keeps the number of lines, so ``#line`` numbers stay exact.
    """
    def replace(match: re.Match) -> str:
        decl = match.group("decl")
        if decl is None or not re.search(r"\b__shared__\b", decl):
            return match.group(0)
        decl = _ALIGN.sub(" ", re.sub(r"\b__shared__\b", " ", decl))
        name = re.search(r"([A-Za-z_]\w*)\s*$", decl)
        ctype = " ".join(decl[:name.start()].split())
        newlines = "\n" * match.group(0).count("\n")
        return (f"{ctype}* const {name.group(1)} = "
                f"reinterpret_cast<{ctype}*>(::cuda_host::dynamic_shared_memory);{newlines}")
    return _EXTERN_SHARED.sub(replace, source)


def _user_flags(options) -> list[str]:
    """The g++-meaningful part of CuPy/NVRTC options: -D, -U and -I (others are ignored)."""
    if isinstance(options, str) or not all(isinstance(o, str) for o in options):
        raise TypeError(f"options must be a tuple of strings, got {options!r}")
    return [o for o in options if o[:2] in ("-D", "-U", "-I") and len(o) > 2]


def _preprocess(source: str, flags: list[str]) -> str:
    cmd = _compiler() + ["-E", "-P", "-x", "c++", "-std=c++17", *flags, "-"]
    result = _run_compiler(cmd, input=source)
    if result.returncode != 0:
        raise CudaHostError(f"preprocessing failed ({shlex.join(cmd)}):\n{result.stderr}")
    return result.stdout


def _translation_unit(source: str, filename: str, kernels: list[KernelDecl]) -> str:
    manifest = json.dumps([{"name": k.name, "params": list(k.params)} for k in kernels])
    exports = "".join(f"CUDA_HOST_EXPORT_KERNEL({k.qualified}, {k.name})\n" for k in kernels)
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    return (f'#line 1 "{quoted}"\n{rewrite_dynamic_shared(source)}\n'
            f'#line 1 "<cuda_host exports>"\n{exports}'
            f'CUDA_HOST_API const char* cuda_host_manifest() {{ return R"json({manifest})json"; }}\n')


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# Building and loading.
# ---------------------------------------------------------------------------------------

def _cache_key(source: str, source_name: str | None, options: tuple,
               sanitize: str | None) -> str:
    digest = hashlib.sha256()
    for part in (HEADER.read_bytes(), Path(__file__).read_bytes(), source.encode(),
                 repr((source_name, tuple(options), sanitize, _compiler())).encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:32]


def _asan_loaded() -> bool:
    try:
        return "libasan" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def _build(source: str, source_name: str | None, options: tuple, sanitize: str | None,
           key: str, directory: Path) -> Path:
    global _build_count
    flags = _user_flags(options)
    kernels = find_kernels(_preprocess(source, flags))
    if source_name is None:  # give #line (compiler errors, ASan reports) a real file to name
        source_name = str(directory / f"{key}.cu")
        _write_atomic(Path(source_name), source.encode())
    tu = directory / f"{key}.cpp"
    _write_atomic(tu, _translation_unit(source, source_name, kernels).encode())
    library = directory / f"{key}.so"
    tmp = directory / f".{key}.{os.getpid()}.{uuid.uuid4().hex}.so.tmp"
    cmd = (_compiler() + _BASE_FLAGS + _OPT_FLAGS[sanitize]
           + ["-include", str(HEADER), *flags, "-o", str(tmp), str(tu)])
    _build_count += 1
    result = _run_compiler(cmd)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise CudaHostError(f"g++ failed to compile {source_name}:\n{result.stderr}")
    os.replace(tmp, library)
    return library


@dataclass
class _Library:
    dll: ctypes.CDLL
    kernels: dict  # name -> tuple of parameter names
    max_shared_mem: int


def _load(source: str, source_name: str | None, options: tuple) -> _Library:
    sanitize = sanitizer()
    key = _cache_key(source, source_name, options, sanitize)
    with _lock:
        if key in _libraries:
            return _libraries[key]
        if sanitize == "address" and not _asan_loaded():
            raise CudaHostError(
                f"{SANITIZE_ENV}=address needs the ASan runtime loaded first: run Python as "
                'LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name='
                'libstdc++.so)" ASAN_OPTIONS=detect_leaks=0 python ... (see docs/cuda_host.md)')
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{key}.so"
        if not path.exists():
            path = _build(source, source_name, options, sanitize, key, directory)
        dll = ctypes.CDLL(str(path))
        if dll.cuda_host_abi_version() != ABI_VERSION:
            raise CudaHostError(f"{path}: harness ABI {dll.cuda_host_abi_version()}, "
                                f"loader expects {ABI_VERSION}")
        dll.cuda_host_manifest.restype = ctypes.c_char_p
        dll.cuda_host_max_dynamic_shared_memory.restype = ctypes.c_ulonglong
        manifest = json.loads(dll.cuda_host_manifest().decode())
        library = _Library(dll, {k["name"]: tuple(k["params"]) for k in manifest},
                           int(dll.cuda_host_max_dynamic_shared_memory()))
        _libraries[key] = library
        return library


class RawModule:
    """A CUDA C module compiled for the CPU; the call shape of ``cupy.RawModule``.

    ``code``: the CUDA C source; or ``path``: a ``.cu`` file (unlike CuPy, whose ``path``
    names a cubin/ptx, this is source, and ASan reports then point at it). ``source_name``
    names ``code`` in compiler errors and ASan reports (``#line``). ``options``: NVRTC
    options; ``-D``, ``-U`` and ``-I`` reach g++, the rest (e.g. ``--use_fast_math``,
    ``-std=...``) is ignored, as is ``backend``. ``name_expressions`` (template kernels) is
    not supported: write ``extern "C"`` kernels.
    """

    def __init__(self, code: str | None = None, *, path: str | os.PathLike | None = None,
                 options=(), name_expressions=None, source_name: str | None = None,
                 backend: str = "nvrtc"):
        if (code is None) == (path is None):
            raise ValueError("RawModule needs exactly one of code= or path=")
        if name_expressions is not None:
            raise ValueError("cuda_host does not support name_expressions: launch extern \"C\" "
                             "__global__ kernels by name")
        if path is not None:
            source_name = str(Path(path).resolve())
            code = Path(path).read_text()
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        self.options = tuple(options)
        _user_flags(self.options)  # validate early
        self.backend = backend
        self._library = _load(code, source_name, self.options)

    @property
    def kernel_names(self) -> tuple:
        return tuple(self._library.kernels)

    def get_function(self, name: str) -> "RawKernel":
        if name not in self._library.kernels:
            raise CudaHostError(f"no extern \"C\" __global__ kernel named {name!r}; the module "
                                f"has {sorted(self._library.kernels)}")
        return RawKernel(self._library, name)


# ---------------------------------------------------------------------------------------
# Launching: argument checking against the C++ parameter types.
# ---------------------------------------------------------------------------------------

_C_NAMES = {"f4": "float", "f8": "double", "i1": "signed char", "u1": "unsigned char",
            "i2": "short", "u2": "unsigned short", "i4": "int", "u4": "unsigned int",
            "i8": "long long", "u8": "unsigned long long", "b1": "bool"}


@dataclass(frozen=True)
class Param:
    name: str
    is_pointer: bool
    is_const: bool
    dtype: np.dtype | None  # the value's (or pointee's) NumPy dtype; None: any (void*, structs)

    @property
    def ctype(self) -> str:
        base = _C_NAMES[self.dtype.str[1:]] if self.dtype is not None else "void"
        if not self.is_pointer:
            return base
        return f"const {base}*" if self.is_const else f"{base}*"

    @property
    def expected(self) -> str:
        if not self.is_pointer:
            return f"numpy.{self.dtype.name}"
        return f"a numpy.{self.dtype.name} array" if self.dtype is not None else "a NumPy array"


def _param(name: str, info: _ParamInfo) -> Param:
    dtype = None
    if info.is_arithmetic:
        kind = "b" if info.is_bool else "f" if info.is_floating else "i" if info.is_signed else "u"
        dtype = np.dtype(f"{kind}{info.size}")
    return Param(name, bool(info.is_pointer), bool(info.is_const), dtype)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"a numpy.{value.dtype.name} array"
    if isinstance(value, np.generic):
        return f"numpy.{value.dtype.name}"
    return f"Python {type(value).__name__}"


def _dims(value, what: str, limits: tuple) -> tuple:
    dims = (value,) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(dims, (tuple, list)) or not 1 <= len(dims) <= 3
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in dims)):
        raise TypeError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    dims = tuple(int(d) for d in dims) + (1,) * (3 - len(dims))
    for axis, (d, limit) in enumerate(zip(dims, limits)):
        if not 1 <= d <= limit:
            raise ValueError(f"{what}[{axis}] = {d} is outside [1, {limit}]")
    return dims


class RawKernel:
    """One kernel of a RawModule: ``kernel(grid, block, args, shared_mem=0)``."""

    def __init__(self, library: _Library, name: str):
        self.name = name
        self._library = library
        self._launch = library.dll[f"cuda_host_launch__{name}"]
        self._launch.argtypes = [ctypes.POINTER(_Launch), ctypes.POINTER(ctypes.c_void_p)]
        self._launch.restype = ctypes.c_int
        names = library.kernels[name]
        infos = (_ParamInfo * max(len(names), 1))()
        count = library.dll[f"cuda_host_signature__{name}"](infos, len(names))
        if count != len(names):
            raise CudaHostError(f"kernel {name!r}: parsed {len(names)} parameters, C++ has {count}")
        self.params = tuple(_param(n, info) for n, info in zip(names, infos))
        for p in self.params:
            if not p.is_pointer and p.dtype is None:
                raise TypeError(f"kernel {name!r}, parameter {p.name!r}: by-value parameters "
                                "must be arithmetic (int, float, double, ...)")

    def __repr__(self) -> str:
        sig = ", ".join(f"{p.ctype} {p.name}" for p in self.params)
        return f"<cuda_host.RawKernel {self.name}({sig})>"

    def _check_arg(self, p: Param, value) -> None:
        def mismatch():
            hint = f"; pass np.{p.dtype.name}({value!r})" if not p.is_pointer and not isinstance(
                value, (np.ndarray, np.generic)) and p.dtype is not None else ""
            return TypeError(f"kernel {self.name!r}, parameter {p.name!r} ({p.ctype}): expected "
                             f"{p.expected}, got {_describe(value)}{hint}")
        if p.is_pointer:
            if not isinstance(value, np.ndarray) or (p.dtype is not None and value.dtype != p.dtype):
                raise mismatch()
            if not (value.flags.c_contiguous or value.flags.f_contiguous):
                raise ValueError(f"kernel {self.name!r}, parameter {p.name!r}: the array must be "
                                 "contiguous (kernels index flat memory)")
        elif not isinstance(value, np.generic) or value.dtype != p.dtype:
            raise mismatch()

    def __call__(self, grid, block, args, *, shared_mem: int = 0) -> None:
        grid = _dims(grid, "grid", MAX_GRID_DIM)
        block = _dims(block, "block", MAX_BLOCK_DIM)
        if block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
            raise ValueError(f"block {block} has {block[0] * block[1] * block[2]} threads; "
                             f"the maximum is {MAX_THREADS_PER_BLOCK}")
        if not isinstance(shared_mem, (int, np.integer)) or not (
                0 <= shared_mem <= self._library.max_shared_mem):
            raise ValueError(f"shared_mem={shared_mem!r}: expected an int in "
                             f"[0, {self._library.max_shared_mem}]")
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self.params):
            names = ", ".join(p.name for p in self.params)
            raise TypeError(f"kernel {self.name!r} takes {len(self.params)} arguments "
                            f"({names}), got {len(args)}")
        keep = []  # the buffers args[] points into, alive until the launch returns
        pointers = (ctypes.c_void_p * max(len(args), 1))()
        for i, (p, value) in enumerate(zip(self.params, args)):
            self._check_arg(p, value)
            holder = ctypes.c_void_p(value.ctypes.data) if p.is_pointer else np.array(value)
            keep.append(holder)
            pointers[i] = ctypes.addressof(holder) if p.is_pointer else holder.ctypes.data
        order, seed = schedule_order()
        error = ctypes.create_string_buffer(_ERROR_CAPACITY)
        launch = _Launch((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), shared_mem,
                         ctypes.cast(error, ctypes.POINTER(ctypes.c_char)), _ERROR_CAPACITY,
                         ORDERS.index(order), seed)
        with _lock:
            status = self._launch(ctypes.byref(launch), pointers)
        if status != 0:
            raise CudaHostError(error.value.decode(errors="replace"))
