#!/usr/bin/env python3
"""Summarizes what qopt-run drew on a terminal (a script(1) transcript).

  check_tty_progress.py FILE

Splits the transcript at carriage returns and prints, one per line, the
progress displays it saw ("compiling MODEL ..." and "bench [") followed by
"erased" when the display was erased ("\\r\\033[K") before the next line of
ordinary output, then the ordinary output lines. A display left on screen
prints "left on screen" instead, for FileCheck to catch.
"""

import re
import sys

ERASE = "\r\x1b[K"


def main():
    text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
    text = text.replace("\r\n", "\n")
    shown = []
    pos = 0
    while True:
        start = text.find("\r", pos)
        if start < 0:
            break
        end = text.find(ERASE, start + 1)
        redraw = text[start:end if end >= 0 else len(text)]
        for label in ("compiling ", "bench ["):
            if label in redraw and label not in shown:
                shown.append(label)
                newline = text.find("\n", start)
                erased = end >= 0 and (newline < 0 or end < newline)
                label_text = label.strip()
                if label == "compiling ":
                    label_text = re.search(r"compiling [^ ]* \.\.\.",
                                           redraw).group(0)
                print(label_text + (" erased" if erased else
                                    " left on screen"))
        if end < 0:
            break
        pos = end + len(ERASE)
    for line in text.replace(ERASE, "\n").split("\n"):
        line = line.split("\r")[-1].strip()
        if line.startswith("|"):
            print(line)


if __name__ == "__main__":
    main()
