"""How results are shown, the same way by every experiment: figures with their provenance, TeX tables
and values, numbers and method names as the paper prints them, and the words on anything not made
from the paper's data."""
import json
import re

from job import atomic_write


def save_figure(fig, pdf, png, prov):
    """The figure as PDF (for LaTeX) and PNG (for the README), each with the provenance in its metadata."""
    record = json.dumps(prov)
    with atomic_write(pdf, "wb") as f:
        fig.savefig(f, format="pdf", metadata={"Subject": record})
    with atomic_write(png, "wb") as f:
        fig.savefig(f, format="png", dpi=150, metadata={"provenance": record})


NOT_PAPER_DATA = "not the paper's data"


def data_note(what):
    """The words on every table and figure made from anything but the paper's data."""
    return f"{NOT_PAPER_DATA} ({what}): a plumbing check, not a result"


def data_mark(paper_data):
    """What follows a quoted number in the text: nothing on the paper's data, else the same words."""
    return "" if paper_data else f" [{NOT_PAPER_DATA}]"


def tex_number(x, digits=3):
    """x for LaTeX, in text or in math: 0.0123 → 0.0123, 1.5e-05 → 1.5\\times10^{-5} (\\ensuremath)."""
    mantissa, exponent = f"{x:.{digits}g}".partition("e")[::2]
    return f"\\ensuremath{{{mantissa}\\times10^{{{int(exponent)}}}}}" if exponent else f"\\ensuremath{{{mantissa}}}"


def plural(count, noun):
    """'1 seed', '3 seeds'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def column_count(align):
    """The columns of a tabular preamble: "lrr" is 3, ">{\\raggedright}p{2cm}l" is 2 (groups in braces are not columns)."""
    while "{" in align:
        align = re.sub(r"\{[^{}]*\}", "", align)
    return sum(char.isalpha() for char in align)


def tex_table(align, header, rows, note=None, environment="tabular"):
    """A booktabs table (``environment`` tabular, or longtable across pages): the ``header`` lines (each ending
    in \\\\), then each row of cells (None: a rule between groups), then ``note`` in italics across the table (a
    list: one line each; a note line does not wrap)."""
    head = [r"\toprule", *header, r"\midrule"] + ([r"\endhead"] if environment == "longtable" else [])
    lines = [rf"\begin{{{environment}}}{{{align}}}", *head]
    lines += [r"\midrule" if row is None else " & ".join(map(str, row)) + r" \\" for row in rows]
    notes = [note] if isinstance(note, str) else [line for line in note or [] if line]  # one line each (no wrap)
    if notes:
        lines += [r"\midrule", *(rf"\multicolumn{{{column_count(align)}}}{{l}}{{\footnotesize\emph{{{line}}}}} \\"
                                  for line in notes)]
    return "\n".join(lines + [r"\bottomrule", rf"\end{{{environment}}}", ""])


def tex_values(values):
    """``\\defval{key}{value}`` lines for the paper's ``\\val{key}``."""
    return "".join(f"\\defval{{{key}}}{{{value}}}\n" for key, value in values.items())


def method_label(spec):
    """Display name of a method spec {lmo: ..., options}: "F-Muon α=0.5", "4-Fanion", a user LMO's label (its
    register_lmo(label=...), else its name)."""
    names = {"nsgd": "NSGD", "sign": "SignSGD", "muon": "Muon", "neon": "Neon", "fanion": "Fanion",
             "schatten": "Schatten", "lp": "lp"}
    lmo = spec["lmo"]
    prefix, _, base = lmo.partition("-") if lmo[:2] in ("f-", "s-") else ("", "", lmo)
    if base in names:
        label = names[base]
    else:
        import fanions  # a user's LMO: the jobs that draw it have registered it
        label = getattr(fanions.LMOS.get(base), "label", "") or base
    if "k" in spec:
        label = f"{spec['k']}-{label}"
    if "p" in spec:
        label = f"{label} p={spec['p']:g}"
    if prefix:
        label = f"{prefix.upper()}-{label} α={spec.get('alpha', 0.5):g}"
    if "sign_lr_coeff" in spec:
        label = f"{label} η={spec['sign_lr_coeff']:g}"
    return label


TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text):
    """Text for TeX as it reads (a user's LMO may be named scaled_cols)."""
    return "".join(TEX_SPECIAL.get(char, char) for char in text)


def distinct_labels(ids, labels):
    """Each method's label, followed by its id where another method has the same one (two methods that differ
    in an option a label does not show, a user LMO's own, say, are never drawn or tabled as one)."""
    ids, labels = list(ids), list(labels)
    shared = {label for label in labels if len({i for i, other in zip(ids, labels) if other == label}) > 1}
    return [f"{label} [{id_}]" if label in shared else label for id_, label in zip(ids, labels)]


def tex_label(label):
    """A method label for TeX: "S-Muon α=0.5 η=0.01" → "S-Muon $\\alpha=0.5$ $\\eta=0.01$", the rest escaped."""
    label = re.sub(r"α=(\S+)", r"$\\alpha=\1$", tex_escape(label))
    return re.sub(r"η=(\S+)", r"$\\eta=\1$", label)
