#!/usr/bin/env python3
"""content.py OUTDIR FILE.md...: copies each document into OUTDIR for
gi-docgen, which takes a document's title from a "Title:" line at its top:
the first "# " heading becomes that line."""
import os
import sys

out_dir = sys.argv[1]
for path in sys.argv[2:]:
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    title = os.path.basename(path)
    for i, line in enumerate(lines):
        if line.startswith("# "):
            title = line[2:].strip()
            del lines[i]
            break
    with open(os.path.join(out_dir, os.path.basename(path)), "w", encoding="utf-8") as f:
        f.write("Title: " + title + "\n\n" + "".join(lines))
