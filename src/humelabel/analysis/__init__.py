"""Evidence about labelings: metrics, baselines, the correlation analysis, plots, reports."""
