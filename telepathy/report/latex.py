"""Compiling the generated .tex tables into one PDF with pdflatex (the tests compile every
table this way, so a table that LaTeX rejects fails before a paper build does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def compile_pdf(document: Path, pdf: Path) -> None:
    """pdflatex `document` (twice: longtable widths settle on the second pass) into `pdf`."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise RuntimeError(
            "pdflatex not found; install a minimal TeX (Debian: texlive-latex-base "
            "texlive-latex-recommended; `make tex`) or build the `all_paper_tables` target, "
            "which does not compile"
        )
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(2):
            done = subprocess.run(
                [
                    pdflatex,
                    "-interaction=nonstopmode",
                    "-halt-on-error",
                    "-output-directory",
                    tmp,
                    document.name,
                ],
                check=False,
                cwd=document.parent,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                errors = [line for line in done.stdout.splitlines() if line.startswith("!")]
                raise RuntimeError(
                    f"pdflatex failed on {document}: {'; '.join(errors) or done.stdout[-2000:]}"
                )
        built = Path(tmp) / (document.stem + ".pdf")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        staged = pdf.with_name(f".{pdf.name}.tmp")
        shutil.copyfile(built, staged)
        os.replace(staged, pdf)
