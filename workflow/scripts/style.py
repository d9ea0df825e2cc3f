"""The one plotting style of the paper's figures: seaborn's paper context, one colour per method."""
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

WIDTH = 6.5  # inches: the paper's text width (letter paper, 1-inch margins)
sns.set_theme(context="paper", style="whitegrid", font_scale=0.9,
              rc={"pdf.fonttype": 42, "axes.titlesize": "medium", "legend.frameon": False})


def colors(labels):
    """A fixed colour per label, in the order given (so a method keeps its colour across panels)."""
    return dict(zip(labels, sns.color_palette("tab10", len(labels))))


def figure(rows, cols, height=2.0, width=1.0, **kwargs):
    """A figure drawn at the size it is printed: ``width`` is its share of the text width in the paper
    (\\includegraphics[width=<width>\\textwidth]), so every label keeps its point size on the page."""
    return plt.subplots(rows, cols, figsize=(WIDTH * width, height * rows), squeeze=False, constrained_layout=True,
                        **kwargs)


def note(fig, text):
    """A red note above the panels, wrapped to the figure's width: what a figure not made from the paper's
    data says (common.data_note)."""
    fig.suptitle(textwrap.fill(text, int(15 * fig.get_figwidth())), color="red", fontsize="small")
