"""The report: runs.csv rows (report.storage) read into one frame (report.frame), analysed, and
rendered as each folder's summary.md, ratios.csv and plots, results/README.md and README.md's
headline block (`python -m report`)."""
