"""``tileproxy scales``: scale denominators to resolutions and back, as ``mapproxy-util scales`` prints them."""

from __future__ import annotations

import argparse
import ast
import operator
import sys

OGC_DPI = 2.54 / (0.00028 * 100)  # 0.28 mm pixels
METERS_PER_DEGREE = 111319.4907932736  # as GoogleCRS84Quad


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scales", help="convert between scales and resolutions")
    p.add_argument("values", nargs="*", help="scales (or resolutions with --res-to-scale); - reads stdin")
    p.add_argument("-l", "--levels", type=int, default=1, help="number of values to compute (halving the last)")
    p.add_argument("-d", "--dpi", default="OGC", help="DPI (OGC: 0.28 mm pixels, the default)")
    p.add_argument("--unit", default="m", choices=["m", "d"], help="resolutions in meters (m) or degrees (d)")
    p.add_argument("--eval", action="store_true", help="values are arithmetic, e.g. 360/256")
    p.add_argument("--repeat", action="store_true", help="repeat the values, each round divided by 10")
    p.add_argument("--res-to-scale", action="store_true", help="convert resolutions to scales")
    p.add_argument("--as-res-config", action="store_true", help="print a res: list for a grid")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.values:
        print("error: give at least one value", file=sys.stderr)
        return 1
    dpi = OGC_DPI if args.dpi == "OGC" else float(args.dpi)
    if args.values[0] == "-":
        values = _stdin_values()
    else:
        try:
            values = [_arith(v) if args.eval else float(v) for v in args.values]
        except (ValueError, SyntaxError, ZeroDivisionError) as ex:
            print(f"error: {ex}", file=sys.stderr)
            return 2
    levels = max(args.levels, len(args.values))
    values.sort(reverse=True)
    if args.repeat:
        values = [values[i % len(values)] / 10 ** (i // len(values)) for i in range(levels)]
    values += [values[-1] / 2**i for i in range(1, levels - len(values) + 1)]
    unit = METERS_PER_DEGREE if args.unit == "d" else 1.0
    m_per_px = 2.54 / (dpi * 100)
    lines = []
    for level, value in enumerate(values):
        result = value / m_per_px * unit if args.res_to_scale else value * m_per_px / unit
        line = f"{result:20.10f} # {level:2d} {value:20.8f}"
        lines.append(f"    {result:20.10f}, # {level:2d} {value:20.8f}" if args.as_res_config else line)
    if args.as_res_config:
        lines = ["    res: [", f"         #  res            level     scale @{dpi:.1f} DPI", *lines, "    ]"]
    print("\n".join(lines))
    return 0


def _stdin_values() -> list[float]:
    values = []
    for line in sys.stdin:
        line = line.split("#", 1)[0]
        if not line.strip():
            break
        values.append(float(line))
    return values


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg}


def _arith(text: str) -> float:
    """A number from ``+ - * / **`` arithmetic (no names, no calls)."""
    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ValueError(f"not arithmetic: {text}")
    return float(value(ast.parse(text, mode="eval").body))
