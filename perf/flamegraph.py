#!/usr/bin/env python3
"""Folds `perf script` output into stacks and draws them as a flame graph (a standalone SVG).

    perf script -i perf.data | perf/flamegraph.py --title "corq publish" > flame.svg
    perf/flamegraph.py --folded < perf.script > stacks.folded   # "a;b;c COUNT" lines only

Each sample's call chain (root first) becomes one stack; a frame's width is the share of samples
whose stack passes through it. Hover a frame for its name and share. Standard library only.
"""
import argparse
import collections
import html
import re
import sys

FRAME = re.compile(r"^\s*[0-9a-f]+\s+(.+?)(?:\s+\(([^)]*)\))?$")


def fold(lines):
    """{stack tuple (root first): samples} from `perf script` text."""
    stacks = collections.Counter()
    chain = []
    comm = None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if chain:
                stacks[tuple([comm] + chain[::-1])] += 1
            chain, comm = [], None
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]  # the sample header: "comm pid ... event:"
            continue
        m = FRAME.match(line)
        if m:
            name = m.group(1)
            name = re.sub(r"\+0x[0-9a-f]+$", "", name)
            if name == "[unknown]" and m.group(2):
                name = "[" + m.group(2).rsplit("/", 1)[-1] + "]"
            chain.append(name)
    if chain:
        stacks[tuple([comm] + chain[::-1])] += 1
    return stacks


def svg(stacks, title, width=1200, row=16):
    total = sum(stacks.values())
    tree = {}
    for stack, n in stacks.items():  # a trie of frames with their sample counts
        node = tree
        for name in stack:
            entry = node.setdefault(name, [0, {}])
            entry[0] += n
            node = entry[1]
    rects, depth_max = [], 0

    def walk(node, x, depth):
        nonlocal depth_max
        for name, (n, children) in sorted(node.items()):
            w = n / total * width
            if w >= 0.3:
                depth_max = max(depth_max, depth)
                rects.append((x, depth, w, name, n))
                walk(children, x, depth + 1)
            x += w

    walk(tree, 0.0, 0)
    height = (depth_max + 3) * row
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="monospace" font-size="11">',
           f'<text x="4" y="13">{html.escape(title)} — {total} samples</text>']
    for x, depth, w, name, n in rects:
        y = height - (depth + 1) * row
        hue = 10 + (hash(name) % 40)
        label = html.escape(name)
        out.append(f'<g><title>{label} ({n} samples, {n / total:.1%})</title>'
                   f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                   f'fill="hsl({hue},90%,60%)"/>')
        if w > 40:
            chars = int(w / 7)
            text = name if len(name) <= chars else name[: max(0, chars - 2)] + ".."
            out.append(f'<text x="{x + 2:.1f}" y="{y + row - 4}">{html.escape(text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--title", default="corq")
    parser.add_argument("--folded", action="store_true", help="print folded stacks, not an SVG")
    args = parser.parse_args()
    stacks = fold(sys.stdin)
    if not stacks:
        print("flamegraph: no samples with call chains in the input (perf record -g?)",
              file=sys.stderr)
        return 1
    if args.folded:
        for stack, n in stacks.most_common():
            print(";".join(stack), n)
    else:
        print(svg(stacks, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
