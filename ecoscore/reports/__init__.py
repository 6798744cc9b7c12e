"""What a reader sees: the eco-score label (SVG/PNG), the HTML report, the Pareto plot and
the tables (Markdown, LaTeX, CSV) of a comparison."""
