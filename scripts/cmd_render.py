"""``scigenbench render FILE --out PNG`` and ``scigenbench doctor``: the sandbox from the command line."""

from __future__ import annotations

import json
from pathlib import Path

HELP_render = "render one matplotlib (.py) or TikZ (.tex) file in the sandbox and print its status"


def add_arguments_render(parser):
    parser.add_argument("file", help="a .py (matplotlib) or .tex (TikZ) file; markdown fences are allowed")
    parser.add_argument("--out", help="where to write the PNG (default: FILE with .png)")
    parser.add_argument("--language", choices=["python", "tikz"], help="default: from the file extension")
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds (default 30)")
    parser.add_argument("--dpi", type=int, default=150, help="PNG resolution (default 150)")
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")


def run_render(args) -> int:
    from scigenbench.generators.sandbox import RendererPool

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist or is not a file")
    language = args.language or ("tikz" if path.suffix.lower() in (".tex", ".tikz") else "python")
    out = Path(args.out) if args.out else path.with_suffix(".png")
    code = path.read_text(encoding="utf-8", errors="replace")
    with RendererPool(workers=1) as pool:
        result = pool.render(code, language, timeout=args.timeout, dpi=args.dpi)
    if result.png and result.status in ("ok", "blank_image"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(result.png)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        where = f" -> {out} ({result.width}x{result.height} px)" if result.png else ""
        print(f"{result.status}{where}  [{result.wall_s:.2f} s]")
        if result.error:
            line = f" (line {result.error_line})" if result.error_line else ""
            print(f"error{line}:\n{result.error.rstrip()}")
        if result.stdout.strip():
            print(f"stdout:\n{result.stdout.rstrip()}")
        print("confinement: " + ", ".join(result.confinement))
    return 0 if result.status == "ok" else 1


HELP_doctor = "show which sandbox confinement layers and tools this machine offers"


def add_arguments_doctor(parser):
    parser.add_argument("--no-probe", action="store_true", help="skip the live test renders")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run_doctor(args) -> int:
    from scigenbench.generators.sandbox import doctor

    report = doctor(probe=not args.no_probe)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0 if report["ok"] else 1
    print("confinement layers:")
    for name, layer in report["layers"].items():
        mark = "active " if layer["active"] else "MISSING"
        print(f"  [{mark}] {name:13s} {layer['detail']}")
    print("tools:")
    for tool, where in report["tools"].items():
        print(f"  {tool:10s} {where or 'not found'}")
    print(f"python: {report['python']['executable']} {report['python']['version']}")
    print("every job gets: " + ", ".join(report["job_confinement"]))
    for language, probe in report.get("probe", {}).items():
        extra = f": {probe['error']}" if probe.get("error") else ""
        print(f"probe {language}: {probe['status']}{extra}")
    missing = [n for n, layer in report["layers"].items() if not layer["active"]]
    if missing:
        print(f"warning: running without {', '.join(missing)}")
    for reason in report.get("refused", []):
        print(f"refused: {reason} (SCIGENBENCH_SANDBOX_ALLOW_WEAK=1 runs anyway)")
    return 0 if report["ok"] else 1
